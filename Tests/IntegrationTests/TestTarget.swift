import FanbenchLocalTarget
import FanbenchS3
import Foundation
import Testing

/// The SeaweedFS targets `./scripts/test` starts (one HTTPS, one plain HTTP, both with auth)
/// and tells the tests about through the environment.
enum TestTarget {
    enum Scheme: String, CaseIterable, Sendable { case https, http }

    static let environment = ProcessInfo.processInfo.environment

    static func stateDirectory(_ scheme: Scheme) -> String? {
        environment[scheme == .https ? "FANBENCH_TEST_TLS_STATE" : "FANBENCH_TEST_PLAIN_STATE"]
    }

    /// Whether ./scripts/test set the targets up (tests that need them are skipped otherwise, with this reason).
    static let available = stateDirectory(.https) != nil && stateDirectory(.http) != nil
    static let skipReason: Comment = "no SeaweedFS target: run ./scripts/test, which starts one and sets FANBENCH_TEST_TLS_STATE / FANBENCH_TEST_PLAIN_STATE"

    static func configuration(_ scheme: Scheme) throws -> S3ClientConfiguration {
        let dir = try #require(stateDirectory(scheme))
        let target = LocalTarget(stateDirectory: dir)
        let state = try #require(target.runningState(), "the \(scheme) test target at \(dir) is not running")
        var config = try target.clientConfiguration(state)
        config.retry = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(20))
        return config
    }

    /// The fanbench binary built next to the tests.
    static var binary: String {
        if let path = environment["FANBENCH_BIN"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/fanbench").path
    }

    static func uniqueSuffix() -> String {
        String(UInt64.random(in: 0..<UInt64.max), radix: 36)
    }
}

@Suite struct TestTargetPresence {
    /// ./scripts/test sets FANBENCH_REQUIRE_TARGET=1, so the integration suites cannot silently skip there.
    @Test func targetsAreUpWhenRequired() throws {
        guard TestTarget.environment["FANBENCH_REQUIRE_TARGET"] == "1" else { return }
        for scheme in TestTarget.Scheme.allCases {
            _ = try TestTarget.configuration(scheme)
        }
    }
}
