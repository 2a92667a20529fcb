import Dispatch
import FanbenchBase
import FanbenchProtocol
import FanbenchReport
import FanbenchStore
import Foundation
import NIOConcurrencyHelpers

/// Writes the run into the store as it happens, off the dispatch path: every write goes to one
/// serial queue, in the order the coordinator produced it, so a slow disk never holds up an
/// assignment. Writes that arrive while the queue is busy wait in `pending` and go in together,
/// one transaction per batch (at most `maxBatch`): at thousands of results a second a
/// transaction each was most of the store's cost. A failed write is reported once and the run
/// goes on: its report is still printed and written, and what did reach the store stays.
/// `finish` waits for every write.
package final class RunRecorder: Sendable {
    package let store: RunStore
    package let runID: String
    private let state = NIOLockedValueBox((began: false, failures: 0))
    private let queue = DispatchQueue(label: "fanbench.run-recorder")
    /// Writes not yet applied, in order, and whether a drain is already queued for them.
    private let pending = NIOLockedValueBox((writes: [RunStore.Write](), drainQueued: false))
    package static let maxBatch = 1000

    package init(store: RunStore, runID: String) {
        self.store = store
        self.runID = runID
    }

    package var began: Bool { state.withLockedValue { $0.began } }
    package var failures: Int { state.withLockedValue { $0.failures } }

    package func begin(_ header: RunReport, configs: [ConfigSpec], plannedInvocations: Int, recipe: String? = nil) {
        state.withLockedValue { $0.began = true }
        enqueue { [store] in try store.begin(header, configs: configs, plannedInvocations: plannedInvocations, recipe: recipe) }
    }

    /// Continues the stored run (`fanbench resume`): its row is this process's again.
    package func reopen() {
        state.withLockedValue { $0.began = true }
        enqueue { [store, runID] in try store.reopen(runID) }
    }

    package func record(configIndex: Int, _ result: InvocationResult, _ limits: WorkerLimits, _ worker: String) {
        batch(.result(configIndex: configIndex, result, limits, worker: worker))
    }

    package func attempt(_ a: RunReport.Attempt) {
        batch(.attempt(a))
    }

    package func abandoned(configIndex: Int, invocation: String, reason: String) {
        batch(.abandoned(configIndex: configIndex, invocation: invocation, reason: reason))
    }

    package func counters(_ index: Int, _ failed: Int, _ reassigned: Int) {
        batch(.counters(configIndex: index, failed: failed, reassigned: reassigned))
    }

    /// Closes the run after every queued write; returns once it is on disk.
    package func finish(status: String, error: String? = nil, plan: RunReport.Plan? = nil, finishedAt: Date? = nil, emulation: RunReport.Emulation? = nil) {
        guard began else { return }
        enqueue { [store, runID] in try store.finish(runID: runID, status: status, error: error, plan: plan, finishedAt: finishedAt, emulation: emulation) }
        queue.sync {}
    }

    /// Queues `write` behind those pending; the first of a batch queues the drain that applies them.
    private func batch(_ write: RunStore.Write) {
        let queueDrain = pending.withLockedValue { p -> Bool in
            p.writes.append(write)
            let first = !p.drainQueued
            p.drainQueued = true
            return first
        }
        guard queueDrain else { return }
        queue.async { [self] in
            while true {
                let writes = pending.withLockedValue { p -> [RunStore.Write] in
                    let n = min(p.writes.count, Self.maxBatch)
                    let taken = Array(p.writes.prefix(n))
                    p.writes.removeFirst(n)
                    if p.writes.isEmpty { p.drainQueued = false }
                    return taken
                }
                if writes.isEmpty { return }
                perform { [store, runID] in try store.apply(runID: runID, writes) }
            }
        }
    }

    private func enqueue(_ body: @escaping @Sendable () throws -> Void) {
        queue.async { [self] in perform(body) }
    }

    /// Runs one write on the queue; the first failure is reported.
    private func perform(_ body: () throws -> Void) {
        do {
            try body()
        } catch {
            let first = state.withLockedValue { s -> Bool in
                s.failures += 1
                return s.failures == 1
            }
            if first {
                FileHandle.standardError.write(Data("fanbench: warning: cannot write to the run database \(store.path): \(error); the run goes on and its report is still printed\n".utf8))
            }
        }
    }
}
