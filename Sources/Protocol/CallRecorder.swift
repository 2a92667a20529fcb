import Histogram

/// Per-call outcomes of a batch: a latency histogram in µs (merged, never averaged),
/// errors by code, retries.
package struct CallRecorder: Sendable {
    /// Call latencies in µs, 3 significant digits, up to 10 minutes.
    package var latency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    package var calls = 0
    package var errors: [String: Int] = [:]
    package var retries = 0

    package init() {}

    package mutating func record(nanoseconds: UInt64, retries: Int, errorCode: String? = nil) {
        _ = latency.record(max(1, nanoseconds / 1000))
        calls += 1
        self.retries += retries
        if let errorCode { errors[errorCode, default: 0] += 1 }
    }

    package mutating func merge(_ other: CallRecorder) {
        latency.add(other.latency)
        calls += other.calls
        retries += other.retries
        for (code, n) in other.errors { errors[code, default: 0] += n }
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

    /// Adds a histogram received from the wire.
    package mutating func add(_ snapshot: HistogramSnapshot) {
        for pair in snapshot.counts where pair.count == 2 && pair[1] > 0 {
            _ = latency.record(pair[0], count: pair[1])
        }
    }
}
