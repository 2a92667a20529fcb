import Dispatch
import FanbenchBase
import FanbenchProtocol
import FanbenchReport
import FanbenchStore
import Foundation
import Synchronization

/// Writes the run into the store as it happens, off the dispatch path: every write goes to one
/// serial queue, in the order the coordinator produced it, so a slow disk never holds up an
/// assignment. A failed write is reported once and the run goes on: its report is still
/// printed and written, and what did reach the store stays. `finish` waits for every write.
package final class RunRecorder: Sendable {
    package let store: RunStore
    package let runID: String
    private let state = Mutex((began: false, failures: 0))
    private let queue = DispatchQueue(label: "fanbench.run-recorder")

    package init(store: RunStore, runID: String) {
        self.store = store
        self.runID = runID
    }

    package var began: Bool { state.withLock { $0.began } }
    package var failures: Int { state.withLock { $0.failures } }

    package func begin(_ header: RunReport, configs: [ConfigSpec], plannedInvocations: Int) {
        state.withLock { $0.began = true }
        enqueue { [store] in try store.begin(header, configs: configs, plannedInvocations: plannedInvocations) }
    }

    package func record(configIndex: Int, _ result: InvocationResult, _ limits: WorkerLimits, _ worker: String) {
        enqueue { [store, runID] in try store.record(runID: runID, configIndex: configIndex, result: result, limits: limits, workerID: worker) }
    }

    package func attempt(_ a: RunReport.Attempt) {
        enqueue { [store, runID] in try store.recordAttempt(runID: runID, a) }
    }

    package func abandoned(configIndex: Int, invocation: String, reason: String) {
        enqueue { [store, runID] in try store.recordAbandoned(runID: runID, configIndex: configIndex, invocationID: invocation, reason: reason) }
    }

    package func counters(_ index: Int, _ failed: Int, _ reassigned: Int) {
        enqueue { [store, runID] in try store.updateCounters(runID: runID, configIndex: index, failed: failed, reassigned: reassigned) }
    }

    /// Closes the run after every queued write; returns once it is on disk.
    package func finish(status: String, error: String? = nil, plan: RunReport.Plan? = nil, finishedAt: Date? = nil) {
        guard began else { return }
        enqueue { [store, runID] in try store.finish(runID: runID, status: status, error: error, plan: plan, finishedAt: finishedAt) }
        queue.sync {}
    }

    private func enqueue(_ body: @escaping @Sendable () throws -> Void) {
        queue.async { [self] in
            do {
                try body()
            } catch {
                let first = state.withLock { s -> Bool in
                    s.failures += 1
                    return s.failures == 1
                }
                if first {
                    FileHandle.standardError.write(Data("fanbench: warning: cannot write to the run database \(store.path): \(error); the run goes on and its report is still printed\n".utf8))
                }
            }
        }
    }
}
