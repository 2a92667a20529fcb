import FanbenchBase
import Foundation
import NIOConcurrencyHelpers

/// One live progress line on a terminal; plain lines (on change, at most every 5 s) otherwise.
final class ProgressLine: Sendable {
    private let isTTY = isatty(STDERR_FILENO) == 1
    private let state = NIOLockedValueBox<(start: UInt64, lastDone: Int, lastPrint: UInt64, shown: Bool)>((monotonicNanoseconds(), -1, 0, false))

    func update(_ s: RunCoordinator.Snapshot) {
        let now = monotonicNanoseconds()
        let line: String? = state.withLockedValue { st in
            let elapsed = Double(now - st.start) / 1e9
            let eta = s.done > 0 ? elapsed / Double(s.done) * Double(s.total - s.done) : 0
            let text = "[\(s.done)/\(s.total) invocations] \(s.current) · \(s.workers) worker\(s.workers == 1 ? "" : "s") · errors \(s.errors) · ETA \(Self.format(eta))"
            if isTTY {
                st.shown = true
                return "\r\u{1B}[K" + text
            }
            guard s.done != st.lastDone, now - st.lastPrint > 5_000_000_000 || s.done == s.total else { return nil }
            st.lastDone = s.done
            st.lastPrint = now
            return text + "\n"
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    func finish() {
        if state.withLockedValue({ $0.shown }) { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func format(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}

/// Runs `body`; SIGINT/SIGTERM cancel it (so its defers clean up) instead of killing the
/// process. Returns nil when a signal ended it: the caller says what that means.
func withInterruptCleanup<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    let task = Task { try await body() }
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let sources = [SIGINT, SIGTERM].map { sig -> any DispatchSourceSignal in
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { task.cancel() }
        source.resume()
        return source
    }
    defer { sources.forEach { $0.cancel() } }
    do {
        return try await task.value
    } catch is CancellationError {
        return nil
    }
}
