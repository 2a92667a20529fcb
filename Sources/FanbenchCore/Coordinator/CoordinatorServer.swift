import FanbenchProtocol
import Logging
import NIOCore
import NIOPosix

/// Accepts worker connections: challenge, hello (protocol version, token MAC in constant time,
/// size), then relays messages to the `RunCoordinator`. A connection that sends garbage, an
/// oversized line, a wrong token or a message out of order gets an `error` (or `reject`) line
/// and is closed; the run and every other connection go on.
public struct CoordinatorServer: Sendable {
    public var token: String
    public var maxLineBytes: Int
    public var handshakeTimeout: Duration
    public let logger: Logger

    public init(token: String, maxLineBytes: Int = defaultMaxLineBytes, handshakeTimeout: Duration = .seconds(10), logger: Logger) {
        self.token = token
        self.maxLineBytes = maxLineBytes
        self.handshakeTimeout = handshakeTimeout
        self.logger = logger
    }

    /// Binds the listening socket; call `serve` on the result.
    public func bind(host: String, port: Int, group: any EventLoopGroup) async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
        let maxLine = maxLineBytes
        do {
            return try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { channel in MessageStream.configure(channel, maxLineBytes: maxLine) }
        } catch {
            throw FanbenchError("cannot listen on \(host):\(port) (\(error)): choose another address with --listen", exitCode: 2)
        }
    }

    /// Serves connections until cancelled.
    public func serve(_ server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, coordinator: RunCoordinator) async throws {
        try await server.executeThenClose { inbound in
            try await withThrowingDiscardingTaskGroup { group in
                for try await connection in inbound {
                    group.addTask { await handle(connection, coordinator: coordinator) }
                }
            }
        }
    }

    func handle(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, coordinator: RunCoordinator) async {
        let channel = connection.channel
        let peer = channel.remoteAddress.map { "\($0)" } ?? "?"
        // A peer that never completes the handshake is cut off.
        let timeout = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(handshakeTimeout.components.seconds) * 1_000_000_000)) {
            channel.close(promise: nil)
        }
        var workerID: String?
        do {
            try await connection.executeThenClose { inbound, outbound in
                let stream = MessageStream(outbound: outbound)
                var iterator = inbound.makeAsyncIterator()
                do {
                    let nonce = TokenAuth.makeNonce()
                    try await stream.send(.challenge(Challenge(nonce: nonce)))
                    guard let first = try await MessageStream.next(&iterator) else { return }
                    guard case .hello(let hello) = first else {
                        try await refuse(stream, "expected hello, got \(first.type)", peer: peer, error: true)
                        return
                    }
                    guard hello.protocol == ProtocolVersion.current else {
                        try await refuse(stream, "protocol mismatch: this coordinator speaks protocol \(ProtocolVersion.current), the worker \(hello.protocol)", peer: peer)
                        return
                    }
                    guard TokenAuth.verify(auth: hello.auth, token: token, nonce: nonce) else {
                        try await refuse(stream, "authentication failed: the worker's token does not match (FANBENCH_TOKEN / --token-file)", peer: peer)
                        return
                    }
                    timeout.cancel()
                    if let reason = await coordinator.register(hello.workerId, sizeMB: hello.sizeMb, limits: hello.limits,
                                                                  singleUse: hello.singleUse ?? false, stream: stream, channel: channel) {
                        try await refuse(stream, reason, peer: peer)
                        return
                    }
                    workerID = hello.workerId
                    while let message = try await MessageStream.next(&iterator) {
                        if let reason = await coordinator.receive(message, from: hello.workerId) {
                            try await refuse(stream, reason, peer: peer, error: true)
                            return
                        }
                    }
                } catch let e as ProtocolError {
                    try? await refuse(stream, e.reason, peer: peer, error: true)
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
        timeout.cancel()
        if let workerID { await coordinator.lost(workerID) }
    }

    private func refuse(_ stream: MessageStream, _ reason: String, peer: String, error: Bool = false) async throws {
        logger.warning("refused a connection", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        try await stream.send(error ? .error(ProtocolErrorMessage(reason: reason)) : .reject(Reject(reason: reason)))
    }
}
