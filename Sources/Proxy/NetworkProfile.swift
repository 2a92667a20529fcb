import FanbenchBase
import Foundation

/// What the proxy does to traffic: a round-trip time with jitter, a bandwidth cap, and
/// faults (connection resets; for plain-HTTP upstreams, S3 503 SlowDown and 500 replies).
package struct NetworkProfile: Sendable, Equatable, Codable {
    package enum Jitter: Sendable, Equatable, Codable, CustomStringConvertible {
        /// Every exchange costs exactly the RTT.
        case fixed
        /// Each one-way delay is uniform in half the RTT ± `spreadMs` / 2.
        case uniform(spreadMs: Double)
        /// Each one-way delay is lognormal with median half the RTT and shape `sigma`.
        case lognormal(sigma: Double)

        package var description: String {
            switch self {
            case .fixed: return "fixed"
            case .uniform(let s): return "uniform:\(s)"
            case .lognormal(let s): return "lognormal:\(s)"
            }
        }

        /// Parses `fixed`, `uniform:SPREAD_MS` or `lognormal:SIGMA`.
        package init(parsing text: String) throws(FanbenchError) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            switch (parts.first, parts.count > 1 ? Double(parts[1]) : nil) {
            case ("fixed", _) where parts.count == 1: self = .fixed
            case ("uniform", let v?) where v >= 0: self = .uniform(spreadMs: v)
            case ("lognormal", let v?) where v >= 0 && v <= 2: self = .lognormal(sigma: v)
            default:
                throw FanbenchError("jitter '\(text)' is not fixed, uniform:SPREAD_MS or lognormal:SIGMA (0–2), e.g. lognormal:0.2", exitCode: 2)
            }
        }
    }

    package var rttMs: Double
    package var jitter: Jitter
    /// Per-connection, per-direction cap in bytes per second (nil: none).
    package var bandwidthBytesPerSecond: Double?
    /// Probability that a request's connection is reset instead of forwarded.
    package var resetProbability: Double
    /// Plain HTTP only: probability of answering a request with 503 SlowDown.
    package var slowDownProbability: Double
    /// Plain HTTP only: probability of answering a request with 500 InternalError.
    package var internalErrorProbability: Double
    /// The tail: the share of responses that wait `tailMs` more (a slow replica, a queue).
    package var tailProbability: Double = 0
    package var tailMs: Double = 0
    /// Round trips a new connection costs before its first bytes flow (TCP's handshake is one;
    /// TLS then pays its own real round trips through the proxy).
    package var handshakeRoundTrips: Double = 1
    /// One instance's network path: at most this many client→server flights (requests, and a
    /// TLS handshake's flights) a second; more queue behind each other (nil: no limit). An
    /// instance is one proxy listener's clients from one address (a local run gives each worker
    /// a listener of its own).
    package var instanceRequestsPerSecond: Double?
    /// `instanceRequestsPerSecond` is per vCPU: an instance of a size with less than one vCPU
    /// of CPU passes that share of it (a 512 MB Lambda, 0.29 vCPU: 0.29 × the rate), one with
    /// more passes the whole (a profile's `instance_rps_per: vcpu`; a local run only, where
    /// each worker's listener knows its size).
    package var instanceRequestsPerVCPU = false
    /// Whether the instance's path also counts a TLS handshake's flights (records of type
    /// handshake or change-cipher-spec, the first byte 0x16 or 0x14), or only the requests
    /// (`instance_rps_counts: flights | requests`). The blog's aioboto3 handler opens ten new
    /// TLS connections an invocation and its threaded one none, yet above 1.5 GB both sit on
    /// one floor (615–683 and 484–572 ms): what holds them counts requests.
    package var instanceCountsHandshakes = true

    /// The rate one instance of `vcpus` (its size's share of a vCPU) passes.
    package func instanceRequestsPerSecond(vcpus: Double) -> Double? {
        instanceRequestsPerSecond.map { instanceRequestsPerVCPU ? $0 * min(1, max(vcpus, 0)) : $0 }
    }

    package init(rttMs: Double = 0, jitter: Jitter = .fixed, bandwidthBytesPerSecond: Double? = nil,
                resetProbability: Double = 0, slowDownProbability: Double = 0, internalErrorProbability: Double = 0) {
        self.rttMs = rttMs
        self.jitter = jitter
        self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
        self.resetProbability = resetProbability
        self.slowDownProbability = slowDownProbability
        self.internalErrorProbability = internalErrorProbability
    }

    /// Lambda → S3 in one region, as `fanbench calibrate` fitted it on the seed blog's table
    /// (profiles/lambda-same-region.yaml holds the fit and its held-out check): no tail, two
    /// handshake round trips, 220 requests a second per instance counting requests (not TLS
    /// handshake flights).
    package static let lambdaSameRegion: NetworkProfile = {
        var p = NetworkProfile(rttMs: 15.5, jitter: .lognormal(sigma: 0.2))
        p.handshakeRoundTrips = 2
        p.instanceRequestsPerSecond = 220
        p.instanceCountsHandshakes = false
        return p
    }()
    /// The same fit's CPU: one Lambda vCPU's `CPUProbe` score (nil: unscaled).
    package static let lambdaSameRegionVCPUScore: Double? = 92

    /// The extra delay of one response: `tailMs` with probability `tailProbability`, in ns.
    package func tailNanoseconds(using rng: inout some RandomNumberGenerator) -> Int64 {
        guard tailProbability > 0, tailMs > 0, Double.random(in: 0..<1, using: &rng) < tailProbability else { return 0 }
        return Int64(tailMs * 1_000_000)
    }

    /// Every shaping parameter in one line (not the faults): two proxies with equal summaries
    /// emulate the same network.
    package var summary: String {
        "rtt_ms=\(rttMs);jitter=\(jitter);tail_rate=\(tailProbability);tail_ms=\(tailMs);handshake_rtts=\(handshakeRoundTrips);bandwidth=\(bandwidthBytesPerSecond.map { String($0) } ?? "none")"
            + (instanceRequestsPerSecond.map { ";instance_rps=\($0)" } ?? "")
            + (instanceRequestsPerVCPU && instanceRequestsPerSecond != nil ? ";instance_rps_per=vcpu" : "")
            + (!instanceCountsHandshakes && instanceRequestsPerSecond != nil ? ";instance_rps_counts=requests" : "")
    }

    /// One one-way delay, in nanoseconds.
    package func oneWayNanoseconds(using rng: inout some RandomNumberGenerator) -> Int64 {
        let half = rttMs / 2
        let ms: Double
        switch jitter {
        case .fixed:
            ms = half
        case .uniform(let spread):
            ms = max(0, half + (Double.random(in: 0..<1, using: &rng) - 0.5) * spread)
        case .lognormal(let sigma):
            ms = half * exp(sigma * Self.standardNormal(using: &rng))
        }
        return Int64(ms * 1_000_000)
    }

    /// Box–Muller.
    static func standardNormal(using rng: inout some RandomNumberGenerator) -> Double {
        let u1 = max(Double.random(in: 0..<1, using: &rng), .leastNonzeroMagnitude)
        let u2 = Double.random(in: 0..<1, using: &rng)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// Checks the values; the message names the flag.
    package func validate() throws(FanbenchError) {
        guard rttMs >= 0, rttMs <= 10_000 else { throw FanbenchError("--rtt-ms must be between 0 and 10000", exitCode: 2) }
        for (p, flag) in [(resetProbability, "--reset-rate"), (slowDownProbability, "--slowdown-rate"), (internalErrorProbability, "--error-rate")] {
            guard (0...1).contains(p) else { throw FanbenchError("\(flag) must be a probability between 0 and 1", exitCode: 2) }
        }
        guard slowDownProbability + internalErrorProbability <= 1 else {
            throw FanbenchError("--slowdown-rate plus --error-rate must not exceed 1", exitCode: 2)
        }
        if let bw = bandwidthBytesPerSecond, bw <= 0 { throw FanbenchError("--bandwidth-mbps must be above 0", exitCode: 2) }
        guard (0...1).contains(tailProbability) else { throw FanbenchError("--tail-rate must be a probability between 0 and 1", exitCode: 2) }
        guard tailMs >= 0, tailMs <= 60_000 else { throw FanbenchError("--tail-ms must be between 0 and 60000", exitCode: 2) }
        guard handshakeRoundTrips >= 0, handshakeRoundTrips <= 10 else { throw FanbenchError("--handshake-rtts must be between 0 and 10", exitCode: 2) }
        if let rps = instanceRequestsPerSecond, !(rps > 0 && rps <= 1_000_000) {
            throw FanbenchError("--instance-rps must be above 0 (and at most 1000000): the requests a second one instance's network passes", exitCode: 2)
        }
    }
}

/// The proxy's decision about one request arriving from a client.
package enum RequestFault: Sendable, Equatable {
    case forward
    case reset
    /// Answer with this S3 error instead of forwarding.
    case reply(status: Int, code: String)

    /// Draws the fault for a request; HTTP replies only when the proxy can see HTTP (plain upstream)
    /// and the request has no body to swallow.
    package static func draw(_ profile: NetworkProfile, httpAware: Bool, bodiless: Bool, using rng: inout some RandomNumberGenerator) -> RequestFault {
        if profile.resetProbability > 0, Double.random(in: 0..<1, using: &rng) < profile.resetProbability { return .reset }
        guard httpAware, bodiless, profile.slowDownProbability + profile.internalErrorProbability > 0 else { return .forward }
        let r = Double.random(in: 0..<1, using: &rng)
        if r < profile.slowDownProbability { return .reply(status: 503, code: "SlowDown") }
        if r < profile.slowDownProbability + profile.internalErrorProbability { return .reply(status: 500, code: "InternalError") }
        return .forward
    }
}

/// Reading just enough HTTP/1.1 to inject faults.
package enum HTTPPeek {
    /// Whether `bytes` hold a whole request head of a method without a body (GET, HEAD, DELETE)
    /// and no content; returns the method when so.
    package static func bodilessRequest(_ bytes: some Collection<UInt8>) -> String? {
        let head = Array(bytes.prefix(8192))
        guard let end = head.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let text = String(decoding: head[..<end.lowerBound], as: UTF8.self)
        guard let method = text.split(separator: " ", maxSplits: 1).first.map(String.init),
              ["GET", "HEAD", "DELETE"].contains(method) else { return nil }
        for line in text.split(separator: "\r\n").dropFirst() {
            let lower = line.lowercased()
            if lower.hasPrefix("content-length:"), lower.dropFirst(15).trimmingCharacters(in: .whitespaces) != "0" { return nil }
            if lower.hasPrefix("transfer-encoding:") { return nil }
        }
        return method
    }

    /// A complete S3 error response (no body for HEAD).
    package static func errorResponse(status: Int, code: String, requestID: String, head: Bool) -> [UInt8] {
        let reason = status == 503 ? "Slow Down" : "Internal Server Error"
        let message = code == "SlowDown" ? "Please reduce your request rate." : "We encountered an internal error. Please try again."
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>\(code)</Code><Message>\(message) (injected by fanbench proxy)</Message><RequestId>\(requestID)</RequestId></Error>"
        var out = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/xml\r\nContent-Length: \(body.utf8.count)\r\nx-amz-request-id: \(requestID)\r\n\r\n"
        if !head { out += body }
        return Array(out.utf8)
    }
}
