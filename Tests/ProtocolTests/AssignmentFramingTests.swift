import FanbenchBase
import FanbenchProtocol
import Foundation
import Testing

/// No line the coordinator sends is longer than the worker takes, whatever the shard.
@Suite struct AssignmentFramingTests {
    let target = TargetSpec(endpoint: "https://127.0.0.1:8334", bucket: "b", region: "us-east-1", pathStyle: true)

    func assign(_ keys: [String]) -> Assign {
        Assign(invocationId: "c0-r0-s0", op: "get-object-acl", strategy: "async", concurrency: 32, keys: keys, list: nil, target: target)
    }

    func check(_ keys: [String], limit: Int, sourceLocation: SourceLocation = #_sourceLocation) throws -> [Message] {
        let messages = AssignmentFraming.messages(for: assign(keys), maxLineBytes: limit)
        var back: [String] = []
        for m in messages {
            let line = MessageCodec.encode(m)
            #expect(line.count <= limit, "a \(m.type) line of \(line.count) bytes over the \(limit) limit", sourceLocation: sourceLocation)
            #expect(try MessageCodec.decode(line) == m, sourceLocation: sourceLocation)
            switch m {
            case .assign(let a): back += a.keys ?? []
            case .keys(let k): back += k.keys
            default: Issue.record("unexpected \(m.type)", sourceLocation: sourceLocation)
            }
        }
        #expect(back == keys, "every key once, in order", sourceLocation: sourceLocation)
        return messages
    }

    @Test func aSmallShardIsOneLine() throws {
        let messages = try check((0..<100).map { "obj-\($0)" }, limit: defaultMaxLineBytes)
        #expect(messages.count == 1)
    }

    @Test func ninethousandKeysOf990BytesGoInChunks() throws {
        // 990 bytes in segments of at most 255, as SeaweedFS stores them.
        let keys = (0..<9000).map { i in ["a", "b", "c"].map { String(repeating: $0, count: 250) + "/" }.joined() + String(format: "%0237d", i) }
        #expect(keys.allSatisfy { $0.utf8.count == 990 })
        let messages = try check(keys, limit: defaultMaxLineBytes)
        #expect(messages.count > 2)
        guard case .assign(let head) = messages[0] else { Issue.record("no assign first"); return }
        #expect(head.keys == nil && head.keyChunks == messages.count - 1)
    }

    @Test func keysThatNeedEscapesStillFit() throws {
        // Quotes, backslashes and control characters grow in JSON; the chunks still fit.
        let keys = (0..<2000).map { i in String(repeating: "\"\\\u{01}", count: 300) + String(i) }
        _ = try check(keys, limit: AssignmentFraming.minimumLineBytes)
    }
}
