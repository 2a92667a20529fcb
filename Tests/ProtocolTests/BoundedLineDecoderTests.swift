import FanbenchProtocol
import NIOCore
import NIOEmbedded
import Testing

@Suite struct BoundedLineDecoderTests {
    func channel(max: Int) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(BoundedLineDecoder(maxLength: max)))
        return channel
    }

    func lines(_ channel: EmbeddedChannel) throws -> [String] {
        var out: [String] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { out.append(String(buffer: buffer)) }
        return out
    }

    @Test func splitsLinesAcrossWritesAndDropsCR() throws {
        let c = try channel(max: 64)
        try c.writeInbound(ByteBuffer(string: "{\"a\":1}\n{\"b\""))
        try c.writeInbound(ByteBuffer(string: ":2}\r\n\n"))
        #expect(try lines(c) == ["{\"a\":1}", "{\"b\":2}", ""])
        _ = try c.finish()
    }

    @Test func oversizedLineFailsAsSoonAsItIsKnown() throws {
        let c = try channel(max: 16)
        // No newline yet, but already too long: it must not wait for one.
        #expect(throws: ProtocolError.self) { try c.writeInbound(ByteBuffer(string: String(repeating: "x", count: 17))) }
        _ = try? c.finish()
    }

    @Test func lineAtTheLimitPasses() throws {
        let c = try channel(max: 16)
        try c.writeInbound(ByteBuffer(string: String(repeating: "y", count: 16) + "\n"))
        #expect(try lines(c) == [String(repeating: "y", count: 16)])
        _ = try c.finish()
    }

    @Test func truncatedLineAtCloseIsAnError() throws {
        let c = try channel(max: 64)
        try c.writeInbound(ByteBuffer(string: "{\"type\":\"hel"))
        #expect(throws: ProtocolError.self) { _ = try c.finish() }
    }
}
