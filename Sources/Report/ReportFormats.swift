import FanbenchBase
import Foundation

/// The formats `fanbench report` writes; each holds the same content.
package enum ReportFormat: String, CaseIterable, Sendable {
    case table, markdown, json, csv, html

    package func render(_ report: RunReport) throws -> String {
        switch self {
        case .table: return ReportTables.text(report)
        case .markdown: return ReportTables.markdownReport(report)
        case .json: return String(decoding: try report.jsonData(), as: UTF8.self) + "\n"
        case .csv: return ReportCSV.render(report)
        case .html: return HTMLReport.render(report)
        }
    }
}

/// One row per configuration, every figure at full precision (RFC 4180 quoting).
package enum ReportCSV {
    package static let header = [
        "run_id", "status", "op", "endpoint", "bucket", "emulated_rtt_ms", "memory_mb", "strategy", "concurrency", "start",
        "invocations", "failed", "mean_ms", "stddev_ms", "p50_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "init_ms", "list_ms",
        "function", "invocation_errors", "invocation_error_types", "calls", "errors", "error_codes", "retries", "call_p50_ms", "call_p90_ms", "call_p99_ms", "call_max_ms", "calls_per_s",
        "cpu_ms_per_call", "max_memory_used_mb", "throttled_ms", "cpu_limit", "memory_limit_mb", "enforced", "reassigned",
        "billed_ms", "gb_s", "x86_usd_per_invocation", "x86_usd_per_million", "arm64_usd_per_invocation", "arm64_usd_per_million",
        "ideal_ms", "measured_over_ideal", "recommended", "backend", "billed_from_report",
        "worker_in_p50_ms", "worker_in_p99_ms", "worker_out_p50_ms", "worker_out_p99_ms", "cpu_ms_per_invocation",
    ]

    package static func render(_ r: RunReport) -> String {
        var lines = [header.map(quote).joined(separator: ",")]
        for c in r.configs {
            let recs = (r.recommendations ?? []).filter { $0.memoryMb == c.memoryMb && $0.strategy == c.strategyLabel && $0.start == c.start }
            let cells: [String] = [
                r.runId, r.status, r.target.op, r.target.endpoint, r.target.bucket, opt(r.target.emulation?.rttMs),
                String(c.memoryMb), c.strategy, String(c.concurrency), c.start,
                String(c.invocations.count), String(c.invocations.failed), num(c.invocations.meanMs), num(c.invocations.stddevMs),
                num(c.invocations.p50Ms), num(c.invocations.p90Ms), num(c.invocations.p99Ms), num(c.invocations.minMs),
                num(c.invocations.maxMs), opt(c.initMs), opt(c.listMs),
                c.function ?? "", String(c.invocations.errors),
                (c.invocations.errorTypes ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";"),
                c.calls.map { String($0.count) } ?? "", c.calls.map { String($0.errors) } ?? "",
                c.calls?.errorCodes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";") ?? "",
                c.calls.map { String($0.retries) } ?? "", opt(c.calls?.p50Ms), opt(c.calls?.p90Ms), opt(c.calls?.p99Ms), opt(c.calls?.maxMs),
                opt(c.calls?.perSecond), opt(c.calls?.cpuMsPerCall), num(c.maxMemoryUsedMb), num(c.throttledMs),
                opt(c.limits.cpu), opt(c.limits.memoryMb), String(c.limits.enforced), String(c.reassigned),
                opt(c.cost?.billedMs), opt(c.cost?.gbSeconds), opt(c.cost?.x86.usdPerInvocation), opt(c.cost?.x86.usdPerMillion),
                opt(c.cost?.arm64.usdPerInvocation), opt(c.cost?.arm64.usdPerMillion),
                opt(c.networkLimit?.idealMs), opt(c.networkLimit?.measuredOverIdeal),
                recs.map { "\($0.start) \($0.goal)" }.joined(separator: ";"),
                r.plan.backend?.short(emulation: r.target.emulation) ?? "", c.invocations.billedFromReport.map(String.init) ?? "",
                opt(c.workerOverhead?.startP50Ms), opt(c.workerOverhead?.startP99Ms),
                opt(c.workerOverhead?.finishP50Ms), opt(c.workerOverhead?.finishP99Ms), opt(c.cpuMsPerInvocation),
            ]
            lines.append(cells.map(quote).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func num(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
    static func opt(_ v: Double?) -> String { v.map(num) ?? "" }

    static func quote(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

/// One self-contained page: inline CSS and SVG, nothing fetched. Three charts — mean
/// invocation duration vs memory per strategy (the blog's chart), cost vs memory, and the
/// call-latency distribution per strategy at each memory size — then every table.
package enum HTMLReport {
    package static func render(_ r: RunReport) -> String {
        let strategies = ReportTables.orderedUnique(r.configs.map(\.strategyLabel))
        let sizes = ReportTables.orderedUnique(r.configs.map(\.memoryMb)).sorted()
        let sizeTicks = sizes.map { (Double($0), String($0)) }
        func series(_ value: (RunReport.Config) -> Double?) -> [SVGLineChart.Series] {
            strategies.map { s in
                SVGLineChart.Series(name: s, points: r.configs.filter { $0.strategyLabel == s && $0.invocations.count > 0 }
                    .compactMap { c in value(c).map { (x: Double(c.memoryMb), y: $0) } })
            }
        }
        var duration = SVGLineChart(title: "Mean invocation duration vs memory", xLabel: "memory (MB)",
                                    yLabel: "mean invocation duration (ms)", series: series { $0.invocations.meanMs }, xTicks: sizeTicks)
        duration.format = { String(format: "%.1f ms", $0) }
        duration.categoricalX = true
        duration.logY = true
        duration.title = "Mean invocation duration vs memory (log scale)"
        var cost = SVGLineChart(title: "Cost vs memory (x86)", xLabel: "memory (MB)", yLabel: "USD per 1M invocations",
                                series: series { $0.cost?.x86.usdPerMillion }, xTicks: sizeTicks)
        cost.format = { String(format: "%.2f USD per 1M", $0) }
        cost.categoricalX = true
        cost.logY = true
        cost.title = "Cost vs memory, x86 (log scale)"

        // Percentiles on a "nines" axis: p50, p90, p99, p99.9 evenly spaced.
        func nines(_ p: Double) -> Double { -log10(1 - min(p, 99.99) / 100) }
        let percentileTicks: [(Double, String)] = [(nines(0), ""), (nines(50), "p50"), (nines(90), "p90"), (nines(99), "p99"),
                                                   (nines(99.9), "p99.9"), (nines(100), "max")]
        let panels = sizes.map { size -> String in
            var chart = SVGLineChart(
                title: "\(size) MB", xLabel: "percentile", yLabel: "call latency (ms)",
                series: strategies.map { s in
                    SVGLineChart.Series(name: s, points: (r.configs.first { $0.memoryMb == size && $0.strategyLabel == s && ($0.calls?.count ?? 0) > 0 }?
                        .calls?.latencyMs ?? []).map { (x: nines($0.p), y: $0.ms) })
                }.filter { !$0.points.isEmpty },
                xTicks: percentileTicks)
            chart.width = 360
            chart.height = 260
            chart.format = { String(format: "%.2f ms", $0) }
            return chart.svg()
        }

        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>fanbench run \(HTML.escape(r.runId))</title>
        <style>
        body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;margin:0;background:#fafafa}
        main{max-width:1240px;margin:0 auto;padding:24px}
        h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px}
        .meta{color:#555;margin:2px 0}.banner{background:#fff3cd;border:1px solid #e0c36a;padding:8px 12px;border-radius:4px;margin:10px 0}
        .warn{background:#fde2e1;border-color:#e0a1a1}
        .charts{display:flex;flex-wrap:wrap;gap:16px}.panel{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}
        .chart .title{font-size:14px;font-weight:600}.chart .tick{font-size:11px;fill:#555}.chart .label{font-size:12px;fill:#333}
        .chart .legend{font-size:12px}.chart .grid{stroke:#e6e6e6}.chart .axis{stroke:#888}
        table{border-collapse:collapse;background:#fff;margin:6px 0;font-size:12px}
        th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}th{background:#f0f0f0}
        td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:12px}
        .scroll{overflow-x:auto}
        </style></head><body><main>
        <h1>fanbench run \(HTML.escape(r.runId))</h1>

        """
        let lines = ReportTables.headline(r)
        for line in lines {
            let cls = line.hasPrefix("EMULATED") ? "banner" : (line.hasPrefix("note:") ? "banner warn" : "meta")
            h += "<p class=\"\(cls)\">\(HTML.escape(line))</p>\n"
        }
        if let recs = r.recommendations, !recs.isEmpty {
            h += "<h2>Recommendations</h2>\n<ul>\n"
            for rec in recs {
                h += "<li><b>\(rec.start) \(HTML.escape(rec.goal))</b>: \(rec.memoryMb) MB, \(HTML.escape(rec.strategy)) — "
                    + String(format: "%.1f ms mean, %.2f USD per 1M invocations (x86)", rec.meanMs, rec.usdPerMillionX86) + "</li>\n"
            }
            h += "</ul>\n"
        }
        h += "<h2>Charts</h2>\n<div class=\"charts\">\n<div class=\"panel\">\(duration.svg())</div>\n<div class=\"panel\">\(cost.svg())</div>\n</div>\n"
        if let timeline = FanoutCharts.timeline(r) {
            let shown = r.timeline?.count ?? 0
            h += "<h2>Invocation timeline</h2>\n<div class=\"panel scroll\">\(timeline)</div>\n"
            if shown >= RunReport.maxTimelineAttempts { h += "<p class=\"note\">the first \(shown) attempts</p>\n" }
        }
        let waterfalls = r.configs.flatMap { c in (c.waterfalls ?? []).map { FanoutCharts.waterfall(c, $0) } }
        if !waterfalls.isEmpty {
            h += "<h2>Call waterfalls (the slowest invocation and the median one per configuration)</h2>\n<div class=\"charts\">\n"
            h += waterfalls.map { "<div class=\"panel\">\($0)</div>" }.joined(separator: "\n") + "\n</div>\n"
        }
        h += "<h2>Call latency distribution per strategy</h2>\n<div class=\"charts\">\n"
        h += panels.map { "<div class=\"panel\">\($0)</div>" }.joined(separator: "\n")
        h += "\n</div>\n"
        for section in ReportTables.sections(r) {
            h += "<h2>\(HTML.escape(section.title))</h2>\n<div class=\"scroll\"><table>\n"
            for (i, row) in section.rows.enumerated() {
                let tag = i == 0 ? "th" : "td"
                h += "<tr>" + row.enumerated().map { j, cell in
                    let text = i > 0 && j == section.linkColumn
                        ? "<a href=\"\(HTML.escape(cell))\">open in the viewer</a>" : HTML.escape(cell)
                    return "<\(tag)>\(text)</\(tag)>"
                }.joined() + "</tr>\n"
            }
            h += "</table></div>\n"
            if let note = section.note { h += "<p class=\"note\">\(HTML.escape(note))</p>\n" }
        }
        h += "<p class=\"note\">Generated by fanbench \(HTML.escape(r.fanbenchVersion)); schema \(HTML.escape(r.schema)).</p>\n</main></body></html>\n"
        return h
    }
}
