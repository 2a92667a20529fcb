import FanbenchCore
import FanbenchProtocol
import Foundation
import Synchronization

/// Writes the run into the store as it happens. A failed write is reported once and the run
/// goes on: its report is still printed and written, and what did reach the store stays.
public final class RunRecorder: Sendable {
    public let store: RunStore
    public let runID: String
    private let state = Mutex((began: false, failures: 0))

    public init(store: RunStore, runID: String) {
        self.store = store
        self.runID = runID
    }

    public var began: Bool { state.withLock { $0.began } }
    public var failures: Int { state.withLock { $0.failures } }

    public func begin(_ header: RunReport, plan: RunPlan) {
        attempt { try store.begin(header, configs: plan.configs, plannedInvocations: plan.invocations.count) }
        state.withLock { $0.began = true }
    }

    public func record(_ spec: InvocationSpec, _ result: InvocationResult, _ limits: WorkerLimits, _ worker: String) {
        attempt { try store.record(runID: runID, configIndex: spec.config.index, result: result, limits: limits, workerID: worker) }
    }

    public func counters(_ index: Int, _ failed: Int, _ reassigned: Int) {
        attempt { try store.updateCounters(runID: runID, configIndex: index, failed: failed, reassigned: reassigned) }
    }

    public func finish(status: String, error: String? = nil, plan: RunReport.Plan? = nil) {
        guard began else { return }
        attempt { try store.finish(runID: runID, status: status, error: error, plan: plan) }
    }

    private func attempt(_ body: () throws -> Void) {
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
