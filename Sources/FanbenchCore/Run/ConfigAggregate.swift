import FanbenchProtocol

/// Everything the finished invocations of one configuration add up to. Call latencies are
/// merged histograms (never averaged percentiles); invocation durations are kept whole.
public struct ConfigAggregate: Sendable {
    public var config: ConfigSpec
    public var durationsMs: [Double] = []
    /// Each invocation's billed duration: its duration (plus init when cold) rounded up to 1 ms, as Lambda bills.
    public var billedMs: [Double] = []
    public var initMs: [Double] = []
    public var listMs: [Double] = []
    public var calls = CallRecorder()
    public var maxMemoryBytes: Int64 = 0
    public var cpuMs: Double = 0
    public var throttledMs: Double = 0
    public var failed = 0
    public var reassigned = 0
    /// The limits workers reported for this configuration (the first seen).
    public var limits: WorkerLimits?
    /// Whether every counted invocation ran under the caps asked for.
    public var enforced = true

    public init(config: ConfigSpec) { self.config = config }

    /// Counts one result from a worker that reported `limits`.
    public mutating func add(_ result: InvocationResult, limits: WorkerLimits) {
        durationsMs.append(result.durationMs)
        billedMs.append((result.durationMs + (result.initMs ?? 0)).rounded(.up))
        if let i = result.initMs { initMs.append(i) }
        if let l = result.listMs { listMs.append(l) }
        var recorder = CallRecorder()
        recorder.add(result.histogram)
        recorder.calls = result.calls
        recorder.retries = result.retries
        recorder.errors = result.errors
        calls.merge(recorder)
        maxMemoryBytes = max(maxMemoryBytes, result.maxMemoryBytes)
        cpuMs += result.cpuMs
        throttledMs += result.throttledMs
        if self.limits == nil { self.limits = limits }
        enforced = enforced && Self.isEnforced(limits, size: config.size)
    }

    /// Caps count as enforced when the CPU read back is within 1% of size ÷ 1,769 and memory is exact.
    public static func isEnforced(_ limits: WorkerLimits, size: LambdaSize) -> Bool {
        guard let cpu = limits.cpu, let memory = limits.memoryBytes else { return false }
        return abs(cpu - size.cpu) <= size.cpu * 0.01 && memory == size.memoryBytes
    }

    public var invocations: Int { durationsMs.count }
    public var meanMs: Double { durationsMs.isEmpty ? 0 : durationsMs.reduce(0, +) / Double(durationsMs.count) }
    public func durationPercentile(_ p: Double) -> Double { Stats.percentile(durationsMs, p) }
    /// Calls per second of invocation time.
    public var callsPerSecond: Double {
        let seconds = durationsMs.reduce(0, +) / 1000
        return seconds > 0 ? Double(calls.calls) / seconds : 0
    }
    public var cpuMsPerCall: Double { calls.calls > 0 ? cpuMs / Double(calls.calls) : 0 }
    public var billedMeanMs: Double { Stats.mean(billedMs) }
}

/// Exact statistics over small samples.
public enum Stats {
    /// Nearest-rank percentile (p in 0…100); 0 for an empty sample.
    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// Sample standard deviation; 0 for fewer than two values.
    public static func stddev(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let m = mean(values)
        return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
    }
}
