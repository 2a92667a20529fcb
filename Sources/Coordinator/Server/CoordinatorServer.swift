import FanbenchBase
import FanbenchProtocol
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Accepts worker connections: challenge, hello (protocol version, token MAC in constant time,
/// size), then relays messages to the `RunCoordinator`. A connection that sends garbage, an
/// oversized line, a wrong token or a message out of order gets an `error` (or `reject`) line
/// and is closed; the run and every other connection go on. A `Service`: it serves until the
/// group shuts down, then stops accepting and closes every connection.
package struct CoordinatorServer: Service {
    package struct Configuration: Sendable {
        package var token: String
        package var maxLineBytes = defaultMaxLineBytes
        package var handshakeTimeout: Duration = .seconds(10)
        /// TLS required of every worker (`ControlTLS.server`); nil: plaintext.
        package var tls: ControlTLS.Side?
        package init(token: String) { self.token = token }
    }

    package typealias Listener = NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>

    package let configuration: Configuration
    package let coordinator: RunCoordinator
    private let listener: Listener
    package let logger: Logger

    /// The bound address's port (the one asked for, or the one the system chose for port 0).
    package var port: Int { listener.channel.localAddress?.port ?? 0 }

    /// Binds the listening socket.
    package static func bind(_ address: HostPort, configuration: Configuration, coordinator: RunCoordinator,
                             group: any EventLoopGroup, logger: Logger) async throws -> CoordinatorServer {
        let maxLine = configuration.maxLineBytes
        let tls = configuration.tls
        do {
            let listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                // A thousand workers dial at once: with NIO's default backlog (256) the accept
                // queue overflows, and the kernel forgets connections their workers think are
                // open (they wait for a challenge that never comes). The kernel caps it at somaxconn.
                .serverChannelOption(.backlog, value: 4096)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: address.host, port: address.port) { channel in MessageStream.configure(channel, maxLineBytes: maxLine, tls: tls) }
            return CoordinatorServer(configuration: configuration, coordinator: coordinator, listener: listener, logger: logger)
        } catch {
            throw FanbenchError.badInput("cannot listen on \(address) (\(error)): choose another address with --listen")
        }
    }

    /// Serves connections until the group shuts down (or the task is cancelled).
    package func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await listener.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in inbound {
                            group.addTask { await handle(connection) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Shut down (or cancelled): the listener and every connection are closed.
        }
    }

    func handle(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let channel = connection.channel
        let peer = channel.remoteAddress.map { "\($0)" } ?? "?"
        // A peer that never completes the handshake is cut off.
        let timeout = channel.eventLoop.scheduleTask(in: .nanoseconds(configuration.handshakeTimeout.nanoseconds)) {
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
                        try await refuse(stream, "protocol mismatch: this coordinator speaks protocol \(ProtocolVersion.current), the worker \(hello.protocol): run the same fanbench version on both", peer: peer)
                        return
                    }
                    guard TokenAuth.verify(auth: hello.auth, token: configuration.token, nonce: nonce) else {
                        try await refuse(stream, "authentication failed: the worker's token does not match (FANBENCH_TOKEN / --token-file)", peer: peer)
                        return
                    }
                    let workerLine = hello.maxLineBytes ?? defaultMaxLineBytes
                    guard workerLine >= AssignmentFraming.minimumLineBytes else {
                        try await refuse(stream, "the worker's line limit of \(workerLine) bytes is below the \(AssignmentFraming.minimumLineBytes) a 1,024-byte key needs: run a fanbench-worker of the same version", peer: peer)
                        return
                    }
                    timeout.cancel()
                    if let reason = await coordinator.register(hello.workerId, sizeMB: hello.sizeMb, limits: hello.limits,
                                                                  singleUse: hello.singleUse ?? false, maxLineBytes: workerLine,
                                                                  link: ChannelWorkerLink(stream: stream, channel: channel)) {
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
