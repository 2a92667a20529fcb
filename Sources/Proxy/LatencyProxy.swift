import FanbenchBase
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A TCP proxy that makes loopback behave like a network: every chunk is delivered one
/// (jittered) one-way delay after it arrived, so a request/response exchange costs the RTT
/// and a new connection one RTT more, as its handshake would. TLS passes through untouched
/// and pays its real round trips. Each connection keeps its own clock on its own event loop:
/// delays never serialize connections. Faults: resets, and for plain-HTTP upstreams S3
/// 503 SlowDown / 500 replies made by the proxy itself.
package final class LatencyProxy: Sendable {
    package struct Options: Sendable {
        package var upstreamHost: String
        package var upstreamPort: Int
        package var profile: NetworkProfile
        /// Inject HTTP replies (only for plain-HTTP upstreams).
        package var httpAware: Bool

        package init(upstreamHost: String, upstreamPort: Int, profile: NetworkProfile, httpAware: Bool) {
            self.upstreamHost = upstreamHost
            self.upstreamPort = upstreamPort
            self.profile = profile
            self.httpAware = httpAware
        }
    }

    /// What the proxy did, for tests and the log.
    package struct Counters: Sendable, Equatable {
        package var connections = 0
        package var resets = 0
        package var injected = 0
    }

    package let options: Options
    let counters = NIOLockedValueBox(Counters())
    private let logger: Logger

    package init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    package var snapshot: Counters { counters.withLockedValue { $0 } }

    /// Binds the listening socket; returns the channel (its local address has the port).
    package func bind(host: String, port: Int, group: any EventLoopGroup) async throws -> any Channel {
        do {
            return try await bootstrap(group: group).bind(host: host, port: port).get()
        } catch {
            throw FanbenchError("the proxy cannot listen on \(host):\(port) (\(error)): choose another with --listen / --proxy-port", exitCode: 2)
        }
    }

    /// A listener's bootstrap. Its clients' instance links (`NetworkProfile.instanceRequestsPerSecond`)
    /// are its own, one per client address: connections of two listeners never queue together.
    private func bootstrap(group: any EventLoopGroup, requestsPerSecond: Double? = nil) -> ServerBootstrap {
        let options = self.options
        let counters = self.counters
        let logger = self.logger
        let links = InstanceLinks(requestsPerSecond: requestsPerSecond ?? options.profile.instanceRequestsPerSecond)
        return ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { client in
                counters.withLockedValue { $0.connections += 1 }
                let state = ConnectionState(options: options, counters: counters, eventLoop: client.eventLoop,
                                            link: links.link(for: client.remoteAddress))
                return ClientBootstrap(group: client.eventLoop)
                    .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .connect(host: options.upstreamHost, port: options.upstreamPort)
                    .flatMap { upstream in
                        client.pipeline.addHandler(RelayHandler(state: state, direction: .toUpstream, partner: upstream)).flatMap {
                            upstream.pipeline.addHandler(RelayHandler(state: state, direction: .toClient, partner: client))
                        }.flatMap {
                            client.setOption(.autoRead, value: true)
                        }
                    }
                    .flatMapError { error in
                        logger.warning("cannot reach the upstream \(options.upstreamHost):\(options.upstreamPort) (\(error)); the client's connection is closed: check --upstream and that the endpoint is up")
                        client.close(promise: nil)
                        return client.eventLoop.makeSucceededVoidFuture()
                    }
            }
    }

    /// Binds on `address` and returns the proxy as a `Service` that serves until the group
    /// shuts down (or its task is cancelled).
    package func service(_ address: HostPort) async throws -> Service {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        do {
            return Service(channel: try await bind(host: address.host, port: address.port, group: group), group: group, proxy: self)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// A bound proxy: serves until graceful shutdown, then closes its socket.
    package struct Service: ServiceLifecycle.Service {
        package let channel: any Channel
        let group: MultiThreadedEventLoopGroup
        let proxy: LatencyProxy

        /// The port it listens on.
        package var port: Int { channel.localAddress?.port ?? 0 }

        /// One instance's listener: its port, and `close` for when the instance is gone (its
        /// connections stay until they end; the proxy's shutdown closes whatever is left).
        package struct Listener: Sendable {
            package let port: Int
            let channel: any Channel
            package func close() { channel.close(promise: nil) }
        }

        /// One more listener on loopback, a free port, for one instance (a local worker): its
        /// clients' requests queue on a link of their own. Blocks until bound; not for an event loop.
        package func listenerForOneInstance(requestsPerSecond: Double? = nil) throws -> Listener {
            do {
                let channel = try proxy.bootstrap(group: group, requestsPerSecond: requestsPerSecond).bind(host: "127.0.0.1", port: 0).wait()
                return Listener(port: channel.localAddress?.port ?? 0, channel: channel)
            } catch {
                throw FanbenchError("the proxy cannot open a listener for a worker on 127.0.0.1 (\(error)): free some ports or file descriptors", exitCode: 1)
            }
        }

        /// Closes the socket and stops the loops (for a proxy run outside a service group).
        package func stop() async {
            try? await channel.close()
            try? await group.shutdownGracefully()
        }

        package func run() async throws {
            // Nothing to do but wait: connections are served on the event loops.
            try? await gracefulShutdown()
            try? await channel.close()
            try? await group.shutdownGracefully()
        }
    }
}

/// One instance's network path (`NetworkProfile.instanceRequestsPerSecond`): the flights of all
/// its connections go through one at a time, an interval apart, in the order they came.
final class InstanceLink: Sendable {
    let intervalNanoseconds: Int64
    private let nextFree = NIOLockedValueBox(NIODeadline.uptimeNanoseconds(0))

    init(requestsPerSecond: Double) { intervalNanoseconds = Int64((1e9 / requestsPerSecond).rounded()) }

    /// When a flight arriving at `now` goes through (now, or when the flights ahead have).
    func admit(at now: NIODeadline) -> NIODeadline {
        nextFree.withLockedValue { next in
            let start = max(now, next)
            next = start + .nanoseconds(intervalNanoseconds)
            return start
        }
    }
}

/// One listener's instance links, one per client address (nil: no limit in the profile).
final class InstanceLinks: Sendable {
    let requestsPerSecond: Double?
    private let links = NIOLockedValueBox<[String: InstanceLink]>([:])

    init(requestsPerSecond: Double?) { self.requestsPerSecond = requestsPerSecond }

    func link(for address: SocketAddress?) -> InstanceLink? {
        guard let requestsPerSecond else { return nil }
        let key = address?.ipAddress ?? ""
        return links.withLockedValue { links in
            if let link = links[key] { return link }
            let link = InstanceLink(requestsPerSecond: requestsPerSecond)
            links[key] = link
            return link
        }
    }
}

/// One proxied connection's clocks and dice; used only on its event loop.
final class ConnectionState: @unchecked Sendable {
    enum Direction { case toUpstream, toClient }

    let options: LatencyProxy.Options
    let counters: NIOLockedValueBox<LatencyProxy.Counters>
    let eventLoop: any EventLoop
    var rng = SystemRandomNumberGenerator()
    /// When the last chunk in each direction is (to be) delivered.
    var lastDelivery: [Direction: NIODeadline]
    /// The one-way delay the last chunk in each direction drew.
    var lastDelay: [Direction: Int64] = [:]
    var requestCounter = 0
    /// Added once, to the first chunk towards the upstream: the handshake's round trip.
    var handshakeNanoseconds: Int64
    /// A reset was drawn: cut the connection partway through the next response.
    var resetPending = false
    /// Whether any fault is configured (else requests need no look at all).
    let faultsPossible: Bool
    /// The instance's network path this connection shares with its instance's others (nil: no limit).
    let link: InstanceLink?

    init(options: LatencyProxy.Options, counters: NIOLockedValueBox<LatencyProxy.Counters>, eventLoop: any EventLoop, link: InstanceLink? = nil) {
        self.link = link
        self.options = options
        self.counters = counters
        self.eventLoop = eventLoop
        let now = NIODeadline.now()
        lastDelivery = [.toUpstream: now, .toClient: now]
        // A new connection costs its handshake's round trips before anything flows.
        handshakeNanoseconds = Int64(options.profile.rttMs * options.profile.handshakeRoundTrips * 1_000_000)
        let p = options.profile
        faultsPossible = p.resetProbability > 0 || (options.httpAware && p.slowDownProbability + p.internalErrorProbability > 0)
    }

    /// A flight that opens with a TLS handshake or change-cipher-spec record (the client's
    /// hello, its finished flight): not a request.
    static func isTLSHandshake(_ firstByte: UInt8?) -> Bool { firstByte == 0x16 || firstByte == 0x14 }

    /// When a chunk of `bytes` arriving now should be delivered: after a one-way delay, never
    /// before the chunk ahead of it, and no faster than the bandwidth cap.
    func deliveryTime(_ direction: Direction, bytes: Int, firstByte: UInt8? = nil) -> NIODeadline {
        let now = NIODeadline.now()
        let previous = lastDelivery[direction] ?? now
        // Chunks of one burst (a response split in segments) share the path's delay: a chunk
        // arriving while the one ahead is still in flight reuses its draw.
        var delay: Int64
        var departs = now
        if now < previous, let last = lastDelay[direction] {
            delay = last
        } else {
            delay = options.profile.oneWayNanoseconds(using: &rng)
            // The tail strikes responses: a fresh one waits it out whole.
            if direction == .toClient { delay += options.profile.tailNanoseconds(using: &rng) }
            // A fresh flight from the client waits its turn on the instance's path.
            if direction == .toUpstream, let link, options.profile.instanceCountsHandshakes || !Self.isTLSHandshake(firstByte) {
                departs = link.admit(at: now)
            }
        }
        lastDelay[direction] = delay
        var at = departs + .nanoseconds(delay)
        if direction == .toUpstream && handshakeNanoseconds > 0 {
            at = at + .nanoseconds(handshakeNanoseconds)
            handshakeNanoseconds = 0
        }
        if let bw = options.profile.bandwidthBytesPerSecond {
            at = max(at, previous + .nanoseconds(Int64(Double(bytes) / bw * 1e9)))
        }
        at = max(at, previous)
        lastDelivery[direction] = at
        return at
    }
}

/// Relays one direction of a connection with its delays. Backpressure: bytes read but not yet
/// written to the other side (delayed, or waiting on a slow reader) are counted; above
/// `highWater` this side stops reading until they drain below `lowWater`, so memory stays
/// bounded whatever the bandwidth cap and however slowly the other side reads.
final class RelayHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    static let highWater = 1 << 20
    static let lowWater = 256 << 10

    let state: ConnectionState
    let direction: ConnectionState.Direction
    let partner: any Channel
    /// Bytes read from this side and not yet handed to the other side's socket.
    private var pending = 0
    private var paused = false
    /// This side closed while bytes were still on their way: close the other once they are out.
    private var closeWhenDelivered = false

    init(state: ConnectionState, direction: ConnectionState.Direction, partner: any Channel) {
        self.state = state
        self.direction = direction
        self.partner = partner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if direction == .toUpstream && state.faultsPossible, let method = looksLikeRequestStart(buffer) {
            let profile = state.options.profile
            let httpFaults = state.options.httpAware && profile.slowDownProbability + profile.internalErrorProbability > 0
            let bodiless = httpFaults && HTTPPeek.bodilessRequest(buffer.readableBytesView) != nil
            switch RequestFault.draw(profile, httpAware: state.options.httpAware, bodiless: bodiless, using: &state.rng) {
            case .forward:
                break
            case .reset:
                // Forwarded, but the answer will be cut partway (a reset the client must notice;
                // one before any answer byte is retried by HTTP clients on reused connections).
                state.counters.withLockedValue { $0.resets += 1 }
                state.resetPending = true
            case .reply(let status, let code):
                state.counters.withLockedValue { $0.injected += 1 }
                state.requestCounter += 1
                let reply = HTTPPeek.errorResponse(status: status, code: code, requestID: "fanbench-proxy-\(state.requestCounter)", head: method == "HEAD")
                // The reply costs a full round trip, as the real one would.
                _ = state.deliveryTime(.toUpstream, bytes: buffer.readableBytes)
                let at = state.deliveryTime(.toClient, bytes: reply.count) + .nanoseconds(state.options.profile.oneWayNanoseconds(using: &state.rng))
                state.lastDelivery[.toClient] = at
                let channel = context.channel
                state.eventLoop.scheduleTask(deadline: at) { channel.writeAndFlush(ByteBuffer(bytes: reply), promise: nil) }
                return
            }
        }
        let at = state.deliveryTime(direction, bytes: buffer.readableBytes, firstByte: buffer.getInteger(at: buffer.readerIndex, as: UInt8.self))
        let partner = self.partner
        let source = context.channel
        let bytes = buffer.readableBytes
        pending += bytes
        if pending > Self.highWater && !paused {
            paused = true
            source.setOption(.autoRead, value: false).whenFailure { _ in }
        }
        let delivered: @Sendable (Result<Void, any Error>) -> Void = { _ in self.delivered(bytes, source: source) }
        if direction == .toClient && state.resetPending {
            state.resetPending = false
            let cut = buffer.getSlice(at: buffer.readerIndex, length: max(1, buffer.readableBytes / 2))!
            let upstream = context.channel
            state.eventLoop.scheduleTask(deadline: at) {
                partner.writeAndFlush(cut).whenComplete { _ in Self.reset(partner, upstream) }
            }
            return
        }
        if at <= .now() {
            partner.writeAndFlush(buffer).whenComplete(delivered)  // already due (no RTT set): no timer hop
        } else {
            state.eventLoop.scheduleTask(deadline: at) { partner.writeAndFlush(buffer).whenComplete(delivered) }
        }
    }

    /// `bytes` reached the other side's socket; read again once the backlog is small.
    private func delivered(_ bytes: Int, source: any Channel) {
        pending -= bytes
        if closeWhenDelivered && pending <= 0 {
            partner.close(promise: nil)
        } else if paused && pending < Self.lowWater {
            paused = false
            source.setOption(.autoRead, value: true).whenFailure { _ in }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Close the other side once everything read from this side has reached it (written to
        // its socket, not just scheduled): a slow reader still gets the whole response.
        if pending <= 0 {
            let partner = self.partner
            state.eventLoop.scheduleTask(deadline: state.lastDelivery[direction] ?? .now()) { partner.close(promise: nil) }
        } else {
            closeWhenDelivered = true
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
        partner.close(promise: nil)
    }

    /// A connection reset (RST, not FIN) on the client side, and the upstream closed.
    static func reset(_ client: any Channel, _ upstream: any Channel) {
        if let provider = client as? any SocketOptionProvider {
            provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in client.close(promise: nil) }
        } else {
            client.close(promise: nil)
        }
        upstream.close(promise: nil)
    }

    /// Only plain HTTP can be read: a chunk that starts with a method begins a request.
    /// (Over TLS every chunk is opaque; resets then apply per client chunk.)
    private func looksLikeRequestStart(_ buffer: ByteBuffer) -> String? {
        let view = buffer.readableBytesView
        for method in ["GET ", "HEAD ", "PUT ", "POST ", "DELETE "] where view.starts(with: method.utf8) {
            return String(method.dropLast())
        }
        return state.options.httpAware ? nil : ""
    }
}
