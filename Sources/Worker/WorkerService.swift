import FanbenchBase
import FanbenchProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// `fanbench-worker`: dials the coordinator (with backoff), proves it holds the token,
/// reports its limits, then runs invocations until told to stop, with heartbeats while busy.
/// A `Service`: on graceful shutdown (SIGTERM from `docker stop` or an eviction) an idle
/// worker leaves at once, and a busy one tells the coordinator (`failed`, "worker stopping",
/// `retire`) so its invocation is re-queued now rather than after the silence timeout.
package struct WorkerService: Service {
    package struct Options: Sendable {
        package var coordinator: HostPort
        package var sizeMB: Int
        package var token: String
        package var workerID: String
        package var version: String
        package var maxLineBytes = defaultMaxLineBytes
        /// TLS to the coordinator (`ControlTLS.client`) and the CA file it trusts (for messages); nil: plaintext.
        package var tls: ControlTLS.Side?
        package var tlsCA: String?
        /// How long to keep trying to reach the coordinator.
        package var dialTimeout: Duration = .seconds(60)
        package var heartbeatInterval: Duration = .seconds(1)
        /// Serve one invocation, then exit (cold starts).
        package var once = false
        /// The S3 endpoint this worker's calls go to instead of the assignment's: a local run's
        /// proxy listener of this worker's own (env FANBENCH_S3_ENDPOINT, set by the launcher).
        package var endpointOverride: String?

        package init(coordinator: HostPort, sizeMB: Int, token: String, workerID: String, version: String) {
            self.coordinator = coordinator
            self.sizeMB = sizeMB
            self.token = token
            self.workerID = workerID
            self.version = version
        }
    }

    package let options: Options
    package let executor: any InvocationExecutor
    package let limits: WorkerLimits
    package let logger: Logger
    private let stop = StopSignal()

    package init(options: Options, executor: any InvocationExecutor, limits: WorkerLimits, logger: Logger) {
        self.options = options
        self.executor = executor
        self.limits = limits
        self.logger = logger
    }

    package func run() async throws {
        try await withGracefulShutdownHandler {
            try await session()
        } onGracefulShutdown: { [stop] in
            stop.stop()
        }
    }

    private func session() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let address = options.coordinator
        do {
            guard let channel = try await dial(group: group) else {
                logger.info("stopped before joining", metadata: ["worker": "\(options.workerID)"])
                try? await group.shutdownGracefully()
                return
            }
            do {
                try await channel.executeThenClose { inbound, outbound in
                    let stream = MessageStream(outbound: outbound)
                    var iterator = inbound.makeAsyncIterator()
                    // A coordinator whose accept queue overflowed leaves a connection the kernel
                    // says is open and nobody serves: without a limit the worker would wait forever.
                    let silent = channel.channel.eventLoop.scheduleTask(in: .seconds(30)) { channel.channel.close(promise: nil) }
                    defer { silent.cancel() }
                    do {
                        try await handshake(stream, &iterator)
                    } catch where options.tls != nil {
                        // The TLS handshake runs under the first read: say what its failure means.
                        if let meaning = ControlTLS.explain(error, ca: options.tlsCA ?? "") { throw WorkerError.tls(address.description, meaning) }
                        throw error
                    }
                    silent.cancel()
                    do {
                        try await serve(stream, &iterator, channel: channel.channel)
                    } catch let e as ProtocolError where !stop.isStopped {
                        // Say why before going, so the coordinator's log and abandonment reasons name it.
                        try? await stream.send(.error(ProtocolErrorMessage(reason: "worker \(options.workerID): \(e.reason)")))
                        throw WorkerError.protocolViolation(address.description, e.reason)
                    }
                }
            } catch let error as WorkerError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch where stop.isStopped {
                // We closed the connection ourselves to leave.
            } catch {
                throw WorkerError.lostCoordinator(address.description, Self.describe(error))
            }
        } catch {
            // An invocation may still be blocked on the broken network: give the clients a
            // moment to close, but do not wait for its calls.
            let executor = self.executor
            await Self.waitAtMost(.seconds(2)) { await executor.shutdown() }
            try? await group.shutdownGracefully()
            throw error
        }
        let executor = self.executor
        if stop.isStopped {
            logger.info("stopped", metadata: ["worker": "\(options.workerID)"])
            await Self.waitAtMost(.seconds(2)) { await executor.shutdown() }
        } else {
            await executor.shutdown()
        }
        try? await group.shutdownGracefully()
    }

    /// Dials until connected, the timeout, or a stop (then nil: a worker told to stop before it
    /// joined just leaves).
    private func dial(group: MultiThreadedEventLoopGroup) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer>? {
        let deadline = ContinuousClock.now + options.dialTimeout
        var backoff = Duration.milliseconds(100)
        var lastReported = ""
        var failingSince: ContinuousClock.Instant?
        while !stop.isStopped {
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
                    .connect(host: options.coordinator.host, port: options.coordinator.port) { channel in
                        MessageStream.configure(channel, maxLineBytes: options.maxLineBytes, tls: options.tls)
                    }
            } catch {
                guard ContinuousClock.now + backoff < deadline else {
                    throw WorkerError.unreachable(options.coordinator.description, Self.describe(error))
                }
                // Say so (once per kind of error) when it keeps failing, so a permanent problem
                // (a refused socket option, a wrong address) does not hide for the whole timeout.
                let since = failingSince ?? ContinuousClock.now
                failingSince = since
                let reason = Self.describe(error)
                if ContinuousClock.now - since >= .seconds(5), reason != lastReported {
                    lastReported = reason
                    logger.warning("cannot reach the coordinator yet; still trying", metadata: [
                        "coordinator": "\(options.coordinator)", "error": "\(reason)"])
                } else {
                    logger.debug("coordinator not reachable yet", metadata: ["error": "\(reason)"])
                }
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
        return nil
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
        let first = try await MessageStream.next(&iterator)
        // A coordinator that requires TLS says so to a plaintext worker (and nothing else).
        if case .reject(let r)? = first { throw WorkerError.refused(options.coordinator.description, r.reason) }
        guard case .challenge(let challenge)? = first else {
            throw WorkerError.handshake(options.coordinator.description, "did not open with a challenge (closed, or silent for 30 s)")
        }
        guard challenge.protocol == ProtocolVersion.current else {
            throw WorkerError.protocolMismatch(options.coordinator.description, theirs: challenge.protocol, ours: ProtocolVersion.current)
        }
        try await stream.send(.hello(Hello(workerId: options.workerID, version: options.version, sizeMb: options.sizeMB,
                                           limits: limits, auth: TokenAuth.answer(token: options.token, nonce: challenge.nonce),
                                           singleUse: options.once ? true : nil, maxLineBytes: options.maxLineBytes)))
        switch try await MessageStream.next(&iterator) {
        case .welcome?:
            logger.info("joined the coordinator", metadata: ["worker": "\(options.workerID)", "size_mb": "\(options.sizeMB)"])
        case .reject(let r)?:
            throw WorkerError.refused(options.coordinator.description, r.reason)
        case .error(let e)?:
            throw WorkerError.refused(options.coordinator.description, e.reason)
        default:
            throw WorkerError.handshake(options.coordinator.description, "closed the connection during the handshake")
        }
    }

    private func serve(_ stream: MessageStream, _ iterator: inout MessageStream.Inbound.AsyncIterator, channel: any Channel) async throws {
        while true {
            // Idle: a stop closes the connection, which ends the wait for the next message.
            stop.whenStopped { channel.close(promise: nil) }
            guard let message = try await MessageStream.next(&iterator) else { return }
            switch message {
            case .assign(var assign):
                if let chunks = assign.keyChunks, chunks > 0 {
                    // A stop while the keys arrive only takes note: the invocation is given back
                    // (retiring) once they are in, instead of cutting the connection mid-line.
                    stop.whenStopped {}
                    assign.keys = try await Self.readKeys(assign, chunks: chunks, &iterator)
                    assign.keyChunks = nil
                }
                if let endpoint = options.endpointOverride { assign.target.endpoint = endpoint }
                let received = monotonicNanoseconds()
                // Stopped before or during it: give it back.
                guard !stop.isStopped, let outcome = try await runWithHeartbeats(assign, receivedNs: received, stream) else {
                    try await stream.send(.failed(Failed(invocationId: assign.invocationId, reason: Self.stoppingReason, retire: true)))
                    return
                }
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

    /// The `keys` chunks that follow an assignment, in order; anything else is a protocol error.
    static func readKeys(_ assign: Assign, chunks: Int, _ iterator: inout MessageStream.Inbound.AsyncIterator) async throws -> [String] {
        var keys: [String] = []
        for n in 0..<chunks {
            guard case .keys(let chunk)? = try await MessageStream.next(&iterator), chunk.invocationId == assign.invocationId else {
                throw ProtocolError("expected keys chunk \(n + 1) of \(chunks) for \(assign.invocationId)")
            }
            keys += chunk.keys
        }
        return keys
    }

    /// What a stopping worker tells the coordinator about the invocation it gives back.
    package static let stoppingReason = "worker stopping"

    /// Runs one invocation while sending a heartbeat a second; nil when the worker was told
    /// to stop meanwhile. When a heartbeat cannot be sent (the coordinator is gone), this
    /// throws at once instead of waiting for the invocation's calls, which may hang on the
    /// same broken network; the coordinator re-queues the work.
    private func runWithHeartbeats(_ assign: Assign, receivedNs: UInt64, _ stream: MessageStream) async throws -> Message? {
        enum Event: Sendable {
            case done(Message)
            case lost(any Error)
            case stopping
        }
        let progress = NIOLockedValueBox(0)
        let executor = self.executor
        let interval = options.heartbeatInterval
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        stop.whenStopped { continuation.yield(.stopping) }
        // Unstructured on purpose: a blocking strategy's calls cannot be cancelled, and a lost
        // coordinator or a stop must not wait for them.
        let work = Task {
            continuation.yield(.done(await executor.run(assign, receivedNs: receivedNs, progress: progress)))
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
            case .stopping: return nil
            }
        }
        throw CancellationError()
    }
}

/// A graceful stop, set once: runs whatever the worker last said a stop should do.
final class StopSignal: Sendable {
    private let state = NIOLockedValueBox<(stopped: Bool, action: (@Sendable () -> Void)?)>((false, nil))

    var isStopped: Bool { state.withLockedValue { $0.stopped } }

    func stop() {
        let action = state.withLockedValue { s -> (@Sendable () -> Void)? in
            guard !s.stopped else { return nil }
            s.stopped = true
            return s.action
        }
        action?()
    }

    /// What a stop does from now on; done at once when already stopped.
    func whenStopped(_ action: @escaping @Sendable () -> Void) {
        if state.withLockedValue({ s -> Bool in s.action = action; return s.stopped }) { action() }
    }
}
