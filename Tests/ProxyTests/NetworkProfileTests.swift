import FanbenchBase
import NIOCore
import NIOConcurrencyHelpers
import NIOEmbedded
@testable import FanbenchProxy
import Testing

@Suite struct NetworkProfileTests {
    struct SeededRNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
    }

    @Test func oneWayDelaysCentreOnHalfTheRTT() {
        var rng = SeededRNG(state: 42)
        for jitter in [NetworkProfile.Jitter.fixed, .uniform(spreadMs: 4), .lognormal(sigma: 0.2)] {
            let p = NetworkProfile(rttMs: 16, jitter: jitter)
            let samples = (0..<20_000).map { _ in Double(p.oneWayNanoseconds(using: &rng)) / 1e6 }
            let median = Stats.percentile(samples, 50)
            #expect(abs(median - 8) < 0.15, "\(jitter): median \(median)")
            #expect(samples.allSatisfy { $0 >= 0 })
        }
        let fixed = NetworkProfile(rttMs: 10, jitter: .fixed)
        #expect(fixed.oneWayNanoseconds(using: &rng) == 5_000_000)
    }

    @Test func parsesJitterAndValidates() throws {
        #expect(try NetworkProfile.Jitter(parsing: "lognormal:0.2") == .lognormal(sigma: 0.2))
        #expect(try NetworkProfile.Jitter(parsing: "uniform:3") == .uniform(spreadMs: 3))
        #expect(try NetworkProfile.Jitter(parsing: "fixed") == .fixed)
        #expect(throws: FanbenchError.self) { try NetworkProfile.Jitter(parsing: "gaussian") }
        #expect(throws: FanbenchError.self) { try NetworkProfile(rttMs: 16, resetProbability: 2).validate() }
        #expect(throws: FanbenchError.self) { try NetworkProfile(slowDownProbability: 0.7, internalErrorProbability: 0.5).validate() }
    }

    @Test func faultsAreDrawnOnlyWhereTheyCanBe() {
        var rng = SeededRNG(state: 7)
        let always503 = NetworkProfile(slowDownProbability: 1)
        #expect(RequestFault.draw(always503, httpAware: true, bodiless: true, using: &rng) == .reply(status: 503, code: "SlowDown"))
        #expect(RequestFault.draw(always503, httpAware: false, bodiless: true, using: &rng) == .forward)
        #expect(RequestFault.draw(always503, httpAware: true, bodiless: false, using: &rng) == .forward)
        #expect(RequestFault.draw(NetworkProfile(resetProbability: 1), httpAware: false, bodiless: false, using: &rng) == .reset)
    }

    @Test func peeksAtRequestHeads() {
        #expect(HTTPPeek.bodilessRequest(Array("GET /b/k?acl= HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) == "GET")
        #expect(HTTPPeek.bodilessRequest(Array("HEAD /b/k HTTP/1.1\r\nContent-Length: 0\r\n\r\n".utf8)) == "HEAD")
        #expect(HTTPPeek.bodilessRequest(Array("PUT /b/k HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".utf8)) == nil)
        #expect(HTTPPeek.bodilessRequest(Array("GET /b/k HTTP/1.1\r\nHost: x\r\n".utf8)) == nil)
        let head = String(decoding: HTTPPeek.errorResponse(status: 503, code: "SlowDown", requestID: "r1", head: true), as: UTF8.self)
        #expect(head.hasPrefix("HTTP/1.1 503 Slow Down\r\n"))
        #expect(head.hasSuffix("\r\n\r\n"))
        let get = String(decoding: HTTPPeek.errorResponse(status: 500, code: "InternalError", requestID: "r2", head: false), as: UTF8.self)
        #expect(get.contains("<Code>InternalError</Code>"))
    }
}

/// `instance_rps_counts`: which client flights take a turn on an instance's path.
@Suite struct InstancePathCountingTests {
    func state(countsHandshakes: Bool, link: InstanceLink) -> ConnectionState {
        var profile = NetworkProfile(rttMs: 0.01, jitter: .fixed)
        profile.instanceRequestsPerSecond = 1   // one flight a second: a counted flight pushes the path a whole second
        profile.instanceCountsHandshakes = countsHandshakes
        return ConnectionState(options: .init(upstreamHost: "127.0.0.1", upstreamPort: 1, profile: profile, httpAware: false),
                               counters: NIOLockedValueBox(LatencyProxy.Counters()), eventLoop: EmbeddedEventLoop(), link: link)
    }

    @Test func requestsOnlyLetsATLSHandshakesFlightsPassWithoutATurn() {
        for first: UInt8 in [0x16, 0x14] {   // a ClientHello; a change-cipher-spec opening the client's finished flight
            let link = InstanceLink(requestsPerSecond: 1)
            let s = state(countsHandshakes: false, link: link)
            let now = NIODeadline.now()
            let at = s.deliveryTime(.toUpstream, bytes: 300, firstByte: first)
            #expect(at < now + .milliseconds(500), "the handshake flight waited for a turn")
            #expect(link.admit(at: now) <= now + .milliseconds(1), "the path was taken by a handshake flight (0x\(String(first, radix: 16)))")
        }
    }

    @Test func requestsAndByDefaultHandshakesTooTakeATurn() {
        // Requests only: an application-data record (0x17) or a plain request takes its turn.
        for first: UInt8? in [0x17, UInt8(ascii: "G"), nil] {
            let link = InstanceLink(requestsPerSecond: 1)
            let now = NIODeadline.now()
            _ = state(countsHandshakes: false, link: link).deliveryTime(.toUpstream, bytes: 300, firstByte: first)
            #expect(link.admit(at: now) >= now + .milliseconds(900), "a request did not take its turn")
        }
        // Flights (a file that names no count): a handshake's flights wait like the rest.
        let link = InstanceLink(requestsPerSecond: 1)
        let now = NIODeadline.now()
        _ = state(countsHandshakes: true, link: link).deliveryTime(.toUpstream, bytes: 300, firstByte: 0x16)
        #expect(link.admit(at: now) >= now + .milliseconds(900))
        #expect(NetworkProfile(rttMs: 1).instanceCountsHandshakes, "a profile that does not say counts flights")
        #expect(!NetworkProfile.lambdaSameRegion.instanceCountsHandshakes, "the built-in default counts requests")
        // Responses never take a turn.
        let back = InstanceLink(requestsPerSecond: 1)
        _ = state(countsHandshakes: true, link: back).deliveryTime(.toClient, bytes: 300, firstByte: 0x17)
        #expect(back.admit(at: now) <= now + .milliseconds(1))
    }
}
