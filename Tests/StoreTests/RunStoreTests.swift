import FanbenchBase
import FanbenchProtocol
import FanbenchReport
@testable import FanbenchStore
import Foundation
import GRDB
import Testing

/// The run store on real SQLite files.
@Suite struct RunStoreTests {
    func tempDB() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("fb-store-\(getpid())-\(UInt32.random(in: 0...UInt32.max))/runs.db").path
    }

    /// A planned run of 128 and 1024 MB × serial, async:8, and the results it received in order.
    /// The store's view of a plan: its configurations and every planned invocation.
    struct SamplePlan {
        typealias Invocation = (id: String, config: ConfigSpec)
        var configs: [ConfigSpec]
        var invocations: [Invocation]
    }

    func sampleRun(id: String) throws -> (RunReport, SamplePlan, [(SamplePlan.Invocation, InvocationResult, WorkerLimits)]) {
        var configs: [ConfigSpec] = []
        for mb in [128, 1024] {
            for strategy in [Strategy.serial, .async(8), .function("py")] { configs.append(ConfigSpec(index: configs.count, size: try LambdaSize(memoryMB: mb), strategy: strategy)) }
        }
        // 3 repetitions × 2 shards of 5 keys each, as `run --invocations 3 --shard-size 5` over 10 keys plans it.
        let plan = SamplePlan(configs: configs, invocations: configs.flatMap { c in
            (0..<3).flatMap { r in (0..<2).map { s in (id: "c\(c.index)-r\(r)-s\(s)", config: c) } }
        })
        let header = RunReport(
            runId: id, fanbenchVersion: "test", status: "running", startedAt: Date(timeIntervalSince1970: 1_764_000_000), finishedAt: nil,
            host: .init(cores: 2, cgroup: "v1"),
            target: .init(endpoint: "https://127.0.0.1:1", bucket: "b", prefix: "p/", op: "get-object-acl",
                          emulation: .init(profile: "lambda-same-region", rttMs: 16, jitter: "lognormal:0.2", tls: true)),
            plan: .init(sizes: [128, 1024], strategies: ["serial", "async:8", "function:py"], invocations: 3, shardSize: 5, listing: "coordinator",
                        keys: 10, workers: "local (v1)", cold: false, oversubscribedSizes: []),
            configs: [])
        var results: [(SamplePlan.Invocation, InvocationResult, WorkerLimits)] = []
        for (n, spec) in plan.invocations.enumerated() {
            let limits = WorkerLimits(cpu: spec.config.size.cpu, memoryBytes: spec.config.size.memoryBytes, cgroup: "v1")
            let counts: [[UInt64]] = [[UInt64(16_000 + n * 37), 3], [UInt64(40_000 + n), 2]]
            var result = InvocationResult(invocationId: spec.id, durationMs: 80.123 + Double(n) * 1.7, calls: 5,
                                          errors: n % 5 == 0 ? ["SlowDown": 1] : [:], retries: n % 3,
                                          histogram: HistogramSnapshot(counts: counts), maxMemoryBytes: Int64(40 + n) << 20,
                                          cpuMs: 3.3 * Double(n), throttledMs: 0.5,
                                          callSpansUs: [[0, 16_000], [UInt32(n) * 10, 40_000]],
                                          workerOverheadUs: [UInt32(100 + n), UInt32(40 + 2 * n)])
            if spec.config.strategy.functionName != nil {
                // A function's own calls are unknown; some invocations fail as Lambda names it.
                result = InvocationResult(invocationId: spec.id, durationMs: 300 + Double(n), initMs: n % 6 == 0 ? 420 : nil, calls: 0, errors: [:],
                                          retries: 0, histogram: HistogramSnapshot(counts: []), maxMemoryBytes: 70 << 20, cpuMs: 40,
                                          throttledMs: 2, callsMeasured: false,
                                          functionError: n % 4 == 0 ? FunctionError(type: "Runtime.ExitError", message: "signal: killed") : nil,
                                          billedMs: n % 2 == 0 ? 777 + Double(n) : nil)  // half as a REPORT line billed them
            }
            results.append((spec, result, limits))
        }
        return (header, plan, results)
    }

    @Test func aStoredRunRebuildsTheSameReport() throws {
        let path = tempDB()
        let store = try RunStore(path: path)
        let (header, plan, results) = try sampleRun(id: "run-a")
        try store.begin(header, configs: plan.configs, plannedInvocations: plan.invocations.count)
        var aggregates = plan.configs.map(ConfigAggregate.init(config:))
        // Results arrive out of plan order; the store replays them in arrival order. The first
        // half goes in one write each, the rest in one batch with the other writes, as the
        // recorder sends them when they queue up.
        let arrived = Array(results.reversed())
        for (spec, result, limits) in arrived {
            aggregates[spec.config.index].add(result, limits: limits)
        }
        for (spec, result, limits) in arrived.prefix(arrived.count / 2) {
            try store.apply(runID: "run-a", [.result(configIndex: spec.config.index, result, limits, worker: "w1")])
        }
        aggregates[2].reassigned = 1
        let attempts = [RunReport.Attempt(invocation: "c0-r0-s0", worker: "w1", config: 0, startMs: 1.5, endMs: 90.25, outcome: "requeued"),
                        RunReport.Attempt(invocation: "c0-r0-s0", worker: "w2", config: 0, startMs: 91, endMs: 170, outcome: "ok")]
        try store.apply(runID: "run-a", arrived.dropFirst(arrived.count / 2).map { .result(configIndex: $0.0.config.index, $0.1, $0.2, worker: "w1") }
                                         + [.counters(configIndex: 2, failed: 0, reassigned: 1)] + attempts.map { .attempt($0) })
        var expected = header
        expected.timeline = attempts
        expected.status = "complete"
        expected.configs = aggregates.map(RunReport.config(from:))
        expected.plan.oversubscribedSizes = [1024]
        expected.plan.backend = .init(kind: "lambda", realLambda: false, lambdaEndpoint: "http://127.0.0.1:9001", region: "us-east-1",
                                      functionPrefix: "fb")
        expected.plan.backend?.invokeThrottled = 2
        try store.finish(runID: "run-a", status: "complete", plan: expected.plan)

        // A new connection, as `fanbench report` would open it.
        let reopened = try RunStore(path: path)
        var rebuilt = try reopened.report("latest")
        expected.finishedAt = rebuilt.finishedAt
        expected.derive()
        rebuilt.derive()
        #expect(try rebuilt.jsonData() == expected.jsonData())
        #expect(rebuilt.configs[2].invocations.billedFromReport == 3)
        #expect(rebuilt.timeline == attempts && rebuilt.configs[0].waterfalls?.first?.callsMs.count == 2)
        let overhead = try #require(rebuilt.configs[0].workerOverhead)
        #expect(overhead.invocations == 6 && overhead.startP50Ms > 0.1 && overhead.startP99Ms < 0.2 && overhead.finishP99Ms < 0.12)
        #expect(rebuilt.configs[2].workerOverhead == nil, "a function reports none")
        let tune = TuneResult(id: "tune-1", startedAt: Date(timeIntervalSince1970: 1_764_000_000), strategy: "async", goal: .cost,
                              maxConcurrency: 64, invocationsPerPoint: 5)
        try reopened.saveTune(tune)
        #expect(try reopened.tune("tune-1")?.goal == .cost)
        #expect(rebuilt.plan.backend?.invokeThrottled == 2)
        let runs = try reopened.runs()
        #expect(runs.map(\.id) == ["run-a"])
        #expect(runs[0].status == "complete" && runs[0].invocations == 36 && runs[0].plannedInvocations == 36 && runs[0].configs == 6)
    }

    /// A live CPU scale's summary is known only when the run ends: `finish` stores the emulation
    /// as it ended, and a run finished without one keeps the emulation it began with.
    @Test func aRunsEmulationAsItEndedIsStored() throws {
        let path = tempDB()
        let store = try RunStore(path: path)
        for id in ["run-live", "run-plain"] {
            var (header, plan, _) = try sampleRun(id: id)
            header.target.emulation?.cpu = .init(probeScore: 120, vcpuScore: 92, scale: 0.767, applied: true)
            try store.begin(header, configs: plan.configs, plannedInvocations: plan.invocations.count)
            var ended = try #require(header.target.emulation)
            ended.cpu?.live = .init(beta: 0.5, baseline: 60, baselineRuns: 3, samples: 40, speedMean: 55, speedMin: 9, speedMax: 90,
                                    factorMin: 0.9, factorMean: 1.04, factorMax: 1.3)
            try store.finish(runID: id, status: "complete", emulation: id == "run-live" ? ended : nil)
        }
        let reopened = try RunStore(path: path)
        let live = try #require(try reopened.report("run-live").target.emulation?.cpu?.live)
        #expect(live.beta == 0.5 && live.factorMean == 1.04 && live.baselineRuns == 3)
        let plain = try #require(try reopened.report("run-plain").target.emulation?.cpu)
        #expect(plain.live == nil && plain.scale == 0.767, "the emulation it began with")
    }

    @Test func theFileIsWALWithMigrationsAndMergedHistograms() throws {
        let path = tempDB()
        let store = try RunStore(path: path)
        let (header, plan, results) = try sampleRun(id: "run-b")
        try store.begin(header, configs: plan.configs, plannedInvocations: plan.invocations.count)
        try store.apply(runID: "run-b", results.map { .result(configIndex: $0.0.config.index, $0.1, $0.2, worker: "w") })
        try store.finish(runID: "run-b", status: "complete")
        _ = try RunStore(path: path)  // migrating again is a no-op
        let db = try DatabaseQueue(path: path)
        try db.read { db in
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            #expect(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") == ["v1: runs, configurations, invocations, errors", "v2: abandoned invocations and why",
                                                                                                 "v3: functions (Lambda handlers) and their failures",
                                                                                                 "v4: what Lambda billed (the Lambda backend's REPORT lines)",
                                                                                                 "v5: the timeline (attempts), call waterfalls, tuning searches (fanbench tune)",
                                                                                                 "v6: the worker's own overhead around each invocation's calls",
                                                                                                 "v7: the whole emulation (profile hash, CPU probe and scale)",
                                                                                                 "v8: what `fanbench resume` needs to continue a run"])
            let merged = try String.fetchOne(db, sql: "SELECT latency_histogram_json FROM config WHERE run_id = 'run-b' AND idx = 0")
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let snapshot = try decoder.decode(HistogramSnapshot.self, from: Data(try #require(merged).utf8))
            #expect(snapshot.counts.reduce(0) { $0 + $1[1] } == 6 * 5, "6 invocations × 5 calls merged")
            #expect(try Int.fetchOne(db, sql: "SELECT SUM(count) FROM invocation_error WHERE run_id = 'run-b'") == 5)
        }
    }

    @Test func aRunWhoseCoordinatorDiedReadsAsIncomplete() throws {
        let path = tempDB()
        let store = try RunStore(path: path)
        let (header, plan, results) = try sampleRun(id: "run-c")
        try store.begin(header, configs: plan.configs, plannedInvocations: plan.invocations.count)
        for (spec, result, limits) in results.prefix(5) {
            try store.apply(runID: "run-c", [.result(configIndex: spec.config.index, result, limits, worker: "w")])
        }
        // This process is alive: the run is still running.
        #expect(try store.runs()[0].status == "running")
        // Give the row the pid of a process that has exited.
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&pid, "/bin/true", nil, nil, argv, nil) == 0)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let db = try DatabaseQueue(path: path)
        try db.write { try $0.execute(sql: "UPDATE run SET pid = ? WHERE id = 'run-c'", arguments: [Int(pid)]) }
        let summary = try #require(try store.runs().first)
        #expect(summary.status == "incomplete" && summary.invocations == 5)
        let report = try store.report("run-c")
        #expect(report.status == "incomplete")
        #expect(report.configs.reduce(0) { $0 + $1.invocations.count } == 5)
    }

    @Test func unknownRunsAndAnEmptyStoreSayWhatToDo() throws {
        let store = try RunStore(path: tempDB())
        let empty = #expect(throws: StoreError.self) { try store.report("latest") }
        #expect(empty?.kind == .unknownRun)
        let unknown = #expect(throws: StoreError.self) { try store.report("nope") }
        #expect(unknown?.kind == .unknownRun && unknown?.context["run"] == "nope")
        #expect(unknown?.userMessage.contains("fanbench runs") == true, "says what to do")
    }
}
