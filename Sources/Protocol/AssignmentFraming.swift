import FanbenchBase

/// Splits an assignment into lines the receiver takes: the `assign` itself when it fits
/// `maxLineBytes`, else an `assign` without its keys followed by `keys` chunks that each fit.
/// Any shard works this way — a million keys, keys of 1,024 bytes — and nothing is sent that
/// the worker would refuse. Sizes are computed from the keys' JSON length, not by trial.
package enum AssignmentFraming {
    /// What an `assign` line costs besides its keys, an upper bound: its strings' JSON lengths
    /// plus room for every field name, number and bracket. No encoding on the dispatch path.
    static func headBound(_ a: Assign) -> Int {
        1024 + [a.invocationId, a.op, a.strategy, a.target.endpoint, a.target.bucket, a.target.region,
                a.target.caBundle ?? "", a.list?.prefix ?? ""].reduce(0) { $0 + jsonLength($1) }
            + (a.function.map(functionBound) ?? 0)
    }

    /// What a function definition adds to an `assign` line, an upper bound.
    package static func functionBound(_ f: FunctionDefinition) -> Int {
        256 + ([f.name, f.code, f.handler ?? ""] + f.command + f.env.flatMap { [$0.key, $0.value] })
            .reduce(0) { $0 + jsonLength($1) + 1 }
    }

    /// The most a function definition may take on the wire (the plan refuses larger ones),
    /// leaving most of the smallest line for keys.
    package static let maximumFunctionBytes = 16 * 1024

    /// The messages to send for `assign` to a receiver whose lines may be `maxLineBytes` long.
    package static func messages(for assign: Assign, maxLineBytes: Int) -> [Message] {
        guard let keys = assign.keys, !keys.isEmpty else { return [.assign(assign)] }
        let costs = keys.map { jsonLength($0) + 1 }  // each key and its comma
        let head = headBound(assign)
        if head + costs.reduce(0, +) <= maxLineBytes { return [.assign(assign)] }
        // A `keys` line is `{"type":"keys","invocation_id":…,"keys":[…]}`: the head bound covers it.
        let budget = maxLineBytes - head
        var chunks: [[String]] = []
        var start = 0, used = 0
        for (i, cost) in costs.enumerated() {
            if used + cost > budget, i > start {
                chunks.append(Array(keys[start..<i]))
                start = i
                used = 0
            }
            used += cost
        }
        chunks.append(Array(keys[start...]))
        var first = assign
        first.keys = nil
        first.keyChunks = chunks.count
        return [.assign(first)] + chunks.map { .keys(KeysChunk(invocationId: assign.invocationId, keys: $0)) }
    }

    /// The bytes `s` takes as a JSON string (quotes and escapes included), an upper bound.
    package static func jsonLength(_ s: String) -> Int {
        var n = 2
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): n += 2
            case 0..<0x20: n += 6
            default: n += 1
            }
        }
        return n
    }

    /// The smallest line limit a worker may state: room for one 1,024-byte key (as \u escapes) and the rest.
    package static let minimumLineBytes = 64 * 1024
}
