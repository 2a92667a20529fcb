import NIOCore

/// Protocol messages over one connection's async channel: one JSON object per line.
package struct MessageStream: Sendable {
    package typealias Inbound = NIOAsyncChannelInboundStream<ByteBuffer>
    package typealias Outbound = NIOAsyncChannelOutboundWriter<ByteBuffer>

    private let outbound: Outbound

    package init(outbound: Outbound) { self.outbound = outbound }

    package func send(_ message: Message) async throws {
        try await outbound.write(Self.line(message))
    }

    /// Sends `messages` in one write: nothing another task sends comes between them.
    package func send(_ messages: [Message]) async throws {
        try await outbound.write(contentsOf: messages.map(Self.line))
    }

    /// A message as its line, newline included.
    private static func line(_ message: Message) -> ByteBuffer {
        var buffer = ByteBuffer(bytes: MessageCodec.encode(message))
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    /// The next message; nil at end of stream. Bad lines throw `ProtocolError`.
    package static func next(_ iterator: inout Inbound.AsyncIterator) async throws -> Message? {
        guard let line = try await iterator.next() else { return nil }
        return try MessageCodec.decode(Array(line.readableBytesView))
    }

    /// Adds TLS (when given) and the line framing (bounded) to a new channel and wraps it for async use.
    package static func configure(_ channel: any Channel, maxLineBytes: Int,
                                  tls: ControlTLS.Side? = nil) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> {
        channel.eventLoop.makeCompletedFuture {
            if let tls { try ControlTLS.add(tls, to: channel) }
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(BoundedLineDecoder(maxLength: maxLineBytes)))
            return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
    }
}
