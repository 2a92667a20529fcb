import FanbenchBase

/// Splits an assignment into lines the receiver takes: the `assign` itself when it fits
/// `maxLineBytes`, else an `assign` without its keys followed by `keys` chunks that each fit.
/// Any shard works this way — a million keys, keys of 1,024 bytes — and nothing is sent that
/// the worker would refuse. Sizes are computed from the keys' JSON length, not by trial.
package enum AssignmentFraming {
    /// What a `keys` line costs besides its keys (type, invocation id, brackets), generously.
    static func chunkOverhead(_ invocationID: String) -> Int { 64 + jsonLength(invocationID) }

    /// The messages to send for `assign` to a receiver whose lines may be `maxLineBytes` long.
    package static func messages(for assign: Assign, maxLineBytes: Int) -> [Message] {
        guard let keys = assign.keys, !keys.isEmpty else { return [.assign(assign)] }
        var head = assign
        head.keys = nil
        head.keyChunks = nil
        let headBytes = MessageCodec.encode(.assign(head)).count
        let keyBytes = keys.reduce(0) { $0 + jsonLength($1) + 1 }
        if headBytes + keyBytes + 32 <= maxLineBytes { return [.assign(assign)] }
        let budget = maxLineBytes - chunkOverhead(assign.invocationId)
        var chunks: [[String]] = []
        var current: [String] = []
        var used = 0
        for key in keys {
            let cost = jsonLength(key) + 1
            if used + cost > budget, !current.isEmpty {
                chunks.append(current)
                current = []
                used = 0
            }
            current.append(key)
            used += cost
        }
        if !current.isEmpty { chunks.append(current) }
        head.keyChunks = chunks.count
        return [.assign(head)] + chunks.map { .keys(KeysChunk(invocationId: assign.invocationId, keys: $0)) }
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
