/// How an invocation makes its per-key calls (DESIGN.md, Strategies).
package enum Strategy: Sendable, Hashable, CustomStringConvertible {
    /// One blocking client, one call at a time (serial boto3).
    case serial
    /// N OS threads, each with its own blocking libcurl client (boto3 in an executor).
    case threads(Int)
    /// AsyncHTTPClient on SwiftNIO, at most N calls in flight (aioboto3).
    case async(Int)
    /// A user's own Lambda handler, by the name the plan gives it, run through the Runtime API
    /// (DESIGN.md, Functions). It makes its calls however its code does.
    case function(String)

    /// The name without its concurrency: serial, threads, async.
    package var name: String {
        switch self {
        case .serial: return "serial"
        case .threads: return "threads"
        case .async: return "async"
        case .function: return "function"
        }
    }

    package var concurrency: Int {
        switch self {
        case .serial, .function: return 1
        case .threads(let n), .async(let n): return n
        }
    }

    package var description: String {
        switch self {
        case .serial: return "serial"
        case .function(let name): return "function:\(name)"
        default: return "\(name):\(concurrency)"
        }
    }

    /// The function's name, for `function:NAME`.
    package var functionName: String? {
        if case .function(let name) = self { return name }
        return nil
    }

    /// Whether `name` can name a function: 1–64 of letters, digits, `-`, `_` and `.`.
    package static func isValidFunctionName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e }
    }

    /// Parses `serial`, `threads:N` or `async:N` (N from 1 to 1024).
    /// The strategy a name and a concurrency stand for (`serial` takes none), as the wire and
    /// the store keep them.
    package init(name: String, concurrency: Int, function: String? = nil) throws(FanbenchError) {
        if name == "function" {
            try self.init(parsing: "function:\(function ?? "")")
        } else {
            try self.init(parsing: name == "serial" ? name : "\(name):\(concurrency)")
        }
    }

    package init(parsing text: String) throws(FanbenchError) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let usage = "use serial, threads:N or async:N with N from 1 to 1024, or function:NAME for a function the plan defines"
        switch parts.first?.lowercased() {
        case "serial" where parts.count == 1:
            self = .serial
        case "threads", "async":
            guard parts.count == 2, let n = Int(parts[1]), (1...1024).contains(n) else {
                throw FanbenchError("strategy '\(text)' needs a concurrency: \(usage)", exitCode: 2)
            }
            self = parts[0].lowercased() == "threads" ? .threads(n) : .async(n)
        case "function":
            guard parts.count == 2, Self.isValidFunctionName(parts[1]) else {
                throw FanbenchError("strategy '\(text)' needs a function name (1 to 64 letters, digits, '-', '_' or '.'): \(usage)", exitCode: 2)
            }
            self = .function(parts[1])
        default:
            throw FanbenchError("unknown strategy '\(text)': \(usage)", exitCode: 2)
        }
    }
}
