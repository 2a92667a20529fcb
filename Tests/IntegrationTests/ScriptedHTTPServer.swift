import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP/1.1 server on 127.0.0.1, port 0, answering from a script: the n-th request
/// gets the n-th reply (the last one repeats). For retry and error paths SeaweedFS cannot produce.
final class ScriptedHTTPServer: Sendable {
    struct Reply: Sendable {
        var status: Int
        var body: String
        /// Close the connection without answering (a reset, seen by the client as a dropped connection).
        var drop = false
        /// Never answer (the client's timeout must fire).
        var hang = false
    }

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: any Channel
    private let counter = NIOLockedValueBox(0)
    let port: Int

    var requests: Int { counter.withLockedValue { $0 } }

    init(_ script: [Reply]) async throws {
        let counter = self.counter
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(script: script, counter: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    func shutdown() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let script: [Reply]
        let counter: NIOLockedValueBox<Int>

        init(script: [Reply], counter: NIOLockedValueBox<Int>) {
            self.script = script
            self.counter = counter
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            let n = counter.withLockedValue { v -> Int in v += 1; return v }
            let reply = script[min(n - 1, script.count - 1)]
            if reply.hang { return }
            if reply.drop {
                context.close(promise: nil)
                return
            }
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: String(reply.body.utf8.count))
            headers.add(name: "x-amz-request-id", value: "scripted-\(n)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: reply.status), headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: reply.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
