import FanbenchBase
import FanbenchProtocol
import Foundation
import NIOConcurrencyHelpers

/// The Runtime API's own cost per invocation: a handler that answers at once is sent `n`
/// warm events by a `FunctionExecutor` in this process; each Duration is event out (the `/next`
/// answer written) → response in, and this process's CPU — the worker's side, not the
/// handler's — is divided by `n`.
package enum RuntimeAPIBenchmark {
    package struct Figures: Codable, Sendable {
        package var invocations: Int
        package var errors: Int
        package var p50Ms: Double
        package var p99Ms: Double
        package var meanMs: Double
        package var maxMs: Double
        package var initMs: Double?
        package var workerCpuUsPerInvocation: Double
        /// The first failure, type and message, when any.
        package var firstError: String?
    }

    package static func run(_ definition: FunctionDefinition, invocations n: Int, sizeMB: Int, warmup: Int = 20,
                            logDirectory: String) async -> Figures {
        let executor = FunctionExecutor(options: .init(sizeMB: sizeMB, logDirectory: logDirectory))
        func assign(_ i: Int) -> Assign {
            Assign(invocationId: "bench-\(i)", op: "head-object", strategy: "function", concurrency: 1, keys: [], list: nil,
                   target: TargetSpec(endpoint: "http://127.0.0.1:9", bucket: "bench", region: "us-east-1", pathStyle: true),
                   function: definition)
        }
        var initMs: Double?
        var errors = 0
        var firstError: String?
        /// One invocation; its result when it did not fail.
        func invoke(_ i: Int) async -> InvocationResult? {
            switch await executor.run(assign(i), progress: NIOLockedValueBox(0)) {
            case .result(let r) where r.functionError == nil:
                return r
            case .result(let r):
                firstError = firstError ?? "\(r.functionError!.type): \(r.functionError!.message)"
            case .failed(let f):
                firstError = firstError ?? f.reason
            default:
                break
            }
            errors += 1
            return nil
        }
        for i in 0..<warmup {
            if let r = await invoke(i) { initMs = initMs ?? r.initMs }
        }
        var durations: [Double] = []
        durations.reserveCapacity(n)
        let cpu0 = processCPUMicroseconds()
        for i in 0..<n {
            if let r = await invoke(warmup + i) { durations.append(r.durationMs) }
        }
        let cpu1 = processCPUMicroseconds()
        await executor.shutdown()
        let cpuUs = Double(cpu1.user + cpu1.system - cpu0.user - cpu0.system)
        return Figures(invocations: durations.count, errors: errors, p50Ms: Stats.percentile(durations, 50), p99Ms: Stats.percentile(durations, 99),
                       meanMs: Stats.mean(durations), maxMs: durations.max() ?? 0, initMs: initMs,
                       workerCpuUsPerInvocation: n > 0 ? cpuUs / Double(n) : 0, firstError: firstError)
    }
}
