import FanbenchProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// `fanbench-worker`: dials the coordinator (with backoff), proves it holds the token,
/// reports its limits, then runs invocations until told to stop, with heartbeats while busy.
public struct WorkerService: Sendable {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        public var sizeMB: Int
        public var token: String
        public var workerID: String
        public var version: String
        public var maxLineBytes = defaultMaxLineBytes
        /// How long to keep trying to reach the coordinator.
        public var dialTimeout: Duration = .seconds(60)
        public var heartbeatInterval: Duration = .seconds(1)
        /// Serve one invocation, then exit (cold starts).
        public var once = false

        public init(host: String, port: Int, sizeMB: Int, token: String, workerID: String, version: String) {
            self.host = host
            self.port = port
            self.sizeMB = sizeMB
            self.token = token
            self.workerID = workerID
            self.version = version
        }
    }

    public let options: Options
    public let executor: any InvocationExecutor
    public let limits: WorkerLimits
    public let logger: Logger

    public init(options: Options, executor: any InvocationExecutor, limits: WorkerLimits, logger: Logger) {
        self.options = options
        self.executor = executor
        self.limits = limits
        self.logger = logger
    }

    /// Parses `HOST:PORT` (`[v6]:port` too); `listening` allows port 0 (any free port).
    public static func parseAddress(_ text: String, listening: Bool = false) throws(FanbenchError) -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              ((listening ? 0 : 1)...65535).contains(port) else {
            throw FanbenchError("'\(text)' is not HOST:PORT (e.g. 127.0.0.1:7100)", exitCode: 2)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw FanbenchError("'\(text)' has no host (e.g. 127.0.0.1:7100)", exitCode: 2) }
        return (host, port)
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let channel = try await dial(group: group)
            do {
                try await channel.executeThenClose { inbound, outbound in
                    let stream = MessageStream(outbound: outbound)
                    var iterator = inbound.makeAsyncIterator()
                    try await handshake(stream, &iterator)
                    try await serve(stream, &iterator)
                }
            } catch let error as FanbenchError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw FanbenchError("lost the coordinator at \(options.host):\(options.port) (\(Self.describe(error))): it stopped, or the network between us failed; start the worker again once the coordinator is back")
            }
        } catch {
            // An invocation may still be blocked on the broken network: give the clients a
            // moment to close, but do not wait for its calls.
            let executor = self.executor
            await Self.waitAtMost(.seconds(2)) { await executor.shutdown() }
            try? await group.shutdownGracefully()
            throw error
        }
        await executor.shutdown()
        try? await group.shutdownGracefully()
    }

    private func dial(group: MultiThreadedEventLoopGroup) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let deadline = ContinuousClock.now + options.dialTimeout
        var backoff = Duration.milliseconds(100)
        var lastReported = ""
        var failingSince: ContinuousClock.Instant?
        while true {
            do {
                return try await ClientBootstrap(group: group)
                    .connectTimeout(.seconds(5))
                    .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                    // A coordinator that vanished without closing (a cut link, a killed node) is
                    // noticed in ~25 s when idle (keepalive) and 30 s with data unacknowledged,
                    // instead of the kernel's 15 minutes.
                    .channelOption(.socketOption(.so_keepalive), value: 1)
                    .channelOption(Self.tcpOption(TCP_KEEPIDLE), value: 10)
                    .channelOption(Self.tcpOption(TCP_KEEPINTVL), value: 5)
                    .channelOption(Self.tcpOption(TCP_KEEPCNT), value: 3)
                    .channelOption(Self.tcpOption(Int32(TCP_USER_TIMEOUT)), value: 30_000)
                    .connect(host: options.host, port: options.port) { channel in
                        MessageStream.configure(channel, maxLineBytes: options.maxLineBytes)
                    }
            } catch {
                guard ContinuousClock.now + backoff < deadline else {
                    throw FanbenchError("cannot reach the coordinator at \(options.host):\(options.port) (\(error)); is `fanbench run --workers external` listening there?")
                }
                // Say so (once per kind of error) when it keeps failing, so a permanent problem
                // (a refused socket option, a wrong address) does not hide for the whole timeout.
                let since = failingSince ?? ContinuousClock.now
                failingSince = since
                let reason = Self.describe(error)
                if ContinuousClock.now - since >= .seconds(5), reason != lastReported {
                    lastReported = reason
                    logger.warning("cannot reach the coordinator yet; still trying", metadata: [
                        "coordinator": "\(options.host):\(options.port)", "error": "\(reason)"])
                } else {
                    logger.debug("coordinator not reachable yet", metadata: ["error": "\(reason)"])
                }
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    /// Runs `body` in its own task and returns when it ends or after `limit`, whichever is first.
    static func waitAtMost(_ limit: Duration, _ body: @escaping @Sendable () async -> Void) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let resumed = NIOLockedValueBox(false)
            let finish: @Sendable () -> Void = {
                if resumed.withLockedValue({ r in defer { r = true }; return !r }) { done.resume() }
            }
            Task {
                await body()
                finish()
            }
            Task {
                try? await Task.sleep(for: limit)
                finish()
            }
        }
    }

    static func tcpOption(_ name: Int32) -> ChannelOptions.Types.SocketOption {
        ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: name))
    }

    /// A network error as one readable phrase.
    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }

    private func handshake(_ stream: MessageStream, _ iterator: inout MessageStream.Inbound.AsyncIterator) async throws {
        guard case .challenge(let challenge)? = try await MessageStream.next(&iterator) else {
            throw FanbenchError("the coordinator did not open with a challenge")
        }
        guard challenge.protocol == ProtocolVersion.current else {
            throw FanbenchError("the coordinator speaks protocol \(challenge.protocol), this worker \(ProtocolVersion.current): run the same fanbench version on both")
        }
        try await stream.send(.hello(Hello(workerId: options.workerID, version: options.version, sizeMb: options.sizeMB,
                                           limits: limits, auth: TokenAuth.answer(token: options.token, nonce: challenge.nonce),
                                           singleUse: options.once ? true : nil)))
        switch try await MessageStream.next(&iterator) {
        case .welcome?:
            logger.info("joined the coordinator", metadata: ["worker": "\(options.workerID)", "size_mb": "\(options.sizeMB)"])
        case .reject(let r)?:
            throw FanbenchError("the coordinator refused this worker: \(r.reason)")
        case .error(let e)?:
            throw FanbenchError("the coordinator refused this worker: \(e.reason)")
        default:
            throw FanbenchError("the coordinator closed the connection during the handshake")
        }
    }

    private func serve(_ stream: MessageStream, _ iterator: inout MessageStream.Inbound.AsyncIterator) async throws {
        while let message = try await MessageStream.next(&iterator) {
            switch message {
            case .assign(let assign):
                let outcome = try await runWithHeartbeats(assign, stream)
                try await stream.send(outcome)
                if options.once { return }
            case .shutdown:
                return
            default:
                try await stream.send(.error(ProtocolErrorMessage(reason: "unexpected \(message.type) from the coordinator")))
                return
            }
        }
    }

    /// Runs one invocation while sending a heartbeat a second. When a heartbeat cannot be sent
    /// (the coordinator is gone), this throws at once instead of waiting for the invocation's
    /// calls, which may hang on the same broken network; the coordinator re-queues the work.
    private func runWithHeartbeats(_ assign: Assign, _ stream: MessageStream) async throws -> Message {
        enum Event: Sendable {
            case done(Message)
            case lost(any Error)
        }
        let progress = NIOLockedValueBox(0)
        let executor = self.executor
        let interval = options.heartbeatInterval
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let work = Task {
            continuation.yield(.done(await executor.run(assign, progress: progress)))
        }
        let heartbeats = Task {
            do {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    try await stream.send(.progress(Progress(invocationId: assign.invocationId, callsDone: progress.withLockedValue { $0 })))
                }
            } catch is CancellationError {
            } catch {
                continuation.yield(.lost(error))
            }
        }
        defer {
            heartbeats.cancel()
            work.cancel()
        }
        for await event in events {
            switch event {
            case .done(let outcome): return outcome
            case .lost(let error): throw error
            }
        }
        throw CancellationError()
    }
}
