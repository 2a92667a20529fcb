import ArgumentParser
import FanbenchCommandSupport
import FanbenchBase
import FanbenchProxy
import Foundation
import Logging
import ServiceLifecycle

/// `fanbench proxy`: the latency/fault proxy in front of an S3 endpoint.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Delay and disturb traffic to an S3 endpoint so loopback behaves like Lambda → S3 (RTT, jitter, bandwidth, resets, 503/500).")
    @Option(help: "Listen address, HOST:PORT (port 0: any free port, printed).") var listen = HostPort(host: "127.0.0.1", port: 8334)
    @Option(help: "Upstream (the real endpoint), HOST:PORT.") var upstream: HostPort
    @Option(help: "Round-trip time added per request/response exchange, ms (a new connection costs one more).") var rttMs: Double = 16
    @Option(help: "Jitter: fixed, uniform:SPREAD_MS or lognormal:SIGMA.") var jitter: String = "lognormal:0.2"
    @Option(help: "Bandwidth cap per connection and direction, Mbit/s.") var bandwidthMbps: Double?
    @Option(help: "Probability of resetting a request's connection.") var resetRate: Double = 0
    @Option(help: "Plain-HTTP upstreams: probability of a 503 SlowDown reply.") var slowdownRate: Double = 0
    @Option(help: "Plain-HTTP upstreams: probability of a 500 InternalError reply.") var errorRate: Double = 0
    @Option(help: "Round trips a new connection costs before its first bytes (TCP's handshake: 1; TLS pays its own on top).") var handshakeRtts: Double = 1
    @Option(help: "Share of responses delayed by --tail-ms more (the latency tail).") var tailRate: Double = 0
    @Option(help: "The tail's extra delay, ms.") var tailMs: Double = 0
    @Option(help: "Requests a second one client address's network path passes (client→server flights, TLS's included); more queue. Default: no limit.") var instanceRps: Double?
    @Flag(help: "The instance path (--instance-rps) counts requests only, not a TLS handshake's flights.") var instanceRpsRequestsOnly = false
    @Flag(help: "The upstream speaks plain HTTP (enables the HTTP replies).") var plainHttp = false

    func run() async throws {
        try await reportingErrors {
            var profile = NetworkProfile(rttMs: rttMs, jitter: try .init(parsing: jitter),
                                         bandwidthBytesPerSecond: bandwidthMbps.map { $0 * 125_000 },
                                         resetProbability: resetRate, slowDownProbability: slowdownRate, internalErrorProbability: errorRate)
            profile.handshakeRoundTrips = handshakeRtts
            profile.tailProbability = tailRate
            profile.tailMs = tailMs
            profile.instanceRequestsPerSecond = instanceRps
            profile.instanceCountsHandshakes = !instanceRpsRequestsOnly
            try profile.validate()
            if (slowdownRate > 0 || errorRate > 0) && !plainHttp {
                throw FanbenchError.badInput("--slowdown-rate and --error-rate need a plain-HTTP upstream (--plain-http): over TLS the proxy cannot read requests")
            }
            var logger = Logger(label: "fanbench-proxy")
            logger.logLevel = .warning
            let proxy = LatencyProxy(options: .init(upstreamHost: upstream.host, upstreamPort: upstream.port, profile: profile, httpAware: plainHttp), logger: logger)
            let service = try await proxy.service(listen)
            say("proxy on \(listen.host):\(service.port) → \(upstream): RTT \(profile.rttMs) ms, jitter \(profile.jitter), handshake \(profile.handshakeRoundTrips) RTT, tail \(profile.tailProbability) × \(profile.tailMs) ms\(instanceRps.map { ", \($0) requests/s per client address" } ?? "")")
            try await ServiceGroup.runUntilSignalled(service, logger: logger)
        }
    }
}
