import FanbenchBase

/// Why a run could not go on.
package enum RunErrorKind: Hashable, Sendable {
    /// Fewer external workers dialled in than expected, within the wait.
    case workersMissing
    /// The bucket (under the prefix) has no keys to call.
    case noKeys
    /// Local workers of a size kept dying.
    case workersKeepDying
}

package typealias RunError = CodedError<RunErrorKind>

extension CodedError where Kind == RunErrorKind {
    package static func workersMissing(found: Int, expected: Int, address: HostPort, waited: Duration) -> Self {
        Self(.workersMissing, "only \(found) of \(expected) workers dialled in to \(address) within \(waited): start more with `fanbench-worker --coordinator HOST:\(address.port) --size-mb N`, or lower --expect",
             context: ["found": String(found), "expected": String(expected)])
    }

    package static func noKeys(bucket: String, prefix: String?) -> Self {
        Self(.noKeys, "bucket '\(bucket)' has no keys\(prefix.map { " under '\($0)'" } ?? ""): fill it with `fanbench seed --bucket \(bucket) --objects 100`",
             context: ["bucket": bucket])
    }

    package static func workersKeepDying(sizeMB: Int, deaths: Int, lastLine: String?, logs: String) -> Self {
        Self(.workersKeepDying, "workers of \(sizeMB) MB keep dying (\(deaths) so far)\(lastLine.map { ": \($0)" } ?? ""); see the logs in \(logs)",
             context: ["size_mb": String(sizeMB), "deaths": String(deaths)].merging(lastLine.map { ["last_line": $0] } ?? [:]) { $1 })
    }
}
