import NIOConcurrencyHelpers

/// Messages from any thread (event loops, a process's waiter) to one receiver that waits for
/// the next with a deadline. No polling: the receiver sleeps on a continuation.
package final class Mailbox<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var waiter: CheckedContinuation<Item?, Never>?
        var waiterID = 0
    }

    private let state = NIOLockedValueBox(State())

    package init() {}

    package func post(_ item: Item) {
        let waiter = state.withLockedValue { s -> CheckedContinuation<Item?, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.items.append(item)
            return nil
        }
        waiter?.resume(returning: item)
    }

    /// The next item, or nil once `deadline` passes first (never, when nil). One receiver at a time.
    package func receive(until deadline: ContinuousClock.Instant?) async -> Item? {
        let id = state.withLockedValue { s -> Int in
            s.waiterID += 1
            return s.waiterID
        }
        let timer = deadline.map { deadline in
            Task { [state] in
                try? await Task.sleep(until: deadline, clock: .continuous)
                let waiter = state.withLockedValue { s -> CheckedContinuation<Item?, Never>? in
                    guard s.waiterID == id, let w = s.waiter else { return nil }
                    s.waiter = nil
                    return w
                }
                waiter?.resume(returning: nil)
            }
        }
        defer { timer?.cancel() }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Item?, Never>) in
            let ready = state.withLockedValue { s -> Item?? in
                if !s.items.isEmpty { return .some(s.items.removeFirst()) }
                if let deadline, deadline <= .now { return .some(nil) }
                s.waiter = continuation
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Drops whatever is waiting to be received.
    package func drain() {
        state.withLockedValue { $0.items.removeAll() }
    }
}
