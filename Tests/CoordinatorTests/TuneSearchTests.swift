import FanbenchBase
@testable import FanbenchCoordinator
import FanbenchProtocol
import FanbenchReport
import Foundation
import Synchronization
import Testing

/// The search on its own, over a made-up curve: duration = waves of 16 ms + CPU that grows with N.
@Suite struct TuneSearchTests {
    static func config(n: Int, meanMs: Double, keys: Int = 100) -> RunReport.Config {
        let size = try! LambdaSize(memoryMB: 1024)
        var a = ConfigAggregate(config: ConfigSpec(index: 0, size: size, strategy: .async(n)))
        for (i, wiggle) in [-0.01, 0.0, 0.01, 0.005, -0.005].enumerated() {
            a.add(InvocationResult(invocationId: "\(n)-\(i)", durationMs: meanMs * (1 + wiggle), calls: keys, errors: [:], retries: 0,
                                   histogram: HistogramSnapshot(counts: [[16_000, UInt64(keys)]]), maxMemoryBytes: 1 << 20, cpuMs: 1, throttledMs: 0),
                  limits: WorkerLimits(cpu: size.cpu, memoryBytes: size.memoryBytes, cgroup: "v1"))
        }
        var r = RunReport(runId: "r", fanbenchVersion: "t", status: "complete", startedAt: Date(), finishedAt: nil, host: .init(cores: 2, cgroup: "v1"),
                          target: .init(endpoint: "e", bucket: "b", prefix: nil, op: "get-object-acl", emulation: nil),
                          plan: .init(sizes: [1024], strategies: ["async:\(n)"], invocations: 5, listing: "coordinator", workers: "local", cold: false, oversubscribedSizes: []),
                          configs: [RunReport.config(from: a)])
        r.derive()
        return r.configs[0]
    }

    static func curve(_ n: Int) -> Double { Double((100 + n - 1) / n) * 16 + Double(n) * 2 }

    @Test func doublesUntilAStepStopsHelpingThenRefinesAndFindsTheKnee() async throws {
        let asked = Mutex<[Int]>([])
        let found = try await TuneSearch(goal: .duration, maxConcurrency: 256).run(memoryMb: 1024, label: "async") { n in
            asked.withLock { $0.append(n) }
            return (Self.config(n: n, meanMs: Self.curve(n)), "run-\(n)")
        }
        // 1600, 816, 408, 216, 128, 120 (32), 192 (64): 64 is worse, so the doubling stops; midpoints 24 and 48.
        #expect(asked.withLock { $0 } == [1, 2, 4, 8, 16, 32, 64, 24, 48])
        #expect(found.best == "async:24" && found.bestConcurrency == 24)
        #expect(found.curve.map(\.concurrency) == [1, 2, 4, 8, 16, 24, 32, 48, 64])
        #expect(found.kneeConcurrency <= found.bestConcurrency)
        #expect(found.stoppedBecause.contains("async:64 was not a significant improvement on async:32"))
        #expect(found.curve.first { $0.concurrency == 2 }?.verdict == "better than 1")
    }

    @Test func neverGoesPastTheKeysAnInvocationCalls() async throws {
        let found = try await TuneSearch(goal: .duration, maxConcurrency: 256).run(memoryMb: 1024, label: "async") { n in
            (Self.config(n: n, meanMs: 1000 / Double(n), keys: 6), "run-\(n)")
        }
        #expect(found.curve.map(\.concurrency).max() == 6 && found.best == "async:6")
        #expect(found.stoppedBecause == "reached the cap of 6")
    }

    @Test func costPicksWhatIsCheapestNotFastest() async throws {
        // Faster with more in flight, but each step costs more CPU time billed: cost falls then rises.
        let found = try await TuneSearch(goal: .cost, maxConcurrency: 64).run(memoryMb: 1024, label: "threads") { n in
            (Self.config(n: n, meanMs: Self.curve(n)), "run-\(n)")
        }
        #expect(found.bestConcurrency == 24)
        #expect(throws: FanbenchError.self) { try TuneSession.strategy("serial", 4) }
    }
}
