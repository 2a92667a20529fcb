import FanbenchBase
import FanbenchLocalTarget
import FanbenchProtocol
import FanbenchS3
import FanbenchStore
import Foundation
import Testing

/// Ctrl-C on the real `fanbench run`: the first signal stops dispatching and lets the running
/// invocations finish, the run is kept as incomplete, the exit is 130; a second one ends it at
/// once. Real binary, real signals, real worker processes, the real HTTPS target.
@Suite(.enabled(if: TestTarget.available, TestTarget.skipReason), .serialized, .timeLimit(.minutes(4)))
struct InterruptIntegrationTests {
    let work: String
    let tlsState: String

    init() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("fb-interrupt-\(TestTarget.uniqueSuffix())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        tlsState = try #require(TestTarget.stateDirectory(.https))
    }

    var environment: [String: String] {
        var env = TestProcess.cleanEnvironment()
        env["FANBENCH_STATE_DIR"] = tlsState
        env["FANBENCH_TOKEN"] = "interrupt-test-token"
        return env
    }

    func seed(_ bucket: String, objects: Int) async throws {
        try await S3Client.withClient(configuration: try TestTarget.configuration(.https), transport: .async, maxConnections: 8) {
            _ = try await Seeder.seed(client: $0, bucket: bucket, objects: objects, size: 16, prefix: "", inFlight: 8)
        }
    }

    /// Waits (bounded) until the database at `db` holds at least `n` invocations of its run.
    func waitForStored(_ n: Int, in db: String) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let stored = StoredCount.invocations(in: db), stored >= n {
                return stored
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return 0
    }

    @Test func theFirstCtrlCLetsRunningInvocationsFinishAndKeepsTheRun() async throws {
        try await seed("fb-int", objects: 20)
        let db = work + "/first.db"
        let caps = FanoutRunIntegrationTests.cgroups != nil ? [] : ["--allow-uncapped"]
        let run = try TestProcess.spawn(TestTarget.binary, [
            "run", "--bucket", "fb-int", "--sizes", "1024", "--strategies", "serial", "--invocations", "500", "--db", db,
        ] + caps, environment: environment)
        let before = try await waitForStored(3, in: db)
        #expect(before >= 3, "the run never stored 3 invocations")
        let signalled = ContinuousClock.now
        kill(run.pid, SIGINT)
        let outcome = try #require(await run.wait(seconds: 40), "the coordinator did not exit after one Ctrl-C")
        let took = ContinuousClock.now - signalled
        #expect(outcome.status == 130, "\(outcome.stderr)")
        #expect(outcome.stderr.contains("interrupted") && outcome.stderr.contains("incomplete run"), "\(outcome.stderr)")
        #expect(took < .seconds(30), "a 20-key invocation finishes well within the grace: \(took)")
        let store = try RunStore(path: db)
        let summary = try #require(try store.runs().first)
        #expect(summary.status == "incomplete")
        #expect(summary.invocations >= before && summary.invocations < 500)
        let report = try store.report(summary.id)
        #expect(report.configs.first?.calls?.count == summary.invocations * 20, "only whole invocations, each with all its calls")
        // Workers are gone and their cgroups removed.
        let workerBinary = URL(fileURLWithPath: TestTarget.binary).deletingLastPathComponent().appendingPathComponent("fanbench-worker").path
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter {
            ProcessLauncher.commandLine($0)?.first == workerBinary && ProcessLauncher.commandLine($0)?.contains(where: { $0.contains(summary.id) }) == true
        }
        #expect(leftovers.isEmpty, "workers left running: \(leftovers)")
        if let cgroups = FanoutRunIntegrationTests.cgroups {
            let base = cgroups.version == .v1 ? "/sys/fs/cgroup/cpu/fanbench" : "/sys/fs/cgroup/fanbench"
            let groups = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
            #expect(!groups.contains { $0.hasPrefix(summary.id) }, "cgroups left: \(groups)")
        }
    }

    /// A worker that takes an invocation and never answers keeps the first Ctrl-C's grace waiting;
    /// the second Ctrl-C ends the run at once.
    @Test func aSecondCtrlCStopsAtOnce() async throws {
        try await seed("fb-int", objects: 20)
        let db = work + "/second.db"
        let run = try TestProcess.spawn(TestTarget.binary, [
            "run", "--bucket", "fb-int", "--sizes", "1024", "--strategies", "serial", "--invocations", "2", "--db", db,
            "--workers", "external", "--expect", "1", "--listen", "127.0.0.1:0", "--grace", "60", "--worker-silence", "120",
        ], environment: environment)
        let waiting = try #require(try await run.stderrLine(containing: "waiting for workers at"), "the coordinator never listened")
        let port = try #require(Int(waiting.split(separator: ":").last ?? ""))
        // A silent worker: it passes the handshake, takes the invocation, and says nothing more.
        // Blocking sockets, so off the cooperative pool.
        let (fd, replies) = try await TestProcess.offPool { () throws -> (Int32, [String]) in
            let fd = try RawClient.connected(port: port)
            guard let line = RawClient.readLine(fd), case .challenge(let c) = try MessageCodec.decode(Array(line.utf8)) else { return (fd, []) }
            RawClient.sendLine(fd, .hello(Hello(workerId: "silent", version: "test", sizeMb: 1024, limits: .none,
                                                auth: TokenAuth.answer(token: "interrupt-test-token", nonce: c.nonce))))
            return (fd, [RawClient.readLine(fd) ?? "", RawClient.readLine(fd) ?? ""])
        }
        defer { close(fd) }
        #expect(replies.count == 2 && replies[0].contains("\"welcome\"") && replies[1].contains("\"assign\""), "\(replies)")

        kill(run.pid, SIGINT)
        #expect(try await run.stderrLine(containing: "Ctrl-C again") != nil, "the first Ctrl-C says what a second one does")
        #expect(await run.wait(seconds: 2) == nil, "the first Ctrl-C waits for the running invocation")
        let second = ContinuousClock.now
        kill(run.pid, SIGINT)
        let outcome = try #require(await run.wait(seconds: 10), "a second Ctrl-C did not stop the run")
        #expect(ContinuousClock.now - second < .seconds(5))
        #expect(outcome.status == 130, "\(outcome.stderr)")
        let summary = try #require(try RunStore(path: db).runs().first)
        #expect(summary.status == "incomplete" && summary.invocations == 0)
    }
}
