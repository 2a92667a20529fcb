import FanbenchBase
import FanbenchCoordinator
import FanbenchLocalTarget
import FanbenchProtocol
import FanbenchS3
import FanbenchStore
import Foundation
import Logging
import NIOPosix
import Testing

/// TLS on the control channel with real certificates (openssl, `scripts/make-control-certs`),
/// the real `fanbench-worker` binary and the coordinator's real server on loopback: who gets in,
/// who is refused and what each side is told. Then a whole `fanbench run` over TLS whose token
/// and S3 secret must appear in no process's arguments, no log, the database or a report.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ControlTLSIntegrationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let work: String
    let token = "tls-test-token-\(TestTarget.uniqueSuffix())"

    init() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fb-tls-\(TestTarget.uniqueSuffix())").path
        self.work = work
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        for (dir, names) in [("right", ["localhost", "127.0.0.1"]), ("other", ["localhost", "127.0.0.1"]), ("elsewhere", ["elsewhere.example"])] {
            let script = Self.root.appendingPathComponent("scripts/make-control-certs").path
            // Off the cooperative pool: a blocking wait there stalls every other async test.
            let made = try await TestProcess.offPool {
                try TestProcess.run([script, work + "/" + dir] + names, binary: "/bin/bash", environment: ProcessInfo.processInfo.environment)
            }
            guard made.status == 0 else { throw TestFailure("make-control-certs failed: \(made.stderr)") }
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// A coordinator server (TLS with `right`'s certificate unless `tls` is false) for a 1,024 MB
    /// plan nobody completes; `body` gets its port and the coordinator.
    func withCoordinator(tls: Bool = true, certificates: String = "right", _ body: (Int, RunCoordinator) async throws -> Void) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let plan = try RunPlan.make(sizes: [try LambdaSize(memoryMB: 1024)], strategies: [.serial], invocations: 1, keys: ["k"], shardSize: nil)
        let target = TargetSpec(endpoint: "http://127.0.0.1:1", bucket: "b", region: "us-east-1", pathStyle: true)
        let coordinator = RunCoordinator(plan: plan, logger: logger) { spec in
            Assign(invocationId: spec.id, op: "head-object", strategy: "serial", concurrency: 1, keys: spec.keys, list: nil, target: target)
        }
        await coordinator.holdDispatch()
        var configuration = CoordinatorServer.Configuration(token: token)
        if tls { configuration.tls = try ControlTLS.server(certificate: work + "/\(certificates)/coordinator.pem", key: work + "/\(certificates)/coordinator.key") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await CoordinatorServer.bind(HostPort(host: "127.0.0.1", port: 0), configuration: configuration,
                                                      coordinator: coordinator, group: group, logger: logger)
        let serving = Task { try await server.run() }
        defer { serving.cancel() }
        try await body(server.port, coordinator)
        serving.cancel()
        try? await serving.value
        try await group.shutdownGracefully()
    }

    /// A real worker dialling `host`:`port`, with `arguments` added; the token from the environment unless `environment` says otherwise.
    func worker(_ port: Int, host: String = "127.0.0.1", _ arguments: [String], environment: [String: String]? = nil) throws -> TestProcess {
        var env = TestProcess.cleanEnvironment()
        env["FANBENCH_TOKEN"] = token
        return try TestProcess.spawn(FanoutRunIntegrationTests.workerBinary,
                              ["--coordinator", "\(host):\(port)", "--size-mb", "1024", "--dial-timeout", "5"] + arguments,
                              environment: environment ?? env)
    }

    /// Waits (bounded) for a worker that must give up; its outcome.
    func refused(_ process: TestProcess) async throws -> TestProcess.Outcome {
        try #require(await process.wait(seconds: 30), "the worker did not give up")
    }

    @Test func aPlaintextWorkerIsRefusedByATLSCoordinatorWithAMessageSayingSo() async throws {
        try await withCoordinator { port, coordinator in
            let started = ContinuousClock.now
            let outcome = try await refused(try worker(port, []))
            #expect(outcome.status != 0)
            #expect(outcome.stderr.contains("requires TLS on the control channel") && outcome.stderr.contains("--tls-ca"), "\(outcome.stderr)")
            #expect(ContinuousClock.now - started < .seconds(15))
            #expect(await coordinator.workerCount == 0, "it never got in")
        }
    }

    @Test func aTLSWorkerRefusesACoordinatorItsCADidNotSign() async throws {
        try await withCoordinator { port, coordinator in
            let outcome = try await refused(try worker(port, ["--tls-ca", work + "/other/ca.pem"]))
            #expect(outcome.status != 0)
            #expect(outcome.stderr.contains("is not signed by --tls-ca \(work)/other/ca.pem"), "\(outcome.stderr)")
            #expect(await coordinator.workerCount == 0)
        }
    }

    @Test func overTLSTheTokenIsStillChecked() async throws {
        try await withCoordinator { port, coordinator in
            var env = TestProcess.cleanEnvironment()
            env["FANBENCH_TOKEN"] = "not-the-token"
            let outcome = try await refused(try worker(port, ["--tls-ca", work + "/right/ca.pem"], environment: env))
            #expect(outcome.status != 0)
            #expect(outcome.stderr.contains("authentication failed"), "\(outcome.stderr)")
            #expect(await coordinator.workerCount == 0)
        }
    }

    @Test func theRightCAAndTokenJoinByAddressAndByName() async throws {
        try await withCoordinator { port, coordinator in
            // By IP address (checked against the certificate's IP) and by name (its DNS name).
            let byIP = try worker(port, ["--tls-ca", work + "/right/ca.pem", "--worker-id", "by-ip"])
            let byName = try worker(port, host: "localhost", ["--tls-ca", work + "/right/ca.pem", "--worker-id", "by-name"])
            try await coordinator.waitUntil { $0.workerCount == 2 }
            await coordinator.shutdownWorkers()
            for p in [byIP, byName] {
                let outcome = try #require(await p.wait(seconds: 20))
                #expect(outcome.status == 0, "\(outcome.stderr)")
            }
        }
    }

    @Test func aCertificateForAnotherNameIsRefused() async throws {
        // Its CA is trusted, but it names neither the host dialled nor its address.
        try await withCoordinator(certificates: "elsewhere") { port, coordinator in
            let outcome = try await refused(try worker(port, host: "localhost", ["--tls-ca", work + "/elsewhere/ca.pem"]))
            #expect(outcome.status != 0)
            #expect(outcome.stderr.contains("does not name the address dialled"), "\(outcome.stderr)")
            #expect(await coordinator.workerCount == 0)
            // Told the name it holds, the worker joins.
            let named = try worker(port, host: "localhost", ["--tls-ca", work + "/elsewhere/ca.pem", "--tls-server-name", "elsewhere.example"])
            try await coordinator.waitUntil { $0.workerCount == 1 }
            await coordinator.shutdownWorkers()
            #expect(try #require(await named.wait(seconds: 20)).status == 0)
        }
    }

    @Test func aTLSWorkerSaysWhenTheCoordinatorDoesNotSpeakTLS() async throws {
        try await withCoordinator(tls: false) { port, _ in
            let outcome = try await refused(try worker(port, ["--tls-ca", work + "/right/ca.pem"]))
            #expect(outcome.status != 0)
            #expect(outcome.stderr.contains("does not speak TLS"), "\(outcome.stderr)")
        }
    }

    @Test func aTokenFileEveryoneCanReadIsRefused() async throws {
        let file = work + "/token"
        try Data(token.utf8).write(to: URL(fileURLWithPath: file))
        chmod(file, 0o644)
        var env = TestProcess.cleanEnvironment()
        env["FANBENCH_TOKEN"] = nil
        let outcome = try await refused(try worker(1, ["--token-file", file], environment: env))
        #expect(outcome.status == 2, "bad input")
        #expect(outcome.stderr.contains("--token-file \(file) is open to other users (mode 644)") && outcome.stderr.contains("chmod 600"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains(token))
        // Made private, it is read (and the worker goes on to dial, which fails here: no coordinator on port 1).
        chmod(file, 0o600)
        let dialled = try await refused(try worker(1, ["--token-file", file, "--dial-timeout", "1"], environment: env))
        #expect(dialled.stderr.contains("cannot reach the coordinator"), "\(dialled.stderr)")
    }

    /// `fanbench` (or another binary) run to its end, off the cooperative pool.
    func finished(_ arguments: [String], binary: String = TestTarget.binary, environment: [String: String]) async throws -> TestProcess.Outcome {
        try await TestProcess.offPool { try TestProcess.run(arguments, binary: binary, environment: environment) }
    }

    @Test func tlsOptionsThatCannotWorkAreOneLineEach() async throws {
        let env = TestProcess.cleanEnvironment()
        let onlyCert = try await finished(["run", "--endpoint", "http://127.0.0.1:1", "--bucket", "b", "--tls-cert", work + "/right/coordinator.pem"], environment: env)
        #expect(onlyCert.status == 2 && onlyCert.stderr.contains("--tls-cert and --tls-key go together"), "\(onlyCert.stderr)")
        let openKey = work + "/open.key"
        try FileManager.default.copyItem(atPath: work + "/right/coordinator.key", toPath: openKey)
        chmod(openKey, 0o644)
        let open = try await finished(["run", "--endpoint", "http://127.0.0.1:1", "--bucket", "b", "--tls-cert", work + "/right/coordinator.pem",
                                        "--tls-key", openKey], environment: env)
        #expect(open.status == 2 && open.stderr.contains("--tls-key \(openKey) is open to other users"), "\(open.stderr)")
        let mismatched = try await finished(["run", "--endpoint", "http://127.0.0.1:1", "--bucket", "b", "--tls-cert", work + "/right/coordinator.pem",
                                              "--tls-key", work + "/other/coordinator.key"], environment: env)
        #expect(mismatched.status == 2 && mismatched.stderr.contains("check the key belongs to the certificate"), "\(mismatched.stderr)")
        let caOnly = try await finished(["--coordinator", "127.0.0.1:1", "--size-mb", "1024", "--tls-ca", work + "/missing.pem"],
                                         binary: FanoutRunIntegrationTests.workerBinary, environment: env.merging(["FANBENCH_TOKEN": token]) { $1 })
        #expect(caOnly.status == 2 && caOnly.stderr.contains("cannot read --tls-ca \(work)/missing.pem: no such file"), "\(caOnly.stderr)")
        for o in [onlyCert, open, mismatched, caOnly] {
            #expect(o.stderr.split(separator: "\n").count == 1, "one line: \(o.stderr)")
        }
    }

    /// A whole local run over TLS: it completes, and neither the token nor the S3 secret key is
    /// in any process's arguments while it runs, in what it prints, its logs, its database, or its reports.
    @Test(.enabled(if: TestTarget.available, TestTarget.skipReason))
    func aRunOverTLSKeepsItsSecretsOutOfEverythingItWrites() async throws {
        let config = try TestTarget.configuration(.https)
        try await S3Client.withClient(configuration: config, transport: .async, maxConnections: 8) {
            _ = try await Seeder.seed(client: $0, bucket: "fb-tls", objects: 10, size: 16, prefix: "", inFlight: 8)
        }
        let state = try #require(TestTarget.stateDirectory(.https))
        var env = TestProcess.cleanEnvironment()
        env["FANBENCH_STATE_DIR"] = state
        env["FANBENCH_TOKEN"] = token
        let db = work + "/tls.db"
        let caps = FanoutRunIntegrationTests.cgroups != nil ? [] : ["--allow-uncapped"]
        let run = try TestProcess.spawn(TestTarget.binary, [
            "run", "--bucket", "fb-tls", "--sizes", "1024", "--strategies", "serial,async:4", "--invocations", "3", "--verbose",
            "--tls-cert", work + "/right/coordinator.pem", "--tls-key", work + "/right/coordinator.key", "--tls-ca", work + "/right/ca.pem",
            "--db", db, "--json", work + "/tls.json", "--html", work + "/tls.html",
        ] + caps, environment: env)
        // Every process's arguments while the run goes on (its workers included).
        var arguments: Set<String> = []
        var outcome: TestProcess.Outcome?
        while outcome == nil {
            for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? [] {
                if let line = ProcessLauncher.commandLine(pid) { arguments.insert(line.joined(separator: " ")) }
            }
            outcome = await run.wait(seconds: 0.05)
        }
        let result = try #require(outcome)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(arguments.contains { $0.contains("fanbench-worker") && $0.contains("--tls-ca") }, "local workers were started with TLS")
        let report = try JSONDecoder().decode(RunReportProbe.self, from: Data(contentsOf: URL(fileURLWithPath: work + "/tls.json")))
        #expect(report.status == "complete")
        #expect(report.configs.map(\.calls.count) == [30, 30], "every call of both configurations counted once")

        let secrets = [token, config.credentials.secretAccessKey]
        let runLogs = state + "/runs/" + report.runId
        var places: [(String, String)] = [("stdout", result.stdout), ("stderr", result.stderr)]
        places += arguments.map { ("arguments", $0) }
        for file in [db, db + "-wal", work + "/tls.json", work + "/tls.html"] + Self.files(under: runLogs) {
            if let bytes = FileManager.default.contents(atPath: file) { places.append((file, String(decoding: bytes, as: UTF8.self))) }
        }
        #expect(places.count > 6 && Self.files(under: runLogs).contains { $0.hasSuffix(".log") }, "the worker logs were read")
        for secret in secrets {
            for (place, text) in places where text.contains(secret) { Issue.record("a secret is in \(place)") }
        }
    }

    static func files(under dir: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        return e.compactMap { $0 as? String }.map { dir + "/" + $0 }.filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && !isDir.boolValue
        }
    }

    /// What the test reads of a JSON report.
    struct RunReportProbe: Decodable {
        struct Config: Decodable {
            struct Calls: Decodable { var count: Int }
            var calls: Calls
        }
        var runId: String
        var status: String
        var configs: [Config]
        enum CodingKeys: String, CodingKey { case runId = "run_id", status, configs }
    }
}
