import FanbenchBase
import FanbenchCoordinator
import FanbenchProtocol
import Logging
import NIOCore
import NIOPosix
import Testing

/// The coordinator's server over real TCP on loopback, port 0, without S3: the handshake,
/// and what it does with peers that send garbage, the wrong token or nothing at all.
@Suite(.timeLimit(.minutes(1)))
struct CoordinatorServerTests {
    static let token = "server-test-token"

    /// Runs a server for a one-size plan, gives `body` its port and the coordinator, then stops it.
    func withServer(handshakeTimeout: Duration = .seconds(10), maxLineBytes: Int = 4096,
                    _ body: (Int, RunCoordinator) async throws -> Void) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let plan = try RunPlan.make(sizes: [try LambdaSize(memoryMB: 1024)], strategies: [.serial], invocations: 1,
                                    keys: ["k"], shardSize: nil)
        let target = TargetSpec(endpoint: "http://s3", bucket: "b", region: "us-east-1", pathStyle: true)
        let coordinator = RunCoordinator(plan: plan, logger: logger) { spec in
            Assign(invocationId: spec.id, op: "head-object", strategy: "serial", concurrency: 1, keys: spec.keys, list: nil, target: target)
        }
        var configuration = CoordinatorServer.Configuration(token: Self.token)
        configuration.handshakeTimeout = handshakeTimeout
        configuration.maxLineBytes = maxLineBytes
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await CoordinatorServer.bind(HostPort(host: "127.0.0.1", port: 0), configuration: configuration,
                                                      coordinator: coordinator, group: group, logger: logger)
        let serving = Task { try await server.run() }
        do {
            try await body(server.port, coordinator)
        } catch {
            serving.cancel()
            try? await serving.value
            try? await group.shutdownGracefully()
            throw error
        }
        serving.cancel()
        try await serving.value
        try await group.shutdownGracefully()
    }

    /// A raw client: sends lines as given, reads the lines that come back until the server closes.
    struct Peer {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

        static func connect(_ port: Int) async throws -> Peer {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { ch in MessageStream.configure(ch, maxLineBytes: 1 << 20) }
            return Peer(channel: channel)
        }

        /// Sends `lines` (each with its newline) after reading the challenge; returns the
        /// challenge and everything the server says until it closes the connection.
        func converse(_ lines: (Challenge) -> [String]) async throws -> (Challenge, [Message]) {
            try await channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                guard case .challenge(let challenge)? = try await MessageStream.next(&iterator) else {
                    Issue.record("no challenge first")
                    return (Challenge(nonce: ""), [])
                }
                for line in lines(challenge) { try await outbound.write(ByteBuffer(string: line)) }
                var replies: [Message] = []
                do {
                    while let m = try await MessageStream.next(&iterator) { replies.append(m) }
                } catch {}
                return (challenge, replies)
            }
        }
    }

    func hello(_ challenge: Challenge, token: String = token, protocol version: Int = ProtocolVersion.current, size: Int = 1024) -> String {
        let h = Hello(protocol: version, workerId: "w-\(size)-\(version)", version: "test", sizeMb: size,
                      limits: WorkerLimits(cpu: 0.58, memoryBytes: 1 << 30, cgroup: "v1"),
                      auth: TokenAuth.answer(token: token, nonce: challenge.nonce))
        return String(decoding: MessageCodec.encode(.hello(h)), as: UTF8.self) + "\n"
    }

    func reason(_ replies: [Message]) -> String? {
        for m in replies {
            if case .reject(let r) = m { return r.reason }
            if case .error(let e) = m { return e.reason }
        }
        return nil
    }

    @Test func garbageGetsAnErrorAndTheServerGoesOn() async throws {
        try await withServer { port, coordinator in
            let (_, replies) = try await Peer.connect(port).converse { _ in ["{not json\n"] }
            #expect(reason(replies)?.contains("not valid JSON") == true, "\(replies)")
            let (_, out) = try await Peer.connect(port).converse { _ in ["{\"type\":\"teleport\"}\n"] }
            #expect(reason(out)?.contains("unknown message type") == true)
            // A well-behaved worker is still welcomed and assigned the run's invocation.
            let peer = try await Peer.connect(port)
            let (_, welcome) = try await peer.converse { [self] c in [hello(c), "{\"type\":\"progress\",\"invocation_id\":\"x\"}\n"] }
            #expect(welcome.contains { if case .welcome = $0 { return true } else { return false } })
            #expect(welcome.contains { if case .assign = $0 { return true } else { return false } })
            #expect(reason(welcome)?.contains("missing field \"calls_done\"") == true, "a bad message after the handshake is named: \(welcome)")
            // Its connection was closed and the worker forgotten (right after the close the client saw).
            try await coordinator.waitUntil { $0.workerCount == 0 }
        }
    }

    @Test func theWrongTokenIsRejected() async throws {
        try await withServer { port, coordinator in
            let (_, replies) = try await Peer.connect(port).converse { [self] c in [hello(c, token: "not-the-token")] }
            #expect(reason(replies)?.contains("authentication failed") == true, "\(replies)")
            #expect(await coordinator.workerCount == 0, "refused before it was registered")
        }
    }

    @Test func anotherProtocolVersionIsRefusedNamingBoth() async throws {
        try await withServer { port, _ in
            let (_, replies) = try await Peer.connect(port).converse { [self] c in [hello(c, protocol: 99)] }
            let r = try #require(reason(replies))
            #expect(r.contains("protocol \(ProtocolVersion.current)") && r.contains("99"), "\(r)")
        }
    }

    @Test func aSizeTheRunDoesNotNeedIsRefused() async throws {
        try await withServer { port, _ in
            let (_, replies) = try await Peer.connect(port).converse { [self] c in [hello(c, size: 512)] }
            #expect(reason(replies)?.contains("512 MB") == true)
        }
    }

    @Test func anOversizedLineIsRefusedWithoutWaitingForItsEnd() async throws {
        try await withServer(maxLineBytes: 1024) { port, _ in
            let (_, replies) = try await Peer.connect(port).converse { _ in [String(repeating: "x", count: 5000)] }
            #expect(reason(replies)?.contains("longer than 1024") == true, "\(replies)")
        }
    }

    @Test func aSilentPeerIsCutOffAtTheHandshakeTimeout() async throws {
        try await withServer(handshakeTimeout: .milliseconds(300)) { port, _ in
            let start = ContinuousClock.now
            let (_, replies) = try await Peer.connect(port).converse { _ in [] }
            let waited = ContinuousClock.now - start
            #expect(replies.isEmpty)
            // Sub-second timeouts are honoured (they used to be rounded down to 0 s), and it is this
            // timeout, not the 10 s default, that cut it off; the upper bound leaves room for a
            // loaded machine (the whole suite runs in parallel on 2 cores).
            #expect(waited >= .milliseconds(250) && waited < .seconds(8), "\(waited)")
        }
    }
}
