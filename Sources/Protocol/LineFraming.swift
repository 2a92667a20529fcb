import NIOCore

/// Splits the byte stream into `\n`-terminated lines of at most `maxLength` bytes (a trailing
/// `\r` is dropped). A longer line is an error, raised as soon as it is known: nothing waits
/// for an endless line to finish.
package struct BoundedLineDecoder: ByteToMessageDecoder {
    package typealias InboundOut = ByteBuffer

    package let maxLength: Int
    private var scanned = 0

    package init(maxLength: Int) {
        self.maxLength = maxLength
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        if let newline = view.dropFirst(scanned).firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            guard length <= maxLength else { throw ProtocolError("line longer than \(maxLength) bytes") }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") { line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1)! }
            scanned = 0
            context.fireChannelRead(wrapInboundOut(line))
            return .continue
        }
        scanned = view.count
        if view.count > maxLength { throw ProtocolError("line longer than \(maxLength) bytes") }
        return .needMoreData
    }

    package mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            throw ProtocolError("connection closed in the middle of a line")
        }
        return .needMoreData
    }
}

/// Default maximum line size: 8 MiB.
package let defaultMaxLineBytes = 8 * 1024 * 1024
