import Foundation

/// Lambda on-demand prices (DESIGN.md, Results): per GB-second by architecture, plus the
/// request fee. Every figure can be overridden from the command line.
package struct Pricing: Codable, Sendable, Equatable {
    package var x86UsdPerGbSecond: Double
    package var arm64UsdPerGbSecond: Double
    package var usdPerMillionRequests: Double

    package init(x86UsdPerGbSecond: Double = 0.000_016_666_7, arm64UsdPerGbSecond: Double = 0.000_013_333_4,
                usdPerMillionRequests: Double = 0.20) {
        self.x86UsdPerGbSecond = x86UsdPerGbSecond
        self.arm64UsdPerGbSecond = arm64UsdPerGbSecond
        self.usdPerMillionRequests = usdPerMillionRequests
    }

    /// The cost of one invocation of `billedMs` at `memoryMb`: GB-s × price + the request fee.
    package func cost(memoryMb: Int, billedMs: Double) -> Cost {
        let gbSeconds = Double(memoryMb) / 1024 * billedMs / 1000
        let request = usdPerMillionRequests / 1_000_000
        func price(_ perGbSecond: Double) -> Cost.Price {
            let usd = gbSeconds * perGbSecond + request
            return Cost.Price(usdPerInvocation: usd, usdPerMillion: usd * 1_000_000)
        }
        return Cost(billedMs: billedMs, gbSeconds: gbSeconds, x86: price(x86UsdPerGbSecond), arm64: price(arm64UsdPerGbSecond))
    }
}

/// What one invocation of a configuration costs (the mean billed duration at its memory size).
package struct Cost: Codable, Sendable, Equatable {
    package struct Price: Codable, Sendable, Equatable {
        package var usdPerInvocation: Double
        package var usdPerMillion: Double
    }

    package var billedMs: Double
    package var gbSeconds: Double
    package var x86: Price
    package var arm64: Price
}

/// How close a configuration came to what the network allows: with round-trip time RTT, an
/// invocation cannot finish before its listing round trips plus ceil(calls ÷ concurrency)
/// round trips (DESIGN.md, Results).
package struct NetworkLimit: Codable, Sendable, Equatable {
    package var rttMs: Double
    /// Round trips the ideal invocation needs: listing pages (when it lists) + call waves.
    package var roundTrips: Int
    package var idealMs: Double
    /// Measured mean ÷ ideal: 1 is the network's limit, 2 means half as fast as it allows.
    package var measuredOverIdeal: Double

    package init?(config: RunReport.Config, plan: RunReport.Plan, rttMs: Double) {
        guard rttMs > 0, config.invocations.count > 0, let calls = config.calls else { return nil }
        let callsPerInvocation = Int((Double(calls.count) / Double(config.invocations.count)).rounded())
        // Listing pages of at most 1,000 keys, when each invocation lists (the seed's handler).
        let listTrips = plan.listing == "invocation" ? max(1, (callsPerInvocation + 999) / 1000) : 0
        let waves = (callsPerInvocation + config.concurrency - 1) / max(1, config.concurrency)
        self.rttMs = rttMs
        roundTrips = listTrips + waves
        idealMs = Double(roundTrips) * rttMs
        measuredOverIdeal = idealMs > 0 ? config.invocations.meanMs / idealMs : 0
    }
}

/// aws-lambda-power-tuning's three answers, for warm and cold starts apart: the fastest
/// configuration, the cheapest, and the balanced one (weight 0 = speed only, 1 = cost only,
/// each normalised to 0…1 over the configurations that ran without errors).
package struct Recommendation: Codable, Sendable, Equatable {
    package var start: String
    package var goal: String
    package var memoryMb: Int
    package var strategy: String
    package var meanMs: Double
    package var usdPerMillionX86: Double
    package var balanceWeight: Double?

    package static func make(_ configs: [RunReport.Config], balanceWeight: Double) -> [Recommendation] {
        var out: [Recommendation] = []
        for start in ["warm", "cold"] {
            let eligible = configs.filter {
                $0.start == start && $0.invocations.count > 0 && $0.invocations.failed == 0 && $0.invocations.errors == 0
                    && ($0.calls?.errors ?? 0) == 0 && $0.cost != nil
            }
            guard !eligible.isEmpty else { continue }
            func rec(_ goal: String, _ c: RunReport.Config, weight: Double? = nil) -> Recommendation {
                Recommendation(start: start, goal: goal, memoryMb: c.memoryMb, strategy: c.strategyLabel,
                               meanMs: c.invocations.robustMeanMs, usdPerMillionX86: c.cost!.x86.usdPerMillion, balanceWeight: weight)
            }
            let speed = { (c: RunReport.Config) in c.invocations.robustMeanMs }
            let cost = { (c: RunReport.Config) in c.cost!.x86.usdPerInvocation }
            // Ties go to the smaller size, then the configuration listed first.
            func best(_ key: (RunReport.Config) -> Double) -> RunReport.Config {
                eligible.min { (key($0), $0.memoryMb) < (key($1), $1.memoryMb) }!
            }
            out.append(rec("fastest", best(speed)))
            out.append(rec("cheapest", best(cost)))
            let (sMin, sMax) = (eligible.map(speed).min()!, eligible.map(speed).max()!)
            let (cMin, cMax) = (eligible.map(cost).min()!, eligible.map(cost).max()!)
            func norm(_ v: Double, _ lo: Double, _ hi: Double) -> Double { hi > lo ? (v - lo) / (hi - lo) : 0 }
            let w = min(1, max(0, balanceWeight))
            out.append(rec("balanced", best { w * norm(cost($0), cMin, cMax) + (1 - w) * norm(speed($0), sMin, sMax) }, weight: w))
        }
        return out
    }
}
