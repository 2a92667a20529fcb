/// How an invocation makes its per-key calls (DESIGN.md, Strategies).
package enum Strategy: Sendable, Hashable, CustomStringConvertible {
    /// One blocking client, one call at a time (serial boto3).
    case serial
    /// N OS threads, each with its own blocking libcurl client (boto3 in an executor).
    case threads(Int)
    /// AsyncHTTPClient on SwiftNIO, at most N calls in flight (aioboto3).
    case async(Int)

    /// The name without its concurrency: serial, threads, async.
    package var name: String {
        switch self {
        case .serial: return "serial"
        case .threads: return "threads"
        case .async: return "async"
        }
    }

    package var concurrency: Int {
        switch self {
        case .serial: return 1
        case .threads(let n), .async(let n): return n
        }
    }

    package var description: String {
        if case .serial = self { return "serial" }
        return "\(name):\(concurrency)"
    }

    /// Parses `serial`, `threads:N` or `async:N` (N from 1 to 1024).
    /// The strategy a name and a concurrency stand for (`serial` takes none), as the wire and
    /// the store keep them.
    package init(name: String, concurrency: Int) throws(FanbenchError) {
        try self.init(parsing: name == "serial" ? name : "\(name):\(concurrency)")
    }

    package init(parsing text: String) throws(FanbenchError) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let usage = "use serial, threads:N or async:N with N from 1 to 1024"
        switch parts.first?.lowercased() {
        case "serial" where parts.count == 1:
            self = .serial
        case "threads", "async":
            guard parts.count == 2, let n = Int(parts[1]), (1...1024).contains(n) else {
                throw FanbenchError("strategy '\(text)' needs a concurrency: \(usage)", exitCode: 2)
            }
            self = parts[0].lowercased() == "threads" ? .threads(n) : .async(n)
        default:
            throw FanbenchError("unknown strategy '\(text)': \(usage)", exitCode: 2)
        }
    }
}
