import FanbenchBase
import Foundation

/// What `fanbench tune` found, schema `fanbench.tune/v1`: per size, the curve concurrency → mean
/// (± its 95% interval), the best concurrency for the goal, and the knee (the smallest
/// concurrency the best is not significantly better than).
package struct TuneResult: Codable, Sendable {
    package enum Goal: String, Codable, Sendable, CaseIterable {
        case duration, cost, balanced
    }

    package struct Point: Codable, Sendable, Equatable {
        package var concurrency: Int
        package var meanMs: Double
        package var ci95Ms: Double
        package var usdPerMillionX86: Double?
        package var invocations: Int
        /// The stored run that measured it.
        package var runId: String
        /// How it compared with the point measured before it (the compare test).
        package var verdict: String?
    }

    package struct Size: Codable, Sendable {
        package var memoryMb: Int
        package var best: String
        package var bestConcurrency: Int
        package var knee: String
        package var kneeConcurrency: Int
        /// Why the doubling stopped.
        package var stoppedBecause: String
        /// Sorted by concurrency.
        package var curve: [Point]

        package init(memoryMb: Int, best: String, bestConcurrency: Int, knee: String, kneeConcurrency: Int, stoppedBecause: String, curve: [Point]) {
            self.memoryMb = memoryMb
            self.best = best
            self.bestConcurrency = bestConcurrency
            self.knee = knee
            self.kneeConcurrency = kneeConcurrency
            self.stoppedBecause = stoppedBecause
            self.curve = curve
        }
    }

    package var schema = "fanbench.tune/v1"
    package var id: String
    package var fanbenchVersion: String
    package var startedAt: Date
    package var strategy: String
    package var goal: Goal
    package var trim: Double?
    package var maxConcurrency: Int
    package var invocationsPerPoint: Int
    package var target: RunReport.Target?
    package var sizes: [Size]

    package init(id: String, startedAt: Date, strategy: String, goal: Goal, maxConcurrency: Int, invocationsPerPoint: Int, sizes: [Size] = []) {
        self.id = id
        fanbenchVersion = FanbenchBase.fanbenchVersion
        self.startedAt = startedAt
        self.strategy = strategy
        self.goal = goal
        self.maxConcurrency = maxConcurrency
        self.invocationsPerPoint = invocationsPerPoint
        self.sizes = sizes
    }

    package static func point(_ c: RunReport.Config, runId: String, verdict: String?) -> Point {
        let n = c.invocations.count
        let ci = n >= 2 ? RunComparison.tCritical95(df: Double(n - 1)) * c.invocations.stddevMs / Double(n).squareRoot() : 0
        return Point(concurrency: c.concurrency, meanMs: c.invocations.robustMeanMs, ci95Ms: ci, usdPerMillionX86: c.cost?.x86.usdPerMillion,
                     invocations: n, runId: runId, verdict: verdict)
    }

    /// The curves as terminal tables, a line per size with the best and the knee.
    package func render() -> String {
        var out = "fanbench tune \(id): \(strategy):N per size, goal \(goal.rawValue)\(trim.map { ", trimmed \($0)" } ?? ""), \(invocationsPerPoint) invocations per point\n"
        for s in sizes {
            var rows: [[String]] = [["concurrency", "mean ms", "±95% ms", "x86 USD/1M", "vs previous", "run"]]
            for p in s.curve {
                rows.append(["\(strategy):\(p.concurrency)", String(format: "%.2f", p.meanMs), String(format: "%.2f", p.ci95Ms),
                             p.usdPerMillionX86.map { String(format: "%.2f", $0) } ?? "—", p.verdict ?? "", p.runId])
            }
            out += "\n\(s.memoryMb) MB\n" + ReportTables.render(rows)
            out += "best: \(s.best); knee: \(s.knee) (the smallest concurrency the best is not significantly better than); \(s.stoppedBecause)\n"
        }
        return out
    }

    /// A self-contained page: the curve per size (concurrency evenly spaced, log duration), then the tables.
    package func html() -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>fanbench tune \(HTML.escape(id))</title>
        <style>
        body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;margin:24px;background:#fafafa}
        .charts{display:flex;flex-wrap:wrap;gap:16px}.panel{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}
        .chart .title{font-size:14px;font-weight:600}.chart .tick{font-size:11px;fill:#555}.chart .label{font-size:12px;fill:#333}
        .chart .legend{font-size:12px}.chart .grid{stroke:#e6e6e6}.chart .axis{stroke:#888}
        pre{background:#fff;border:1px solid #ddd;padding:8px;font-size:12px}
        </style></head><body>
        <h1>fanbench tune \(HTML.escape(id))</h1>
        <div class="charts">

        """
        for s in sizes {
            var chart = SVGLineChart(title: "\(s.memoryMb) MB: \(strategy):N (best \(s.best), knee \(s.knee))", xLabel: "concurrency N",
                                     yLabel: "mean invocation duration (ms)",
                                     series: [.init(name: "mean", points: s.curve.map { (Double($0.concurrency), $0.meanMs) }),
                                              .init(name: "mean + 95% CI", points: s.curve.map { (Double($0.concurrency), $0.meanMs + $0.ci95Ms) }),
                                              .init(name: "mean − 95% CI", points: s.curve.map { (Double($0.concurrency), max(0.001, $0.meanMs - $0.ci95Ms)) })])
            chart.categoricalX = true
            chart.logY = true
            chart.format = { String(format: "%.1f ms", $0) }
            h += "<div class=\"panel\">\(chart.svg())</div>\n"
        }
        h += "</div>\n<pre>\(HTML.escape(render()))</pre>\n</body></html>\n"
        return h
    }
}
