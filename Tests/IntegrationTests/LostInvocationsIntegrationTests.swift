import FanbenchBase
import FanbenchLocalTarget
import FanbenchProtocol
import FanbenchS3
import FanbenchStore
import Foundation
import Testing

/// A run that loses invocations says so, keeps everything, and exits non-zero. The real binary
/// and a worker that takes every assignment and leaves, saying why.
@Suite(.enabled(if: TestTarget.available, TestTarget.skipReason), .timeLimit(.minutes(3)))
struct LostInvocationsIntegrationTests {
    func seed() async throws {
        _ = try await S3Client.withClient(configuration: try TestTarget.configuration(.https), transport: .async, maxConnections: 4) {
            try await Seeder.seed(client: $0, bucket: "fb-lost", objects: 5, size: 16, prefix: "", inFlight: 4)
        }
    }

    @Test func aWorkerThatLeavesAtEveryAssignmentEndsTheRunWithExit4AndTheReason() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fb-lost-\(TestTarget.uniqueSuffix())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let state = try #require(TestTarget.stateDirectory(.https))
        try await seed()
        var env = TestProcess.cleanEnvironment()
        env["FANBENCH_STATE_DIR"] = state
        env["FANBENCH_TOKEN"] = "lost-test-token"
        let db = work + "/lost.db", json = work + "/lost.json", html = work + "/lost.html"
        let run = try TestProcess.spawn(TestTarget.binary, [
            "run", "--bucket", "fb-lost", "--sizes", "1024", "--strategies", "serial", "--invocations", "1",
            "--workers", "external", "--expect", "1", "--listen", "127.0.0.1:0", "--db", db, "--json", json, "--html", html,
        ], environment: env)
        let waiting = try #require(try await run.stderrLine(containing: "waiting for workers at"), "the coordinator never listened")
        let port = try #require(Int(waiting.split(separator: ":").last ?? ""))

        // Three times: join (a new worker each time, as a restarted container would be), take the
        // assignment, say why not, close. Blocking sockets, so off the cooperative pool.
        for attempt in 1...3 {
            let replies = try await TestProcess.offPool { () throws -> [String] in
                let fd = try RawClient.connected(port: port)
                defer { close(fd) }
                guard let line = RawClient.readLine(fd), case .challenge(let c) = try MessageCodec.decode(Array(line.utf8)) else { return [] }
                RawClient.sendLine(fd, .hello(Hello(workerId: "leaver-\(attempt)", version: "test", sizeMb: 1024, limits: .none,
                                                    auth: TokenAuth.answer(token: "lost-test-token", nonce: c.nonce))))
                let welcome = RawClient.readLine(fd) ?? ""
                // How long the assignment took and, when it did not come, why (for a failure's message).
                let t0 = ContinuousClock.now
                let assign = RawClient.readLine(fd)
                let why = assign == nil ? " (no line after \(ContinuousClock.now - t0): \(String(cString: strerror(errno))))" : ""
                RawClient.sendLine(fd, .error(ProtocolErrorMessage(reason: "this worker cannot take assignments (attempt \(attempt))")))
                return [welcome, (assign ?? "") + why]
            }
            #expect(replies.count == 2 && replies[0].contains("\"welcome\"") && replies[1].hasPrefix("{\"") && replies[1].contains("\"assign\""),
                    "attempt \(attempt): \(replies)")
        }
        let outcome = try #require(await run.wait(seconds: 60), "the run did not end")
        #expect(outcome.status == 4, "\(outcome.stderr)")
        let last = outcome.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains("1 invocation(s) lost") && last.contains("1024 MB serial"), "\(outcome.stderr)")
        #expect(last.contains("cannot take assignments (attempt 3)"), "the reason the worker gave is named: \(last)")
        #expect(outcome.stdout.contains("failed"), "the pivot says failed: \(outcome.stdout)")
        #expect(!outcome.stdout.contains("ran without the caps"), "no caps note for a configuration that never ran")

        // Everything was written: the JSON, the HTML, the database, each with the reason.
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let abandoned = try #require(report["abandoned"] as? [[String: Any]])
        #expect(abandoned.count == 1 && (abandoned[0]["reason"] as? String)?.contains("attempt 3") == true)
        #expect(FileManager.default.fileExists(atPath: html))
        let store = try RunStore(path: db)
        let stored = try store.report("latest")
        #expect(stored.status == "complete")
        #expect(stored.abandoned?.first?.reason.contains("attempt 3") == true)
        #expect(stored.configs.first?.invocations.failed == 1)
    }

    /// Local workers that die before they join: the run gives up after its respawns and says
    /// why with the workers' own last line, not just that they died.
    @Test func workersThatDieAtStartAreNamedWithTheirLastLine() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fb-dying-\(TestTarget.uniqueSuffix())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let script = work + "/dying-worker"
        try "#!/bin/sh\necho \"dying-worker: cannot start: the disk is on fire\" >&2\nexit 1\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        try await seed()
        var env = TestProcess.cleanEnvironment()
        env["FANBENCH_STATE_DIR"] = try #require(TestTarget.stateDirectory(.https))
        let caps = FanoutRunIntegrationTests.cgroups != nil ? [] : ["--allow-uncapped"]
        let environment = env
        let outcome = try await TestProcess.offPool { try TestProcess.run([
            "run", "--bucket", "fb-lost", "--sizes", "1024", "--strategies", "serial", "--invocations", "1",
            "--worker-binary", script, "--db", work + "/d.db",
        ] + caps, environment: environment) }
        #expect(outcome.status == 1, "\(outcome.stderr)")
        let last = outcome.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains("keep dying") && last.contains("the disk is on fire"), "\(outcome.stderr)")
    }
}
