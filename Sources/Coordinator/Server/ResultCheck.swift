import FanbenchProtocol

/// Whether a result a worker sent can be true, before it is counted. A worker that holds the
/// token is still untrusted: one bad result must not move a run's aggregates. Every bound here
/// is one an honest worker cannot reach (its own figures, the invocation's keys, the time the
/// coordinator has seen the invocation open), so a refusal means a broken or hostile worker.
package enum ResultCheck {
    /// The highest call latency a histogram may hold, µs: the top of `CallRecorder`'s bucket
    /// for its 10 minutes (a snapshot names a bucket by its highest value).
    package static let maxLatencyUs = CallRecorder().latency.highestEquivalentForValue(CallRecorder.maxLatencyUs)
    /// The most (value, count) pairs a histogram may hold: HDR's buckets at 3 digits up to 10 minutes are fewer.
    package static let maxHistogramPairs = 50_000
    /// The most calls one invocation may claim when the coordinator does not know its keys.
    package static let maxCalls = 10_000_000
    /// Peak memory above this is absurd (1 TiB).
    package static let maxMemoryBytes: Int64 = 1 << 40
    /// How much longer than the coordinator saw it open an invocation may say it took, ms
    /// (clock granularity and the result's trip back).
    package static let durationSlackMs = 1000.0
    /// Init, listing and CPU figures above this are absurd, ms (an hour).
    package static let maxSideMs = 3_600_000.0
    /// Cores a worker's CPU time may be spread over when it does not say.
    package static let maxCores = 1024

    /// Why `result` cannot be counted, or nil when it can.
    /// - Parameters:
    ///   - keys: the invocation's keys, when the coordinator sent them (nil in seed mode).
    ///   - builtIn: a built-in strategy ran it (one call per key, retries within `maxAttempts`).
    ///   - openMs: how long the coordinator has seen the invocation open, ms.
    package static func problem(with result: InvocationResult, keys: Int?, builtIn: Bool, maxAttempts: Int,
                                openMs: Double, limits: WorkerLimits) -> String? {
        func figure(_ name: String, _ value: Double, max bound: Double) -> String? {
            guard value.isFinite else { return "\(name) is \(value)" }
            guard value >= 0 else { return "\(name) is negative (\(value))" }
            guard value <= bound else { return "\(name) of \(value) is more than the \(Int(bound.rounded(.up))) possible" }
            return nil
        }
        let duration = openMs + durationSlackMs
        let cores = Double(max(1, min(limits.cores ?? maxCores, maxCores)))
        if let p = figure("duration_ms", result.durationMs, max: duration) { return p + (result.durationMs > duration ? " (the invocation was open \(Int(openMs)) ms)" : "") }
        if let i = result.initMs, let p = figure("init_ms", i, max: maxSideMs) { return p }
        if let l = result.listMs, let p = figure("list_ms", l, max: result.durationMs + durationSlackMs) { return p }
        if let b = result.billedMs, let p = figure("billed_ms", b, max: duration + (result.initMs ?? 0) + durationSlackMs) { return p }
        if let p = figure("cpu_ms", result.cpuMs, max: (duration + (result.initMs ?? 0)) * cores) { return p }
        if let p = figure("throttled_ms", result.throttledMs, max: (duration + (result.initMs ?? 0)) * cores) { return p }
        guard result.maxMemoryBytes >= 0, result.maxMemoryBytes <= maxMemoryBytes else {
            return "max_memory_bytes of \(result.maxMemoryBytes) is impossible"
        }

        guard result.calls >= 0 else { return "calls is negative (\(result.calls))" }
        let measured = result.callsMeasured != false
        if measured, builtIn, let keys, result.calls != keys {
            return "\(result.calls) calls for an invocation of \(keys) keys (one call per key)"
        }
        guard result.calls <= maxCalls else { return "\(result.calls) calls is more than \(maxCalls) possible" }
        guard result.retries >= 0 else { return "retries is negative (\(result.retries))" }
        let retryBound = result.calls.multipliedReportingOverflow(by: builtIn ? max(0, maxAttempts - 1) : 100)
        guard !retryBound.overflow, result.retries <= retryBound.partialValue else {
            return "\(result.retries) retries for \(result.calls) calls is more than \(builtIn ? maxAttempts : 101) attempts each"
        }
        guard result.errors.count <= CallRecorder.maxErrorCodes else {
            return "\(result.errors.count) error codes is more than \(CallRecorder.maxErrorCodes)"
        }
        var errorSum = 0
        for (code, n) in result.errors {
            guard code.utf8.count <= CallRecorder.maxErrorCodeBytes else { return "an error code of \(code.utf8.count) bytes" }
            guard n > 0 else { return "error code \(code.prefix(40)) counted \(n) times" }
            let (sum, overflow) = errorSum.addingReportingOverflow(n)
            guard !overflow else { return "error counts overflow" }
            errorSum = sum
        }
        guard errorSum <= result.calls else { return "\(errorSum) errors for \(result.calls) calls" }
        return histogramProblem(result.histogram, calls: measured ? result.calls : nil)
    }

    /// Why a histogram cannot be a run's call latencies: its form, its values, its size, and
    /// (`calls` given) whether it counts exactly those calls.
    package static func histogramProblem(_ h: HistogramSnapshot, calls: Int?) -> String? {
        guard h.unit == "us" else { return "histogram unit \(h.unit.prefix(20)), not us" }
        guard (1...5).contains(h.significantDigits) else { return "histogram of \(h.significantDigits) significant digits" }
        guard h.counts.count <= maxHistogramPairs else { return "a histogram of \(h.counts.count) buckets, more than \(maxHistogramPairs) possible" }
        var total: UInt64 = 0
        var previous: UInt64?
        for pair in h.counts {
            guard pair.count == 2 else { return "a histogram bucket of \(pair.count) numbers, not [value, count]" }
            guard pair[0] <= maxLatencyUs else { return "a call latency of \(pair[0]) µs, more than \(maxLatencyUs) possible" }
            guard pair[1] > 0 else { return "a histogram bucket counted 0 times" }
            if let previous, pair[0] <= previous { return "histogram values not ascending" }
            previous = pair[0]
            let (sum, overflow) = total.addingReportingOverflow(pair[1])
            guard !overflow, sum <= UInt64(maxCalls) else { return "a histogram counting more than \(maxCalls) calls" }
            total = sum
        }
        if let calls, total != UInt64(calls) { return "a histogram of \(total) calls for \(calls) calls" }
        return nil
    }
}
