import FanbenchBase
import FanbenchLocalTarget
import Foundation

/// A program the tests start for real: posix_spawn with output to files, reaped with waitpid
/// (Foundation's Process can miss a child's exit when several are launched at once).
struct TestProcess {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    let pid: pid_t
    let base: String

    /// The environment the tests start from: no AWS settings of the caller's, a state folder of its own.
    static func cleanEnvironment() -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for k in ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CA_BUNDLE", "AWS_SESSION_TOKEN", "FANBENCH_DB", "FANBENCH_TOKEN"] {
            env[k] = nil
        }
        env["FANBENCH_STATE_DIR"] = FileManager.default.temporaryDirectory.appendingPathComponent("fb-cli-\(TestTarget.uniqueSuffix())").path
        return env
    }

    static func spawn(_ binary: String, _ arguments: [String], environment: [String: String]) throws -> TestProcess {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("fb-proc-\(TestTarget.uniqueSuffix())").path
        let pid = try ProcessLauncher.spawn(executable: binary, arguments: arguments, logPath: base + ".out", errorPath: base + ".err",
                                            environment: environment, newSession: false)
        return TestProcess(pid: pid, base: base)
    }

    /// Waits (up to `seconds`) for a line of standard error that contains `marker`; returns it.
    func stderrLine(containing marker: String, seconds: Double = 30) async throws -> String? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains(marker) }) { return String(line) }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Runs `fanbench` (or another binary) to completion.
    static func run(_ arguments: [String], binary: String = TestTarget.binary, environment: [String: String]) throws -> Outcome {
        try spawn(binary, arguments, environment: environment).wait()
    }

    /// Waits for the exit; 128 + signal when a signal ended it.
    func wait() -> Outcome {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return outcome(status)
    }

    /// Waits up to `seconds` for the exit; nil if it is still running then. Sleeps between looks
    /// instead of blocking: tests share a cooperative pool of as many threads as cores.
    func wait(seconds: Double) async -> Outcome? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            if waitpid(pid, &status, WNOHANG) == pid { return outcome(status) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Runs blocking work (a waitpid, a blocking socket) on a thread of its own, so that it never
    /// holds one of the cooperative pool's few threads while other tests need them.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// The exit status (128 + signal when a signal ended it) and what it printed; removes the output files.
    private func outcome(_ status: Int32) -> Outcome {
        defer { unlink(base + ".out"); unlink(base + ".err") }
        return Outcome(status: ProcessLauncher.exitStatus(status),
                       stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
    }
}
