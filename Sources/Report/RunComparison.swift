import Foundation

/// `fanbench compare A B`: per configuration, how B's mean, p99 and cost differ from A's, and
/// whether the change in mean stands out of the noise of each side's invocation spread (Welch's
/// t-test at 95%), so that nobody reads a 3% wiggle as a win.
package struct RunComparison: Codable, Sendable {
    package enum Verdict: String, Codable, Sendable {
        case faster, slower
        case noise = "no significant change"
        case unknown = "too few invocations to tell"
        case onlyInA = "only in A"
        case onlyInB = "only in B"
    }

    package struct Row: Codable, Sendable {
        package var label: String
        package var meanMsA: Double?
        package var meanMsB: Double?
        /// (B − A) ÷ A, in percent.
        package var meanChangePct: Double?
        /// Half-width of the 95% confidence interval of the change in mean, in percent of A.
        package var meanChangeCiPct: Double?
        package var p99ChangePct: Double?
        package var costChangePct: Double?
        package var verdict: Verdict
    }

    package var runA: String
    package var runB: String
    /// How configurations were paired: `memory and strategy`, or `strategy` when each run has one other size.
    package var pairedBy: String
    /// Where each run's invocations ran (the emulation against real Lambda is what a calibration compares).
    package var backendA: String?
    package var backendB: String?
    /// The emulation profiles, when the two runs' differ (hash, or CPU probe scale by over 5%).
    package var profileA: String?
    package var profileB: String?
    package var rows: [Row]

    /// Whether the runs pair by strategy alone: each has one memory size, and they differ.
    static func pairsByStrategy(_ a: RunReport, _ b: RunReport) -> Bool {
        let sizesA = Set(a.configs.map(\.memoryMb)), sizesB = Set(b.configs.map(\.memoryMb))
        return sizesA.isDisjoint(with: sizesB) && sizesA.count == 1 && sizesB.count == 1
    }

    /// The configurations of A and B that are compared, with the label each pair goes by.
    package static func pairs(_ a: RunReport, _ b: RunReport) -> [(label: String, a: RunReport.Config, b: RunReport.Config)] {
        let byStrategy = pairsByStrategy(a, b)
        func key(_ c: RunReport.Config) -> String { byStrategy ? c.strategyLabel : "\(c.memoryMb) MB \(c.strategyLabel)" }
        return a.configs.compactMap { ca in
            b.configs.first(where: { key($0) == key(ca) }).map { cb in
                (byStrategy ? "\(ca.memoryMb) → \(cb.memoryMb) MB \(ca.strategyLabel)" : key(ca), ca, cb)
            }
        }
    }

    package static func compare(_ a: RunReport, _ b: RunReport) -> RunComparison {
        let byStrategy = pairsByStrategy(a, b)
        func key(_ c: RunReport.Config) -> String { byStrategy ? c.strategyLabel : "\(c.memoryMb) MB \(c.strategyLabel)" }
        let paired = pairs(a, b)
        var rows: [Row] = []
        for ca in a.configs {
            if let pair = paired.first(where: { key($0.a) == key(ca) }) {
                rows.append(row(label: pair.label, ca, pair.b))
            } else {
                rows.append(Row(label: key(ca), meanMsA: ca.invocations.meanMs, verdict: .onlyInA))
            }
        }
        let matchedB = Set(paired.map { key($0.b) })
        for cb in b.configs where !matchedB.contains(key(cb)) {
            rows.append(Row(label: key(cb), meanMsB: cb.invocations.meanMs, verdict: .onlyInB))
        }
        var comparison = RunComparison(runA: a.runId, runB: b.runId,
                             pairedBy: byStrategy ? "strategy (each run has one memory size)" : "memory and strategy",
                             backendA: a.plan.backend?.describe(emulation: a.target.emulation, workers: a.plan.workers),
                             backendB: b.plan.backend?.describe(emulation: b.target.emulation, workers: b.plan.workers), rows: rows)
        if let ea = a.target.emulation, let eb = b.target.emulation, ea.profileHash != nil || eb.profileHash != nil {
            let scaleA = ea.cpu?.scale ?? 1, scaleB = eb.cpu?.scale ?? 1
            if ea.profileHash != eb.profileHash || abs(scaleA / scaleB - 1) > 0.05 {
                comparison.profileA = ea.profileLabel
                comparison.profileB = eb.profileLabel
            }
        }
        return comparison
    }

    package static func row(label: String, _ a: RunReport.Config, _ b: RunReport.Config) -> Row {
        let (ia, ib) = (a.invocations, b.invocations)
        func pct(_ x: Double, _ y: Double) -> Double? { x > 0 ? (y - x) / x * 100 : nil }
        var r = Row(label: label, meanMsA: ia.meanMs, meanMsB: ib.meanMs, meanChangePct: pct(ia.meanMs, ib.meanMs),
                    p99ChangePct: pct(ia.p99Ms, ib.p99Ms),
                    costChangePct: a.cost.flatMap { ca in b.cost.flatMap { cb in pct(ca.x86.usdPerInvocation, cb.x86.usdPerInvocation) } },
                    verdict: .unknown)
        let delta = ib.meanMs - ia.meanMs
        guard ia.count >= 2, ib.count >= 2 else { return r }
        let va = ia.stddevMs * ia.stddevMs / Double(ia.count), vb = ib.stddevMs * ib.stddevMs / Double(ib.count)
        let se = (va + vb).squareRoot()
        if se == 0 {
            r.meanChangeCiPct = 0
            r.verdict = delta == 0 ? .noise : (delta < 0 ? .faster : .slower)
            return r
        }
        // Welch–Satterthwaite degrees of freedom.
        let df = (va + vb) * (va + vb) / (va * va / Double(ia.count - 1) + vb * vb / Double(ib.count - 1))
        let halfWidth = tCritical95(df: df) * se
        r.meanChangeCiPct = ia.meanMs > 0 ? halfWidth / ia.meanMs * 100 : nil
        r.verdict = abs(delta) <= halfWidth ? .noise : (delta < 0 ? .faster : .slower)
        return r
    }

    /// Two-sided 95% critical value of Student's t, rounded down to a whole df (conservative).
    package static func tCritical95(df: Double) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                               2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        let n = Int(df.rounded(.down))
        if n < 1 { return table[0] }
        if n <= 30 { return table[n - 1] }
        return n <= 60 ? 2.000 : (n <= 120 ? 1.980 : 1.960)
    }

    /// The comparison as a terminal table (or markdown), with a one-line summary.
    package func render(markdown: Bool = false) -> String {
        func p(_ v: Double?) -> String { v.map { String(format: "%+.1f%%", $0) } ?? "—" }
        func ms(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "—" }
        var rows: [[String]] = [["configuration", "A mean ms", "B mean ms", "Δ mean (±95% CI)", "Δ p99", "Δ cost", "verdict"]]
        for r in self.rows {
            let change = r.meanChangePct.map { c in p(c) + (r.meanChangeCiPct.map { String(format: " ±%.1f%%", $0) } ?? "") } ?? "—"
            rows.append([r.label, ms(r.meanMsA), ms(r.meanMsB), change, p(r.p99ChangePct), p(r.costChangePct), r.verdict.rawValue])
        }
        let significant = self.rows.filter { $0.verdict == .faster || $0.verdict == .slower }.count
        let paired = self.rows.filter { $0.meanMsA != nil && $0.meanMsB != nil }.count
        let summary = "\(significant) of \(paired) paired configuration(s) changed beyond the noise (B vs A; Δ = (B − A) ÷ A; paired by \(pairedBy))"
        var header = "compare A = \(runA) with B = \(runB)"
        if let backendA, let backendB, backendA != backendB {
            header += "\nA \(backendA)\nB \(backendB)"
        }
        if let profileA, let profileB {
            header += "\nthe runs' emulation differs — A profile \(profileA)\n                           B profile \(profileB)"
        }
        return markdown
            ? "## \(header)\n\n" + ReportTables.markdown(rows) + "\n" + summary + "\n"
            : header + "\n" + ReportTables.render(rows) + summary + "\n"
    }
}
