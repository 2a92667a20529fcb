import FanbenchBase
import FanbenchReport
import Foundation

/// `fanbench calibrate --evaluate RUN,…`: stored runs held against a reference, nothing run.
/// One run's cells say where the emulation stood that once; on a host whose small sizes drift
/// with its neighbours (BENCHMARKS.md, 2026-12-07) several runs of the same profile say how
/// far each cell is off on average and how much that moves — the figure to judge a profile by.
package struct ReferenceCheck: Sendable {
    /// A reference cell in one run: its mean, or why it has none.
    package enum Entry: Sendable, Equatable {
        case measured(Double)
        /// The run has this configuration, but some invocations failed: its mean says nothing.
        case failed(Int)
        /// The run did not measure this cell.
        case missing
    }

    /// One reference cell across the runs.
    package struct Row: Sendable, Equatable {
        package var memoryMb: Int
        package var column: String
        package var referenceMs: Double
        package var fitted: Bool
        /// One per run, in the runs' order.
        package var entries: [Entry]

        /// Run `i`'s deviation from the reference (nil: that run has no mean for it).
        package func deviation(run i: Int) -> Double? {
            if case .measured(let ms) = entries[i] { return ms / referenceMs - 1 }
            return nil
        }

        /// The deviations of the runs that measured it.
        package var deviations: [Double] { entries.indices.compactMap(deviation(run:)) }
    }

    /// The bounds a cell is held to, as fractions: ±`fitted` where fitted, ±`heldOut` elsewhere.
    package struct Bounds: Sendable, Equatable {
        package var fitted: Double
        package var heldOut: Double
        package init(fitted: Double = 0.15, heldOut: Double = 0.20) {
            self.fitted = fitted
            self.heldOut = heldOut
        }
        package func holds(_ deviation: Double, fitted isFitted: Bool) -> Bool { abs(deviation) <= (isFitted ? fitted : heldOut) }
    }

    package var runIDs: [String]
    package var rows: [Row]
    /// The reference's invocations an instance the runs' means were weighed for (nil: plain means).
    package var invocationsPerInstance: Int?
    /// The reference is a fanbench report: plain means are like for like.
    var referenceIsReport = false
    package var bounds: Bounds

    /// The reference's cells in `reports`, fitted where `fitted` says. Refuses runs that share no
    /// cell with the reference (one line naming the run and what it measured).
    package init(reference: CalibrationReference, reports: [RunReport], fitted: Set<Int>, bounds: Bounds = Bounds()) throws(FanbenchError) {
        self.invocationsPerInstance = reference.invocationsPerInstance
        self.referenceIsReport = reference.isReport
        var rows: [Row] = []
        for mb in reference.sizes {
            for column in reference.columns {
                guard let ms = reference.cells[mb]?[column], let strategy = reference.strategies[column] else { continue }
                rows.append(Row(memoryMb: mb, column: column, referenceMs: ms, fitted: fitted.contains(mb),
                                entries: reports.map { Self.entry(in: $0, mb: mb, strategy: strategy, perInstance: reference.invocationsPerInstance) }))
            }
        }
        for (i, report) in reports.enumerated() where !rows.contains(where: { $0.entries[i] != .missing }) {
            let sizes = Set(report.configs.map(\.memoryMb)).sorted().map(String.init).joined(separator: ", ")
            let labels = Set(report.configs.map { $0.function.map { "function:\($0)" } ?? $0.strategyLabel }).sorted().joined(separator: ", ")
            throw FanbenchError.badInput("run \(report.runId) measured none of the reference's cells (it ran \(labels) at \(sizes) MB; the reference \(reference.path) has \(reference.columns.compactMap { reference.strategies[$0]?.description }.joined(separator: ", ")) at \(reference.sizes.map(String.init).joined(separator: ", ")) MB): give runs of the reference's workload")
        }
        self.runIDs = reports.map(\.runId)
        self.rows = rows.filter { $0.entries.contains { $0 != .missing } }
        self.bounds = bounds
    }

    /// `functionErrors`: whether invocations the function failed (a timeout, a crash) count as
    /// failed too, besides those never completed. `perInstance`: the reference's invocations an
    /// instance (`CalibrationReference.invocationsPerInstance`), for `referenceMean`.
    static func entry(in report: RunReport, mb: Int, strategy: Strategy, functionErrors: Bool = true, perInstance: Int? = nil) -> Entry {
        guard let index = report.configs.firstIndex(where: { c in
            c.memoryMb == mb && (c.function.map { Strategy.function($0) } ?? (try? Strategy(parsing: c.strategyLabel))) == strategy
        }), report.configs[index].invocations.count > 0 else { return .missing }
        let config = report.configs[index]
        let failed = config.invocations.failed + (functionErrors ? config.invocations.errors : 0)
        return failed > 0 ? .failed(failed) : .measured(referenceMean(report, config: index, perInstance: perInstance))
    }

    /// A configuration's mean as a reference over `perInstance` invocations an instance would
    /// have measured it: (each instance's first invocation + (perInstance − 1) × the rest's mean)
    /// ÷ perInstance. A run of 5 weighs the first invocation after init — twice a warm one's
    /// time for the seed's concurrent handlers here (lazy loading, ten TLS connections, a thread
    /// pool) — as 1 in 5, the blog's 100 as 1 in 100: held against the blog as it stands, a run's
    /// plain mean is 15–20% over its warm invocations' for those handlers. The firsts are found in
    /// the timeline (each worker's earliest attempt; samples are in the order attempts ended);
    /// without a timeline that accounts for every sample, a configuration with one sample a round
    /// (one shard, so one instance) has its first sample as its only first. nil `perInstance`, a
    /// cold plan, or no way to tell: the plain mean.
    package static func referenceMean(_ report: RunReport, config index: Int, perInstance: Int?) -> Double {
        let config = report.configs[index]
        // A cold plan's invocations are each an instance's first: the reference's weighting of them is unknown.
        guard let n = perInstance, !report.plan.cold, let samples = config.invocations.samplesMs, !samples.isEmpty else { return config.invocations.meanMs }
        var firsts: Set<Int> = []
        let attempts = (report.timeline ?? []).filter { $0.config == index && $0.outcome == "ok" }
        if attempts.count == samples.count {
            let ordered = attempts.enumerated().sorted { ($0.element.endMs, $0.offset) < ($1.element.endMs, $1.offset) }
            var earliest: [String: (start: Double, at: Int)] = [:]
            for (position, item) in ordered.enumerated() {
                let a = item.element
                if let e = earliest[a.worker], e.start <= a.startMs { continue }
                earliest[a.worker] = (a.startMs, position)
            }
            firsts = Set(earliest.values.map(\.at))
        } else if samples.count == report.plan.invocations {
            firsts = [0]
        } else {
            return config.invocations.meanMs
        }
        let firstMean = Stats.mean(firsts.map { samples[$0] })
        let rest = samples.indices.filter { !firsts.contains($0) }.map { samples[$0] }
        guard !rest.isEmpty else { return firstMean }
        return (firstMean + Double(n - 1) * Stats.mean(rest)) / Double(n)
    }

    /// Per run: the cells it measured inside their bounds, and the cells it measured.
    package var insideByRun: [(inside: Int, of: Int)] {
        runIDs.indices.map { i in
            var inside = 0, of = 0
            for row in rows {
                guard let d = row.deviation(run: i) else { continue }
                of += 1
                if bounds.holds(d, fitted: row.fitted) { inside += 1 }
            }
            return (inside, of)
        }
    }

    /// The table: each cell's reference, each run's deviation, their mean and range, how many
    /// runs had it inside its bound; then each run's count.
    package var table: String {
        func pct(_ d: Double) -> String { String(format: "%+.1f%%", d * 100) }
        /// Right-aligned in `width` (`%@` takes no width in swift-corelibs-foundation).
        func right(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        func left(_ s: String, _ width: Int) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
        var lines = [right("MB", 6) + "  " + left("column", 10) + right("reference", 12)
            + runIDs.indices.map { right("run \($0 + 1)", 10) }.joined() + right("mean", 10) + "  " + left("range", 18) + left("cell", 10) + "inside"]
        for row in rows {
            var line = right(String(row.memoryMb), 6) + "  " + left(row.column, 10) + right(String(format: "%.1f ms", row.referenceMs), 12)
            for (i, entry) in row.entries.enumerated() {
                switch entry {
                case .measured: line += right(pct(row.deviation(run: i)!), 10)
                case .failed(let n): line += right("\(n) failed", 10)
                case .missing: line += right("—", 10)
                }
            }
            let d = row.deviations
            let inside = d.filter { bounds.holds($0, fitted: row.fitted) }.count
            line += right(d.isEmpty ? "—" : pct(d.reduce(0, +) / Double(d.count)), 10) + "  "
                + left(d.count < 2 ? "" : pct(d.min()!) + " … " + pct(d.max()!), 18)
                + left(row.fitted ? "fitted" : "held out", 10) + "\(inside) of \(d.count)"
            lines.append(line)
        }
        let bound = String(format: "±%.0f%% fitted, ±%.0f%% held out", bounds.fitted * 100, bounds.heldOut * 100)
        lines.append(invocationsPerInstance.map { "each run's mean weighs an instance's first invocation as 1 in \($0), as the reference's did" }
            ?? (referenceIsReport ? "plain means (the reference is a fanbench report: its runs weighed their invocations as these do)"
                : "plain means (the reference does not say how many invocations an instance its means are over: invocations_per_instance, or --reference-invocations N)"))
        lines.append("inside (\(bound)): " + zip(runIDs, insideByRun).enumerated().map { i, pair in
            "run \(i + 1) \(pair.0) \(pair.1.inside) of \(pair.1.of)"
        }.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }
}
