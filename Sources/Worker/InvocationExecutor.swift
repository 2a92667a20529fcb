import FanbenchBase
import FanbenchProtocol
import FanbenchS3
import Foundation
import NIOConcurrencyHelpers

/// Runs one assigned invocation and says how it went. One protocol so that other runners
/// (e.g. unmodified Lambda handlers behind the Runtime API) can take the S3 executor's place.
package protocol InvocationExecutor: Sendable {
    /// Runs `assign`, which arrived (its keys read) at monotonic `receivedNs`; `progress` is
    /// bumped per finished call. Returns `.result` or `.failed`.
    func run(_ assign: Assign, receivedNs: UInt64, progress: NIOLockedValueBox<Int>) async -> Message
    func shutdown() async
}

extension InvocationExecutor {
    /// Runs `assign` as just received.
    package func run(_ assign: Assign, progress: NIOLockedValueBox<Int>) async -> Message {
        await run(assign, receivedNs: monotonicNanoseconds(), progress: progress)
    }
}

/// The built-in executor: the per-key S3 calls with a strategy, clients kept warm across
/// invocations as a Lambda's module-level client is (their creation is not timed).
package final class S3InvocationExecutor: InvocationExecutor {
    private let environment: [String: String]
    private let runners = NIOLockedValueBox<[String: CallRunner]>([:])
    /// Where the throttled time is read, found once (not per invocation).
    private let throttle: CgroupReader.ThrottleSource?
    /// Monotonic ns at which this process was spawned, for a cold start's init duration
    /// (spawn to clients ready, as Lambda's Init Duration); nil for warm workers.
    private let pendingSpawn: NIOLockedValueBox<UInt64?>

    package init(environment: [String: String] = ProcessInfo.processInfo.environment, cgroup: CgroupReader = CgroupReader(), coldSpawnNanoseconds: UInt64? = nil) {
        self.environment = environment
        throttle = cgroup.throttleSource()
        pendingSpawn = NIOLockedValueBox(coldSpawnNanoseconds)
    }

    package func run(_ assign: Assign, receivedNs: UInt64, progress: NIOLockedValueBox<Int>) async -> Message {
        func failed(_ reason: String) -> Message { .failed(Failed(invocationId: assign.invocationId, reason: reason)) }
        guard let op = ObjectOperation(rawValue: assign.op) else { return failed("unknown op '\(assign.op)'") }
        let strategy: Strategy
        do {
            strategy = try Strategy(name: assign.strategy, concurrency: assign.concurrency)
        } catch {
            return failed(error.message)
        }
        let runner: CallRunner
        do {
            runner = try self.runner(for: assign, strategy: strategy)
        } catch {
            return failed(FanbenchError.from(error).message)
        }
        let spawn = pendingSpawn.withLockedValue { v -> UInt64? in defer { v = nil }; return v }
        let cpu0 = processCPUMicroseconds()
        let throttled0 = throttle?.throttledMs() ?? 0
        let t0 = monotonicNanoseconds()
        let initMs = spawn.map { Double(t0 &- $0) / 1e6 }
        var listMs: Double?
        var listedNs: UInt64 = 0
        let keys: [String]
        if let given = assign.keys {
            keys = given
        } else {
            do {
                keys = try await runner.list(bucket: assign.target.bucket, prefix: assign.list?.prefix).objects.map(\.key)
                listedNs = monotonicNanoseconds() - t0
                listMs = Double(listedNs) / 1e6
            } catch {
                return failed("listing failed: \(FanbenchError.from(error).message)")
            }
        }
        let recorder = await runner.run(op, bucket: assign.target.bucket, keys: keys, progress: progress)
        let durationMs = Double(monotonicNanoseconds() - t0) / 1e6
        let cpu1 = processCPUMicroseconds()
        var result = InvocationResult(
            invocationId: assign.invocationId, durationMs: durationMs, initMs: initMs, listMs: listMs,
            calls: recorder.calls, errors: recorder.errors, retries: recorder.retries, histogram: recorder.snapshot(),
            maxMemoryBytes: maxResidentBytes(), cpuMs: Double(cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1000,
            throttledMs: max(0, (throttle?.throttledMs() ?? 0) - throttled0), callSpansUs: recorder.spanOffsetsUs(from: t0))
        // A listing (seed mode) is the invocation's own work, not overhead.
        if let first = recorder.firstStartNs, let last = recorder.lastEndNs {
            let sinceReceived = first &- min(first, receivedNs)
            let before = sinceReceived - min(listedNs, sinceReceived)
            let ready = monotonicNanoseconds()
            result.workerOverheadUs = [UInt32(clamping: before / 1000), UInt32(clamping: (ready &- min(last, ready)) / 1000)]
        }
        return .result(result)
    }

    package func shutdown() async {
        let all = runners.withLockedValue { r -> [CallRunner] in defer { r = [:] }; return Array(r.values) }
        for r in all { await r.shutdown() }
    }

    private func runner(for assign: Assign, strategy: Strategy) throws -> CallRunner {
        let key = "\(strategy)|\(assign.target.endpoint)|\(assign.target.pathStyle)|\(assign.target.region)|\(assign.target.caBundle ?? "")|\(assign.timeouts.connectMs)|\(assign.timeouts.requestMs)|\(assign.retry.maxAttempts)"
        if let existing = runners.withLockedValue({ $0[key] }) { return existing }
        var config = try S3ClientConfiguration.fromEnvironment(environment, overrides: .init(
            endpoint: assign.target.endpoint, region: assign.target.region, caBundlePath: assign.target.caBundle,
            addressing: assign.target.pathStyle ? .path : .virtualHosted))
        config.connectTimeout = .milliseconds(assign.timeouts.connectMs)
        config.requestTimeout = .milliseconds(assign.timeouts.requestMs)
        config.retry.maxAttempts = max(1, assign.retry.maxAttempts)
        let runner = try CallRunner(strategy: strategy, configuration: config)
        runners.withLockedValue { $0[key] = runner }
        return runner
    }
}
