import FanbenchProtocol
import Foundation

/// A run's report, schema `fanbench.report/v1`: what `--json` writes and every format renders.
public struct RunReport: Codable, Sendable {
    public struct Host: Codable, Sendable {
        public var cores: Int
        public var cgroup: String
        public init(cores: Int, cgroup: String) {
            self.cores = cores
            self.cgroup = cgroup
        }
    }

    public struct Target: Codable, Sendable {
        public var endpoint: String
        public var bucket: String
        public var prefix: String?
        public var op: String
        /// Set when the endpoint is an emulation (the local target's proxy), so nobody takes its figures for AWS's.
        public var emulation: Emulation?
        public init(endpoint: String, bucket: String, prefix: String?, op: String, emulation: Emulation?) {
            self.endpoint = endpoint
            self.bucket = bucket
            self.prefix = prefix
            self.op = op
            self.emulation = emulation
        }
    }

    public struct Emulation: Codable, Sendable, Equatable {
        public var profile: String
        public var rttMs: Double
        public var jitter: String
        public var tls: Bool

        public init(profile: String, rttMs: Double, jitter: String, tls: Bool) {
            self.profile = profile
            self.rttMs = rttMs
            self.jitter = jitter
            self.tls = tls
        }

        /// What `run --emulation` declares about an endpoint fanbench did not set up: a
        /// profile's name (lambda-same-region) or an RTT in ms; TLS from the endpoint's scheme.
        public static func declared(_ text: String, endpoint: String) throws(FanbenchError) -> Emulation {
            let tls = endpoint.lowercased().hasPrefix("https://")
            if let profile = LocalTarget.TargetProfile(rawValue: text), let network = profile.network {
                return Emulation(profile: profile.rawValue, rttMs: network.rttMs, jitter: network.jitter.description, tls: tls)
            }
            guard let rtt = Double(text), rtt > 0, rtt.isFinite else {
                throw FanbenchError("--emulation '\(text)' is neither a profile (lambda-same-region) nor an RTT in ms (e.g. 16)", exitCode: 2)
            }
            return Emulation(profile: "declared", rttMs: rtt, jitter: "unknown", tls: tls)
        }
    }

    public struct Plan: Codable, Sendable {
        public var sizes: [Int]
        public var strategies: [String]
        public var invocations: Int
        public var shardSize: Int?
        public var listing: String
        public var keys: Int?
        public var workers: String
        public var cold: Bool
        /// Sizes whose single worker needed more CPU than the budget (they ran alone).
        public var oversubscribedSizes: [Int]
    }

    public struct Limits: Codable, Sendable {
        public var cpu: Double?
        public var memoryMb: Double?
        public var cores: Int?
        public var cgroup: String
        public var enforced: Bool
    }

    public struct Invocations: Codable, Sendable {
        public var count: Int
        public var failed: Int
        public var meanMs: Double
        public var p50Ms: Double
        public var p90Ms: Double
        public var p99Ms: Double
        public var minMs: Double
        public var maxMs: Double
        /// Sample standard deviation of the invocation durations (0 for fewer than 2).
        public var stddevMs: Double
        /// Mean billed duration: each invocation's duration (plus init when cold) rounded up to 1 ms.
        public var billedMs: Double
    }

    public struct Calls: Codable, Sendable {
        public var count: Int
        public var errors: Int
        public var errorCodes: [String: Int]
        public var retries: Int
        public var p50Ms: Double
        public var p90Ms: Double
        public var p99Ms: Double
        public var maxMs: Double
        public var perSecond: Double
        public var cpuMsPerCall: Double
        /// The merged latency distribution at fixed percentiles (0 = min, 100 = max).
        public var latencyMs: [Percentile]
    }

    public struct Percentile: Codable, Sendable, Equatable {
        public var p: Double
        public var ms: Double
    }

    public struct Config: Codable, Sendable {
        public var memoryMb: Int
        public var strategy: String
        public var concurrency: Int
        public var limits: Limits
        public var invocations: Invocations
        public var calls: Calls
        public var initMs: Double?
        public var listMs: Double?
        public var maxMemoryUsedMb: Double
        public var throttledMs: Double
        public var reassigned: Int
        /// `cold` when every invocation started a fresh worker, else `warm`; recommendations keep them apart.
        public var start: String
        /// Derived from the fields above and the pricing (see `derive`).
        public var cost: Cost?
        /// Derived when the run knows its emulated RTT.
        public var networkLimit: NetworkLimit?

        /// `serial`, `threads:16`, `async:16`.
        public var strategyLabel: String { strategy == "serial" ? "serial" : "\(strategy):\(concurrency)" }
    }

    public var schema = "fanbench.report/v1"
    public var runId: String
    public var fanbenchVersion: String
    public var status: String
    public var startedAt: Date
    public var finishedAt: Date?
    public var host: Host
    public var target: Target
    public var plan: Plan
    public var configs: [Config]
    public var pricing: Pricing?
    public var recommendations: [Recommendation]?

    public init(runId: String, fanbenchVersion: String, status: String, startedAt: Date, finishedAt: Date?, host: Host,
                target: Target, plan: Plan, configs: [Config]) {
        self.runId = runId
        self.fanbenchVersion = fanbenchVersion
        self.status = status
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.host = host
        self.target = target
        self.plan = plan
        self.configs = configs
    }

    public static func config(from a: ConfigAggregate) -> Config {
        let mb = 1024.0 * 1024.0
        return Config(
            memoryMb: a.config.size.memoryMB, strategy: a.config.strategy.name, concurrency: a.config.strategy.concurrency,
            limits: Limits(cpu: a.limits?.cpu, memoryMb: a.limits?.memoryBytes.map { Double($0) / mb }, cores: a.limits?.cores,
                           cgroup: a.limits?.cgroup ?? "none", enforced: a.enforced && a.limits != nil),
            invocations: Invocations(count: a.invocations, failed: a.failed, meanMs: a.meanMs,
                                     p50Ms: a.durationPercentile(50), p90Ms: a.durationPercentile(90), p99Ms: a.durationPercentile(99),
                                     minMs: a.durationsMs.min() ?? 0, maxMs: a.durationsMs.max() ?? 0,
                                     stddevMs: Stats.stddev(a.durationsMs), billedMs: a.billedMeanMs),
            calls: Calls(count: a.calls.calls, errors: a.calls.errorCount, errorCodes: a.calls.errors, retries: a.calls.retries,
                         p50Ms: a.calls.percentileMs(50), p90Ms: a.calls.percentileMs(90), p99Ms: a.calls.percentileMs(99),
                         maxMs: a.calls.percentileMs(100), perSecond: a.callsPerSecond, cpuMsPerCall: a.cpuMsPerCall,
                         latencyMs: Self.curvePoints.map { Percentile(p: $0, ms: a.calls.percentileMs($0)) }),
            initMs: a.initMs.isEmpty ? nil : a.initMs.reduce(0, +) / Double(a.initMs.count),
            listMs: a.listMs.isEmpty ? nil : a.listMs.reduce(0, +) / Double(a.listMs.count),
            maxMemoryUsedMb: Double(a.maxMemoryBytes) / mb, throttledMs: a.throttledMs, reassigned: a.reassigned,
            start: a.initMs.isEmpty ? "warm" : "cold")
    }

    /// Where the latency distribution is sampled for every format and chart.
    public static let curvePoints: [Double] = [0, 10, 25, 50, 75, 90, 95, 99, 99.9, 100]

    /// Fills what follows from the measured fields: cost per configuration at `pricing`, the
    /// network-limit ideal when the RTT is known, and the recommendations.
    public mutating func derive(pricing: Pricing = Pricing(), balanceWeight: Double = 0.5) {
        self.pricing = pricing
        let rtt = target.emulation?.rttMs
        for i in configs.indices {
            configs[i].cost = pricing.cost(memoryMb: configs[i].memoryMb, billedMs: configs[i].invocations.billedMs)
            configs[i].networkLimit = rtt.flatMap { NetworkLimit(config: configs[i], plan: plan, rttMs: $0) }
        }
        recommendations = Recommendation.make(configs, balanceWeight: balanceWeight)
    }

    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return try e.encode(self)
    }
}
