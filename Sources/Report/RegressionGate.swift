import FanbenchBase
import Foundation

/// `fanbench compare A B --fail-if-slower PCT`: a CI step that fails when a configuration of B is
/// significantly slower than A's by more than PCT percent.
///
/// Each paired configuration is a one-sided test of "B is at most (1 + PCT/100) × A" against "B
/// is more than that", on the chosen metric:
/// - `mean`: Welch's t-test on the invocation durations (Yuen's on trimmed means with `--trim`);
/// - `cost`: Welch's t-test on each invocation's cost (its billed duration at its size's price);
/// - `p99`: a bootstrap of the p99 of the durations (2,000 resamples, a fixed seed).
/// Many configurations mean many tests: Holm's step-down correction keeps the chance of any false
/// alarm at α (5%) over the whole family, so 18 configurations do not fail one run in three.
package struct RegressionGate: Codable, Sendable {
    package enum Metric: String, Codable, Sendable, CaseIterable {
        case mean, p99, cost
    }

    package struct Row: Codable, Sendable {
        package var label: String
        package var valueA: Double
        package var valueB: Double
        /// (B − A) ÷ A in percent.
        package var changePct: Double
        /// The one-sided p-value of "B is slower than A by more than the threshold"; nil when it
        /// cannot be tested (fewer than two invocations on a side, or no samples for p99/cost).
        package var pValue: Double?
        /// After Holm's correction over every tested row.
        package var adjustedP: Double?
        package var failed: Bool
        package var untestable: String?
    }

    package var metric: Metric
    package var thresholdPct: Double
    package var alpha: Double
    package var trim: Double?
    package var rows: [Row]
    package var failed: Bool { rows.contains(where: \.failed) }

    package static func evaluate(_ a: RunReport, _ b: RunReport, metric: Metric, thresholdPct: Double, alpha: Double = 0.05) -> RegressionGate {
        let pairs = RunComparison.pairs(a, b)
        let trim = a.trim ?? b.trim ?? 0
        let factor = 1 + thresholdPct / 100
        var rows: [Row] = []
        for (label, ca, cb) in pairs {
            let sa = samples(ca, metric: metric, pricing: a.pricing ?? Pricing()), sb = samples(cb, metric: metric, pricing: b.pricing ?? Pricing())
            let va = value(ca, samples: sa, metric: metric, trim: trim), vb = value(cb, samples: sb, metric: metric, trim: trim)
            var row = Row(label: label, valueA: va, valueB: vb, changePct: va > 0 ? (vb - va) / va * 100 : 0, failed: false)
            switch metric {
            case .mean, .cost:
                if let sa, let sb {
                    row.pValue = oneSidedP(sa, sb, factor: factor, trim: metric == .mean ? trim : 0)
                } else if metric == .mean {
                    row.pValue = oneSidedP(summary: ca.invocations, sb: cb.invocations, factor: factor)
                }
            case .p99:
                if let sa, let sb, sa.count >= 2, sb.count >= 2 { row.pValue = bootstrapP99(sa, sb, factor: factor) }
            }
            if row.pValue == nil {
                row.untestable = (ca.invocations.count < 2 || cb.invocations.count < 2)
                    ? "fewer than 2 invocations on a side" : "the report has no per-invocation samples (made by an older fanbench)"
            }
            rows.append(row)
        }
        let (rejected, adjusted) = Stats.holm(rows.map(\.pValue), alpha: alpha)
        for i in rows.indices {
            rows[i].adjustedP = adjusted[i]
            rows[i].failed = rejected[i]
        }
        return RegressionGate(metric: metric, thresholdPct: thresholdPct, alpha: alpha, trim: trim > 0 ? trim : nil, rows: rows)
    }

    /// The per-invocation values a metric is tested on: durations, or each invocation's cost (x86).
    package static func samples(_ c: RunReport.Config, metric: Metric, pricing: Pricing) -> [Double]? {
        switch metric {
        case .mean, .p99: return c.invocations.samplesMs
        case .cost: return c.invocations.billedSamplesMs.map { $0.map { pricing.cost(memoryMb: c.memoryMb, billedMs: $0).x86.usdPerInvocation } }
        }
    }

    static func value(_ c: RunReport.Config, samples: [Double]?, metric: Metric, trim: Double) -> Double {
        switch metric {
        case .mean: return samples.map { Stats.trimmedMean($0, trim) } ?? c.invocations.meanMs
        case .p99: return samples.map { Stats.percentile($0, 99) } ?? c.invocations.p99Ms
        case .cost: return samples.map(Stats.mean) ?? c.cost?.x86.usdPerInvocation ?? 0
        }
    }

    /// One-sided Welch (or Yuen, with a trim) test of mean(B) > factor × mean(A).
    package static func oneSidedP(_ a: [Double], _ b: [Double], factor: Double, trim: Double) -> Double? {
        guard let ea = Stats.trimmedMeanError(a, trim), let eb = Stats.trimmedMeanError(b, trim) else { return nil }
        return welchUpper(meanA: ea.mean, varA: ea.variance, dfA: Double(ea.h - 1), meanB: eb.mean, varB: eb.variance, dfB: Double(eb.h - 1), factor: factor)
    }

    /// The same from a report's summary figures (mean, sd, count), for reports without samples.
    static func oneSidedP(summary a: RunReport.Invocations, sb b: RunReport.Invocations, factor: Double) -> Double? {
        guard a.count >= 2, b.count >= 2 else { return nil }
        return welchUpper(meanA: a.meanMs, varA: a.stddevMs * a.stddevMs / Double(a.count), dfA: Double(a.count - 1),
                          meanB: b.meanMs, varB: b.stddevMs * b.stddevMs / Double(b.count), dfB: Double(b.count - 1), factor: factor)
    }

    static func welchUpper(meanA: Double, varA: Double, dfA: Double, meanB: Double, varB: Double, dfB: Double, factor: Double) -> Double {
        let va = factor * factor * varA, vb = varB
        let delta = meanB - factor * meanA
        let se = (va + vb).squareRoot()
        if se == 0 { return delta > 0 ? 0 : 1 }
        let df = (va + vb) * (va + vb) / (va * va / dfA + vb * vb / dfB)
        return Stats.studentTUpperTail(delta / se, df: df)
    }

    /// Bootstrap p-value of p99(B) > factor × p99(A): the share of resamples where it does not hold.
    static func bootstrapP99(_ a: [Double], _ b: [Double], factor: Double, resamples: Int = 2000) -> Double {
        var rng = SplitMix64(seed: 0x5EED_FA7B)
        var notSlower = 0
        var ra = [Double](repeating: 0, count: a.count), rb = [Double](repeating: 0, count: b.count)
        for _ in 0..<resamples {
            for i in ra.indices { ra[i] = a[Int(rng.next() % UInt64(a.count))] }
            for i in rb.indices { rb[i] = b[Int(rng.next() % UInt64(b.count))] }
            if Stats.percentile(rb, 99) <= factor * Stats.percentile(ra, 99) { notSlower += 1 }
        }
        return Double(notSlower + 1) / Double(resamples + 1)
    }

    /// What the gate found, for a terminal; the last line is the verdict.
    package func render() -> String {
        let what = "\(metric.rawValue)" + (trim.map { " (trimmed \(Int(($0 * 100).rounded()))% each end)" } ?? "")
        var out = ""
        let failedRows = rows.filter(\.failed)
        for r in failedRows {
            out += "SLOWER: \(r.label): \(what) " + fmt(r.valueA) + " → " + fmt(r.valueB)
                + String(format: " (%+.1f%%), p = %.2g after Holm's correction", r.changePct, r.adjustedP ?? 1) + "\n"
        }
        for r in rows where r.untestable != nil {
            out += "not tested: \(r.label): \(r.untestable!)\n"
        }
        let tested = rows.filter { $0.pValue != nil }.count
        let rule = String(format: "significantly slower by more than %g%% on %@, Holm-corrected α = %g over %d tested configuration(s)",
                          thresholdPct, what, alpha, tested)
        out += failedRows.isEmpty ? "gate: PASS — no configuration of B is \(rule)\n"
            : "gate: FAIL — \(failedRows.count) configuration(s) of B \(failedRows.count == 1 ? "is" : "are") \(rule)\n"
        return out
    }

    private func fmt(_ v: Double) -> String {
        metric == .cost ? String(format: "%.3g USD", v) : String(format: "%.2f ms", v)
    }
}

/// A small, fast, seedable generator, so a bootstrap gives the same answer on every run.
package struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
