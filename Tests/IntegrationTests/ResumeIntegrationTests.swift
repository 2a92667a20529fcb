import FanbenchBase
import FanbenchLocalTarget
import FanbenchS3
import FanbenchStore
import Foundation
import GRDB
import Testing

/// `fanbench resume` on the real binary: a coordinator SIGKILLed mid-run, then resumed under
/// the same run id; at the end every planned invocation is stored exactly once, every call
/// counted once, and the report has the form of an uninterrupted run's. What must be refused
/// (another version, another target, a changed plan, changed keys, a complete run) is, in one line.
@Suite(.enabled(if: TestTarget.available, TestTarget.skipReason), .serialized, .timeLimit(.minutes(5)))
struct ResumeIntegrationTests {
    let work: String
    let state: String
    /// A bucket of this test's own: it adds a key to it.
    let bucket = "fb-resume-\(TestTarget.uniqueSuffix())"
    static let keys = 20

    init() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("fb-resume-\(TestTarget.uniqueSuffix())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        state = try #require(TestTarget.stateDirectory(.https))
    }

    var environment: [String: String] {
        var env = TestProcess.cleanEnvironment()
        env["FANBENCH_STATE_DIR"] = state
        env["FANBENCH_TOKEN"] = "resume-test-token"
        return env
    }

    func seed(_ bucket: String, objects: Int, prefix: String = "") async throws {
        try await S3Client.withClient(configuration: try TestTarget.configuration(.https), transport: .async, maxConnections: 8) {
            _ = try await Seeder.seed(client: $0, bucket: bucket, objects: objects, size: 16, prefix: prefix, inFlight: 8)
        }
    }

    func plan(_ path: String, invocations: Int) throws {
        try """
            target:
              bucket: \(bucket)
              objects: \(Self.keys)
            op: head-object
            sizes: [1024]
            strategies: [serial, "async:4"]
            invocations: \(invocations)
            """.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func fanbench(_ arguments: [String]) async throws -> TestProcess.Outcome {
        let env = environment
        return try await TestProcess.offPool { try TestProcess.run(arguments, environment: env) }
    }

    /// Every key path of a JSON value (arrays by their elements' paths): a report's form.
    static func form(_ value: Any, _ path: String = "") -> Set<String> {
        if let d = value as? [String: Any] {
            return d.reduce(into: Set([path])) { $0.formUnion(form($1.value, path + "." + $1.key)) }
        }
        if let a = value as? [Any] { return a.reduce(into: Set([path + "[]"])) { $0.formUnion(form($1, path + "[]")) } }
        return [path]
    }

    static func json(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// A copy of a database a killed coordinator left, through SQLite's backup (its log included).
    static func copyDatabase(_ db: String, to copy: String) throws {
        let source = try DatabaseQueue(path: db)
        let destination = try DatabaseQueue(path: copy)
        try source.backup(to: destination)
    }

    func stored(_ db: String, _ sql: String) throws -> Int {
        let queue = try DatabaseQueue(path: db)
        return try queue.read { try Int.fetchOne($0, sql: sql) ?? -1 }
    }

    @Test func aKilledCoordinatorsRunIsResumedExactly() async throws {
        let planPath = work + "/plan.yaml"
        let invocations = 60
        try plan(planPath, invocations: invocations)
        let db = work + "/resume.db"
        let caps = FanoutRunIntegrationTests.cgroups != nil ? [] : ["--allow-uncapped"]

        // An uninterrupted run of the same plan, for the report's form.
        try plan(work + "/short.yaml", invocations: 2)
        let whole = try await fanbench(["run", work + "/short.yaml", "--db", work + "/whole.db", "--json", work + "/whole.json"] + caps)
        #expect(whole.status == 0, "\(whole.stderr)")

        let run = try TestProcess.spawn(TestTarget.binary, ["run", planPath, "--db", db] + caps, environment: environment)
        let deadline = ContinuousClock.now + .seconds(60)
        while (StoredCount.invocations(in: db) ?? 0) < 5, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        kill(run.pid, SIGKILL)
        #expect(await run.wait(seconds: 30)?.status == 128 + SIGKILL)
        let before = try #require(StoredCount.invocations(in: db))
        #expect(before >= 5 && before < invocations * 2, "killed mid-run: \(before) stored")
        let store = try RunStore(path: db)
        let id = try #require(try store.runs().first?.id)
        #expect(try store.runs().first?.status == "incomplete")

        // Refused, each in one line, before anything runs: another fanbench version, another target.
        for (name, sql, expect) in [
            ("version", "UPDATE run SET fanbench_version = '0.0.1'", "was made by fanbench 0.0.1"),
            ("target", "UPDATE run SET resume_json = json_set(resume_json, '$.target', 'https://elsewhere:9000')", "ran against https://elsewhere:9000"),
        ] {
            let copy = work + "/\(name).db"
            try Self.copyDatabase(db, to: copy)
            let queue = try DatabaseQueue(path: copy)
            try queue.inDatabase { try $0.execute(sql: sql) }
            let refused = try await fanbench(["resume", id, "--db", copy])
            #expect(refused.status == 2 && refused.stderr.contains(expect), "\(name): \(refused.stderr)")
            #expect(refused.stderr.split(separator: "\n").count <= 2, "\(refused.stderr)")
        }
        // A changed plan file.
        let original = try String(contentsOfFile: planPath, encoding: .utf8)
        try (original + "\nshard_size: 5\n").write(toFile: planPath, atomically: true, encoding: .utf8)
        let changed = try await fanbench(["resume", id, "--db", db])
        #expect(changed.status == 2 && changed.stderr.contains("changed since run \(id) started"), "\(changed.stderr)")
        try original.write(toFile: planPath, atomically: true, encoding: .utf8)
        #expect(StoredCount.invocations(in: db) == before, "a refused resume ran nothing")
        try Self.copyDatabase(db, to: work + "/keys.db")

        // The resume: only what is missing, under the same id.
        let resumed = try await fanbench(["resume", id, "--db", db, "--json", work + "/resumed.json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming run \(id): \(before) invocation(s) already have an outcome"), "\(resumed.stderr)")
        #expect(try stored(db, "SELECT COUNT(*) FROM invocation") == invocations * 2)
        #expect(try stored(db, "SELECT COUNT(DISTINCT invocation_id) FROM invocation") == invocations * 2, "no invocation stored twice")
        #expect(try stored(db, "SELECT COUNT(*) FROM run") == 1)
        let report = try #require(Self.json(work + "/resumed.json") as? [String: Any])
        #expect(report["run_id"] as? String == id && report["status"] as? String == "complete")
        let configs = try #require(report["configs"] as? [[String: Any]])
        for c in configs {
            #expect((c["invocations"] as? [String: Any])?["count"] as? Int == invocations)
            #expect((c["calls"] as? [String: Any])?["count"] as? Int == invocations * Self.keys, "every call counted once")
        }
        #expect(Self.form(report) == Self.form(try Self.json(work + "/whole.json")), "the report has an uninterrupted run's form")
        let again = try await fanbench(["resume", id, "--db", db])
        #expect(again.status == 2 && again.stderr.contains("is complete"), "\(again.stderr)")

        // Keys that changed since: refused (another key makes other shards). The plan seeds its
        // bucket with its objects; one more is another key.
        try await seed(bucket, objects: Self.keys + 1)
        let keys = try await fanbench(["resume", id, "--db", work + "/keys.db"])
        #expect(keys.status == 2 && keys.stderr.contains("changed since run \(id) started (\(Self.keys + 1) now)"), "\(keys.stderr)")
        #expect(StoredCount.invocations(in: work + "/keys.db") == before)
    }
}
