import Histogram

/// Per-call outcomes of a batch: a latency histogram in µs (merged, never averaged),
/// errors by code, retries.
package struct CallRecorder: Sendable {
    /// Call latencies in µs, 3 significant digits, up to 10 minutes.
    package var latency = Histogram<UInt64>(highestTrackableValue: CallRecorder.maxLatencyUs, numberOfSignificantValueDigits: .three)
    /// The longest call latency recorded, µs (longer ones count as this).
    package static let maxLatencyUs: UInt64 = 600_000_000
    package var calls = 0
    package var errors: [String: Int] = [:]
    package var retries = 0
    /// Each call's start and end (monotonic ns), for the first `maxSpans` calls: the waterfall.
    package var spans: [(start: UInt64, end: UInt64)] = []
    /// The earliest start and the latest end of every timed call (monotonic ns), for the
    /// worker's own overhead around them; nil before the first.
    package var firstStartNs: UInt64?
    package var lastEndNs: UInt64?

    package init() {}

    /// Calls whose start and end an invocation reports (its waterfall), at most.
    package static let maxSpans = 1000

    /// Records a call with when it started and ended.
    package mutating func record(startNs: UInt64, endNs: UInt64, retries: Int, errorCode: String? = nil) {
        if spans.count < Self.maxSpans { spans.append((startNs, endNs)) }
        firstStartNs = min(firstStartNs ?? startNs, startNs)
        lastEndNs = max(lastEndNs ?? endNs, endNs)
        record(nanoseconds: endNs &- startNs, retries: retries, errorCode: errorCode)
    }

    /// The spans as [start, end] µs offsets from `originNs`, by start (what a result carries).
    package func spanOffsetsUs(from originNs: UInt64) -> [[UInt32]] {
        spans.sorted { $0.start < $1.start }.prefix(Self.maxSpans).map { s in
            [UInt32(clamping: (s.start &- min(s.start, originNs)) / 1000), UInt32(clamping: (s.end &- min(s.end, originNs)) / 1000)]
        }
    }

    /// Distinct error codes kept; further ones count as `Other` (so a result always fits its line).
    package static let maxErrorCodes = 64
    /// Longest error code kept, bytes (S3's are under 40).
    package static let maxErrorCodeBytes = 100

    package mutating func record(nanoseconds: UInt64, retries: Int, errorCode: String? = nil) {
        // Clamped to the histogram's top, so that it always counts every call (the coordinator checks).
        _ = latency.record(min(Self.maxLatencyUs, max(1, nanoseconds / 1000)))
        calls += 1
        self.retries += retries
        if let errorCode { countError(errorCode, 1) }
    }

    private mutating func countError(_ code: String, _ n: Int) {
        var code = String(decoding: code.utf8.prefix(Self.maxErrorCodeBytes), as: UTF8.self)
        if errors[code] == nil && errors.count >= Self.maxErrorCodes - 1 && code != "Other" { code = "Other" }
        errors[code, default: 0] += n
    }

    package mutating func merge(_ other: CallRecorder) {
        spans += other.spans.prefix(max(0, Self.maxSpans - spans.count))
        if let f = other.firstStartNs { firstStartNs = min(firstStartNs ?? f, f) }
        if let l = other.lastEndNs { lastEndNs = max(lastEndNs ?? l, l) }
        latency.add(other.latency)
        calls += other.calls
        retries += other.retries
        for (code, n) in other.errors.sorted(by: { $0.key < $1.key }) { countError(code, n) }
    }

    package var errorCount: Int { errors.values.reduce(0, +) }

    /// A latency percentile in milliseconds.
    package func percentileMs(_ p: Double) -> Double {
        latency.totalCount == 0 ? 0 : Double(latency.valueAtPercentile(p)) / 1000
    }

    /// The histogram as sparse (value, count) pairs for the wire.
    package func snapshot() -> HistogramSnapshot {
        HistogramSnapshot(counts: latency.recordedValues().map { [$0.value, $0.count] })
    }

    /// Adds one result's calls from the wire: its histogram's values, its counts and its errors.
    package mutating func add(_ snapshot: HistogramSnapshot, calls: Int, retries: Int, errors: [String: Int]) {
        add(snapshot)
        self.calls += calls
        self.retries += retries
        for (code, n) in errors.sorted(by: { $0.key < $1.key }) { countError(code, n) }
    }

    /// Adds a histogram received from the wire.
    package mutating func add(_ snapshot: HistogramSnapshot) {
        for pair in snapshot.counts where pair.count == 2 && pair[1] > 0 {
            _ = latency.record(pair[0], count: pair[1])
        }
    }
}
