import FanbenchProtocol
import Foundation

/// A run's report, schema `fanbench.report/v1`: what `--json` writes and every format renders.
public struct RunReport: Codable, Sendable {
    public struct Host: Codable, Sendable {
        public var cores: Int
        public var cgroup: String
    }

    public struct Target: Codable, Sendable {
        public var endpoint: String
        public var bucket: String
        public var prefix: String?
        public var op: String
        /// Set when the endpoint is an emulation (the local target's proxy), so nobody takes its figures for AWS's.
        public var emulation: Emulation?
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

    public static func config(from a: ConfigAggregate) -> Config {
        let mb = 1024.0 * 1024.0
        return Config(
            memoryMb: a.config.size.memoryMB, strategy: a.config.strategy.name, concurrency: a.config.strategy.concurrency,
            limits: Limits(cpu: a.limits?.cpu, memoryMb: a.limits?.memoryBytes.map { Double($0) / mb }, cores: a.limits?.cores,
                           cgroup: a.limits?.cgroup ?? "none", enforced: a.enforced && a.limits != nil),
            invocations: Invocations(count: a.invocations, failed: a.failed, meanMs: a.meanMs,
                                     p50Ms: a.durationPercentile(50), p90Ms: a.durationPercentile(90), p99Ms: a.durationPercentile(99),
                                     minMs: a.durationsMs.min() ?? 0, maxMs: a.durationsMs.max() ?? 0),
            calls: Calls(count: a.calls.calls, errors: a.calls.errorCount, errorCodes: a.calls.errors, retries: a.calls.retries,
                         p50Ms: a.calls.percentileMs(50), p90Ms: a.calls.percentileMs(90), p99Ms: a.calls.percentileMs(99),
                         maxMs: a.calls.percentileMs(100), perSecond: a.callsPerSecond, cpuMsPerCall: a.cpuMsPerCall),
            initMs: a.initMs.isEmpty ? nil : a.initMs.reduce(0, +) / Double(a.initMs.count),
            listMs: a.listMs.isEmpty ? nil : a.listMs.reduce(0, +) / Double(a.listMs.count),
            maxMemoryUsedMb: Double(a.maxMemoryBytes) / mb, throttledMs: a.throttledMs, reassigned: a.reassigned)
    }

    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return try e.encode(self)
    }
}
