import FanbenchBase
import FanbenchLocalTarget
import FanbenchReport
import FanbenchS3
import FanbenchStore
import Foundation
import Testing

/// `fanbench run` keeps every run in SQLite; `runs`, `report` and `compare` read it back. The
/// real binary against the real HTTPS target, with real worker processes.
@Suite(.enabled(if: TestTarget.available, TestTarget.skipReason), .serialized, .timeLimit(.minutes(6)))
struct RunHistoryIntegrationTests {
    let work: String
    let tlsState: String

    init() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("fb-history-\(TestTarget.uniqueSuffix())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        tlsState = try #require(TestTarget.stateDirectory(.https))
    }

    func seed(_ bucket: String, objects: Int) async throws {
        try await S3Client.withClient(configuration: try TestTarget.configuration(.https), transport: .async, maxConnections: 8) {
            _ = try await Seeder.seed(client: $0, bucket: bucket, objects: objects, size: 16, prefix: "", inFlight: 8)
        }
    }

    /// `fanbench ARGS` against the test target (found through its state folder, as a person's running target is).
    /// Off the cooperative pool: a blocking wait there stalls every other async test.
    func fanbench(_ arguments: [String]) async throws -> TestProcess.Outcome {
        var env = TestProcess.cleanEnvironment()
        env["FANBENCH_STATE_DIR"] = tlsState
        let environment = env
        return try await TestProcess.offPool { try TestProcess.run(arguments, environment: environment) }
    }

    /// Caps where cgroups can be written (a failure to cap then fails the run); elsewhere uncapped.
    var capsFlags: [String] { FanoutRunIntegrationTests.cgroups != nil ? [] : ["--allow-uncapped"] }

    func runID(in output: String) throws -> String {
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("stored as run ") }, "no 'stored as run' in: \(output)")
        return String(line.split(separator: " ")[3])
    }

    @Test func aRunIsStoredAndReportedInEveryFormat() async throws {
        try await seed("fb-hist", objects: 20)
        let db = work + "/f.db", json = work + "/r.json", html = work + "/r.html"
        let run = try await fanbench(["run", "--bucket", "fb-hist", "--sizes", "128,1024", "--strategies", "serial,async:4", "--invocations", "2",
                                "--db", db, "--json", json, "--html", html] + capsFlags)
        #expect(run.status == 0, "run failed: \(run.stderr)")
        let id = try runID(in: run.stdout)

        let runs = try await fanbench(["runs", "--db", db])
        let line = try #require(runs.stdout.split(separator: "\n").first { $0.hasPrefix(id) }, "\(runs.stdout)")
        #expect(line.contains("complete") && line.contains("get-object-acl") && line.contains(" 4 ") && line.contains("8/8"))

        // The stored report in JSON is the file the run wrote.
        let stored = try await fanbench(["report", id, "--db", db, "--format", "json"])
        #expect(stored.status == 0, "\(stored.stderr)")
        let fromRun = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? NSDictionary
        let fromDB = try JSONSerialization.jsonObject(with: Data(stored.stdout.utf8)) as? NSDictionary
        // When they differ (seen once under the full suite's load), say where: the top-level keys and configurations that differ.
        let differing = Set((fromRun?.allKeys ?? []) + (fromDB?.allKeys ?? []) as! [String]).filter {
            !((fromRun?[$0] as? NSObject)?.isEqual(fromDB?[$0]) ?? (fromDB?[$0] == nil))
        }.sorted()
        let configsDiffer = zip(fromRun?["configs"] as? [NSDictionary] ?? [], fromDB?["configs"] as? [NSDictionary] ?? []).enumerated()
            .filter { !$0.element.0.isEqual($0.element.1) }
            .map { i, pair in "configs[\(i)]: " + (pair.0.allKeys as! [String]).filter { !((pair.0[$0] as? NSObject)?.isEqual(pair.1[$0]) ?? false) }.sorted().joined(separator: ",") }
        #expect(fromRun != nil && fromRun == fromDB, "differ: \(differing) \(configsDiffer)")
        #expect((fromDB?["configs"] as? [Any])?.count == 4)

        // CSV: one row per configuration, as Python's csv module reads it.
        let csvPath = work + "/r.csv"
        #expect(try await fanbench(["report", "latest", "--db", db, "--format", "csv", "--out", csvPath]).status == 0)
        let py = try await TestProcess.offPool { try TestProcess.run(["python3", "-c", "import csv,sys; rows=list(csv.DictReader(open(sys.argv[1], newline=''))); print(len(rows), sorted({r['memory_mb'] for r in rows}), rows[0]['calls'])", csvPath],
                                     binary: "/usr/bin/env", environment: ProcessInfo.processInfo.environment) }
        #expect(py.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "4 ['1024', '128'] 40", "python: \(py.stdout) \(py.stderr)")

        // HTML: the three charts, self-contained; the same from the store.
        let page = try String(contentsOfFile: html, encoding: .utf8)
        for title in ["Mean invocation duration vs memory", "Cost vs memory", "Call latency distribution"] { #expect(page.contains(title)) }
        // Two charts, a latency panel per size, the timeline, and each configuration's waterfalls (slowest, median).
        let waterfalls = (fromDB?["configs"] as? [NSDictionary] ?? []).reduce(0) { $0 + (($1["waterfalls"] as? [Any])?.count ?? 0) }
        #expect(waterfalls >= 4 && waterfalls <= 8 && (fromDB?["timeline"] as? [Any])?.count ?? 0 >= 8)
        #expect(page.contains("Invocation timeline") && page.contains("Call waterfalls"))
        #expect(page.components(separatedBy: "<svg ").count - 1 == 4 + 1 + waterfalls)
        #expect(try await fanbench(["report", id, "--db", db, "--format", "html"]).stdout.components(separatedBy: "<svg ").count - 1 == 4 + 1 + waterfalls)
        for format in ["table", "markdown"] {
            let out = try await fanbench(["report", id, "--db", db, "--format", format])
            #expect(out.stdout.contains("mean ms per invocation") && out.stdout.contains("recommendations"), "\(format)")
        }

        // No secret in the database (nor its WAL) or the reports.
        let secret = try TestTarget.configuration(.https).credentials.secretAccessKey
        let token = try String(contentsOfFile: tlsState + "/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        for file in [db, db + "-wal", json, html, csvPath] {
            guard let bytes = FileManager.default.contents(atPath: file) else { continue }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains(secret) && !text.contains(token), "a secret in \(file)")
        }
    }

    /// SIGKILL the coordinator mid-run: the database opens cleanly and keeps the run, marked
    /// incomplete, with every invocation that had finished.
    @Test func aKilledCoordinatorLeavesAnIncompleteRunWithItsFinishedInvocations() async throws {
        try await seed("fb-kill", objects: 20)
        let db = work + "/kill.db"
        let config = try TestTarget.configuration(.https)
        var env = TestProcess.cleanEnvironment()
        env["FANBENCH_STATE_DIR"] = tlsState
        env["FANBENCH_TOKEN"] = "kill-test-token"
        let coordinator = try TestProcess.spawn(TestTarget.binary, [
            "run", "--bucket", "fb-kill", "--sizes", "1024", "--strategies", "serial", "--invocations", "400",
            "--workers", "external", "--expect", "1", "--listen", "127.0.0.1:0", "--db", db,
        ], environment: env)
        // Port 0: the coordinator binds any free port and says which.
        let waiting = try #require(try await coordinator.stderrLine(containing: "waiting for workers at"), "the coordinator never listened")
        let port = try #require(Int(waiting.split(separator: ":").last ?? ""))
        var workerEnv = env
        workerEnv["AWS_ACCESS_KEY_ID"] = config.credentials.accessKeyID
        workerEnv["AWS_SECRET_ACCESS_KEY"] = config.credentials.secretAccessKey
        workerEnv["AWS_REGION"] = config.region
        let workerBinary = URL(fileURLWithPath: TestTarget.binary).deletingLastPathComponent().appendingPathComponent("fanbench-worker").path
        let worker = try TestProcess.spawn(workerBinary, ["--coordinator", "127.0.0.1:\(port)", "--size-mb", "1024", "--dial-timeout", "30"],
                                           environment: workerEnv)
        defer {
            kill(worker.pid, SIGKILL)
            _ = worker.wait()
        }

        // Wait (bounded) until a few invocations are in the database, then kill without warning.
        let deadline = Date().addingTimeInterval(60)
        var stored = 0
        while Date() < deadline {
            if let n = StoredCount.invocations(in: db) {
                stored = n
                if stored >= 3 { break }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(stored >= 3, "the run never stored 3 invocations")
        kill(coordinator.pid, SIGKILL)
        let killed = coordinator.wait()
        #expect(killed.status == 128 + SIGKILL)

        let store = try RunStore(path: db)
        #expect(try store.integrityCheck() == "ok")
        let summary = try #require(try store.runs().first)
        #expect(summary.status == "incomplete")
        #expect(summary.invocations >= 3 && summary.invocations < 400)
        let report = try store.report(summary.id)
        #expect(report.status == "incomplete")
        #expect(report.configs.first?.invocations.count == summary.invocations)
        #expect(report.configs.first?.calls?.count == summary.invocations * 20, "every stored invocation with all its calls")
        let listed = try await fanbench(["runs", "--db", db])
        #expect(listed.stdout.contains(summary.id) && listed.stdout.contains("incomplete"), "\(listed.stdout)")
        // The worker notices its coordinator is gone and exits by itself.
        #expect(await worker.wait(seconds: 20) != nil, "the worker outlived its coordinator")
    }
}

/// `compare` on two real runs of different sizes. A timing test: the 128 MB worker gets 0.07 of
/// a core, and other suites' workers on the same 2 cores widen its spread until a real 5×
/// difference reads as noise, so ./scripts/test runs this suite on its own.
@Suite(.enabled(if: TestTarget.available, TestTarget.skipReason), .serialized, .timeLimit(.minutes(3)))
struct RunCompareTimingTests {
    @Test func compareTellsNoiseFromADifference() async throws {
        let h = try RunHistoryIntegrationTests()
        try await h.seed("fb-cmp", objects: 40)
        let db = h.work + "/cmp.db"
        func run(_ size: String) async throws -> String {
            let out = try await h.fanbench(["run", "--bucket", "fb-cmp", "--sizes", size, "--strategies", "serial", "--invocations", "5",
                                    "--db", db] + h.capsFlags)
            #expect(out.status == 0, "\(out.stderr)")
            return try h.runID(in: out.stdout)
        }
        let small = try await run("128"), big = try await run("1024")
        func verdicts(_ a: String, _ b: String) async throws -> [String] {
            let out = try await h.fanbench(["compare", a, b, "--db", db, "--format", "json"])
            #expect(out.status == 0, "\(out.stderr)")
            let doc = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
            return (doc?["rows"] as? [[String: Any]] ?? []).compactMap { $0["verdict"] as? String }
        }
        #expect(try await verdicts(small, small) == ["no significant change"])
        // Only meaningful where the 128 MB worker really was capped to 0.07 of a core.
        if FanoutRunIntegrationTests.cgroups != nil {
            let table = try await h.fanbench(["compare", small, big, "--db", db]).stdout
            #expect(try await verdicts(small, big) == ["faster"], "\(table)")
            #expect(try await verdicts(big, small) == ["slower"])
            #expect(table.contains("128 → 1024 MB serial") && table.contains("1 of 1 paired configuration(s) changed beyond the noise"), "\(table)")

            // The CI gate: a run against itself passes; 1024 MB as the baseline and 128 MB as the new run fails, with why.
            let same = try await h.fanbench(["compare", small, small, "--db", db, "--fail-if-slower", "10"])
            #expect(same.status == 0 && same.stdout.contains("gate: PASS"), "\(same.stdout)\(same.stderr)")
            let slower = try await h.fanbench(["compare", big, small, "--db", db, "--fail-if-slower", "10"])
            #expect(slower.status == 1 && slower.stdout.contains("SLOWER: 1024 → 128 MB serial") && slower.stdout.contains("gate: FAIL"), "\(slower.stdout)")
            // --baseline: JSON reports only, no database (as another machine's file would be).
            let baseline = h.work + "/baseline.json", candidate = h.work + "/candidate.json"
            #expect(try await h.fanbench(["report", big, "--db", db, "--format", "json", "--out", baseline]).status == 0)
            #expect(try await h.fanbench(["report", small, "--db", db, "--format", "json", "--out", candidate]).status == 0)
            let noDB = h.work + "/none.db"
            let gate = try await h.fanbench(["compare", "--baseline", baseline, candidate, "--db", noDB, "--fail-if-slower", "10", "--metric", "p99"])
            #expect(gate.status == 1 && gate.stdout.contains("gate: FAIL") && !FileManager.default.fileExists(atPath: noDB), "\(gate.stdout)\(gate.stderr)")
            let reversed = try await h.fanbench(["compare", "--baseline", candidate, baseline, "--fail-if-slower", "10", "--metric", "cost"])
            // Whether 1024 MB costs more than 128 MB depends on how CPU-bound 128 MB was; the gate must say either way.
            #expect([0, 1].contains(reversed.status) && reversed.stdout.contains("more than 10% on cost"), "\(reversed.stdout)\(reversed.stderr)")
        }
        let bad = try await h.fanbench(["compare", "--baseline", h.work + "/missing.json", small, "--db", db, "--fail-if-slower", "10"])
        #expect(bad.status == 2 && bad.stderr.contains("cannot read the report") && !bad.stderr.contains("Fatal"), "\(bad.stderr)")
    }
}
