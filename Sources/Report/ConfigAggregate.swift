import FanbenchBase
import FanbenchProtocol

/// Everything the finished invocations of one configuration add up to. Call latencies are
/// merged histograms (never averaged percentiles); invocation durations are kept whole.
package struct ConfigAggregate: Sendable {
    package var config: ConfigSpec
    package var durationsMs: [Double] = []
    /// Each invocation's billed duration: its duration (plus init when cold) rounded up to 1 ms, as Lambda bills.
    package var billedMs: [Double] = []
    /// Invocations whose billed duration Lambda reported (a REPORT line), not estimated.
    package var billedReported = 0
    package var initMs: [Double] = []
    package var listMs: [Double] = []
    package var calls = CallRecorder()
    package var maxMemoryBytes: Int64 = 0
    package var cpuMs: Double = 0
    package var throttledMs: Double = 0
    package var failed = 0
    package var reassigned = 0
    /// The limits workers reported for this configuration (the first seen).
    package var limits: WorkerLimits?
    /// Whether every counted invocation ran under the caps asked for.
    package var enforced = true
    /// The run's CPU quota scale (its profile's vCPU score ÷ this host's probe), 1 when none.
    package var cpuScale: Double = 1
    /// Results whose calls were measured (a function that does not report its calls gives none).
    package var measuredResults = 0
    /// Failed function invocations by Lambda's error type, and the first one's message.
    package var functionErrors: [String: Int] = [:]
    package var firstFunctionError: String?
    /// Invocations' call spans kept for the waterfalls: every one up to `maxKeptSpans`, then
    /// only a new slowest replaces the fastest kept (so the slowest is always there).
    package var spans: [(invocation: String, durationMs: Double, spansUs: [[UInt32]])] = []
    package static let maxKeptSpans = 2000
    /// Each invocation's worker overhead in µs (see `InvocationResult.workerOverheadUs`):
    /// assignment in → first call, last call → result ready.
    package var overheadStartUs: [Double] = []
    package var overheadFinishUs: [Double] = []
    /// A worker's overhead above this is not believed (a worker's figures are untrusted input).
    static let maxOverheadUs: UInt32 = 60_000_000
    private var slowestKeptMs = -Double.infinity

    package init(config: ConfigSpec) { self.config = config }

    /// Spans a worker sent, if they make sense: at most `CallRecorder.maxSpans` pairs, each
    /// start ≤ end within the invocation (anything else is dropped, not drawn).
    static func validSpans(_ spans: [[UInt32]]?, durationMs: Double) -> [[UInt32]]? {
        guard let spans, !spans.isEmpty, spans.count <= CallRecorder.maxSpans else { return nil }
        let limit = UInt32(clamping: Int((durationMs * 1000 + 1000).rounded(.up)))
        for s in spans where s.count != 2 || s[0] > s[1] || s[1] > limit { return nil }
        return spans
    }

    mutating func keepSpans(_ result: InvocationResult) {
        guard result.durationMs.isFinite,
              let valid = Self.validSpans(result.callSpansUs, durationMs: result.durationMs) else { return }
        if spans.count < Self.maxKeptSpans {
            spans.append((result.invocationId, result.durationMs, valid))
            slowestKeptMs = max(slowestKeptMs, result.durationMs)
        } else if result.durationMs > slowestKeptMs, let i = spans.indices.min(by: { spans[$0].durationMs < spans[$1].durationMs }) {
            // Only a new slowest is kept once full, so the scan runs rarely, not per result.
            spans[i] = (result.invocationId, result.durationMs, valid)
            slowestKeptMs = result.durationMs
        }
    }

    /// The waterfalls a report draws: the slowest invocation and the one nearest the median.
    package var waterfalls: [(which: String, invocation: String, durationMs: Double, spansUs: [[UInt32]])] {
        guard let slowest = spans.indices.max(by: { spans[$0].durationMs < spans[$1].durationMs }) else { return [] }
        let median = durationPercentile(50)
        let nearest = spans.indices.min(by: { abs(spans[$0].durationMs - median) < abs(spans[$1].durationMs - median) })!
        var out = [("slowest", spans[slowest].invocation, spans[slowest].durationMs, spans[slowest].spansUs)]
        if nearest != slowest { out.append(("median", spans[nearest].invocation, spans[nearest].durationMs, spans[nearest].spansUs)) }
        return out
    }

    /// Counts one result from a worker that reported `limits`.
    package mutating func add(_ result: InvocationResult, limits: WorkerLimits) {
        durationsMs.append(result.durationMs)
        if let billed = result.billedMs {
            billedMs.append(billed)
            billedReported += 1
        } else {
            billedMs.append((result.durationMs + (result.initMs ?? 0)).rounded(.up))
        }
        keepSpans(result)
        if let o = result.workerOverheadUs, o.count == 2, o[0] <= Self.maxOverheadUs, o[1] <= Self.maxOverheadUs {
            overheadStartUs.append(Double(o[0]))
            overheadFinishUs.append(Double(o[1]))
        }
        if let i = result.initMs { initMs.append(i) }
        if let l = result.listMs { listMs.append(l) }
        // Straight into the merged histogram: a histogram of its own per result would allocate
        // and walk every bucket (~38k of them) for a handful of values.
        if result.callsMeasured != false {
            measuredResults += 1
            calls.add(result.histogram, calls: result.calls, retries: result.retries, errors: result.errors)
        }
        if let e = result.functionError {
            functionErrors[String(e.type.prefix(100)), default: 0] += 1
            if firstFunctionError == nil { firstFunctionError = "\(e.type): \(e.message.prefix(500))" }
        }
        maxMemoryBytes = max(maxMemoryBytes, result.maxMemoryBytes)
        cpuMs += result.cpuMs
        throttledMs += result.throttledMs
        if self.limits == nil { self.limits = limits }
        enforced = enforced && Self.isEnforced(limits, size: config.size, cpuScale: cpuScale)
    }

    /// Caps count as enforced when the CPU read back is within 1% of size ÷ 1,769 (times the
    /// profile's CPU scale, at most the cores the worker has) and memory is exact.
    package static func isEnforced(_ limits: WorkerLimits, size: LambdaSize, cpuScale: Double = 1) -> Bool {
        guard let cpu = limits.cpu, let memory = limits.memoryBytes else { return false }
        let expected = LambdaSize.scaledCPU(size.cpu * cpuScale, cores: limits.cores)
        return abs(cpu - expected) <= expected * 0.01 && memory == size.memoryBytes
    }

    package var invocations: Int { durationsMs.count }
    /// Whether call-level figures exist: always for the built-in strategies, for a function only
    /// when it reported its calls (fanbench's bootstrap does).
    package var callsKnown: Bool { config.strategy.functionName == nil || measuredResults > 0 }
    package var functionErrorCount: Int { functionErrors.values.reduce(0, +) }
    package var meanMs: Double { durationsMs.isEmpty ? 0 : durationsMs.reduce(0, +) / Double(durationsMs.count) }
    package func durationPercentile(_ p: Double) -> Double { Stats.percentile(durationsMs, p) }
    /// Calls per second of invocation time.
    package var callsPerSecond: Double {
        let seconds = durationsMs.reduce(0, +) / 1000
        return seconds > 0 ? Double(calls.calls) / seconds : 0
    }
    package var cpuMsPerCall: Double { calls.calls > 0 ? cpuMs / Double(calls.calls) : 0 }
    package var billedMeanMs: Double { Stats.mean(billedMs) }
}
