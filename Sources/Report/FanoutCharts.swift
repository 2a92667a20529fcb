import Foundation

/// Pictures of the fan-out as inline SVG: the invocation timeline (a lane per worker, a bar per
/// attempt, coloured by configuration; failed and re-queued attempts outlined in red) and an
/// invocation's call waterfall (a row per call from its start to its end), where a connection
/// pool's limit shows as stairs and CPU starvation as gaps and stretched bars.
package enum FanoutCharts {
    static func n(_ v: Double) -> String { String(format: "%.1f", v) }

    package static func timeline(_ report: RunReport, width: Double = 1180) -> String? {
        guard let attempts = report.timeline, !attempts.isEmpty else { return nil }
        var lanes: [String] = []
        for a in attempts where !lanes.contains(a.worker) { lanes.append(a.worker) }
        let laneH = lanes.count > 60 ? 4.0 : 14, left = 150.0, top = 30.0, right = 16.0
        let plotW = width - left - right
        let end = max(attempts.map(\.endMs).max() ?? 1, 1)
        let height = top + Double(lanes.count) * laneH + 70
        func x(_ ms: Double) -> Double { left + ms / end * plotW }
        let labels = report.configs.map { "\($0.memoryMb) MB \($0.strategyLabel)" }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" width=\"\(n(width))\" height=\"\(n(height))\" role=\"img\" aria-label=\"invocation timeline\">\n"
        s += "<text x=\"\(n(width / 2))\" y=\"18\" text-anchor=\"middle\" class=\"title\">Invocation timeline: a lane per worker, a bar per attempt (red outline: failed or re-queued)</text>\n"
        for v in SVGLineChart.niceTicks(lo: 0, hi: end / 1000) where v * 1000 <= end {
            s += "<line x1=\"\(n(x(v * 1000)))\" x2=\"\(n(x(v * 1000)))\" y1=\"\(n(top))\" y2=\"\(n(top + Double(lanes.count) * laneH))\" class=\"grid\"/>"
            s += "<text x=\"\(n(x(v * 1000)))\" y=\"\(n(top + Double(lanes.count) * laneH + 14))\" text-anchor=\"middle\" class=\"tick\">\(SVGLineChart.tickLabel(v)) s</text>\n"
        }
        if laneH >= 10 {
            for (i, lane) in lanes.enumerated() {
                s += "<text x=\"\(n(left - 6))\" y=\"\(n(top + Double(i) * laneH + laneH - 3))\" text-anchor=\"end\" class=\"tick\">\(HTML.escape(String(lane.suffix(22))))</text>"
            }
            s += "\n"
        }
        let laneIndex = Dictionary(uniqueKeysWithValues: lanes.enumerated().map { ($1, $0) })
        let abandoned = Set((report.abandoned ?? []).map(\.invocation))
        for a in attempts {
            let color = SVGLineChart.palette[a.config % SVGLineChart.palette.count]
            let y = top + Double(laneIndex[a.worker]!) * laneH + 1
            let bad = a.outcome != "ok"
            let label = a.config < labels.count ? labels[a.config] : "configuration \(a.config)"
            s += "<rect x=\"\(n(x(a.startMs)))\" y=\"\(n(y))\" width=\"\(n(max(1, x(a.endMs) - x(a.startMs))))\" height=\"\(n(laneH - 2))\" fill=\"\(color)\""
                + (bad ? " stroke=\"#d00\" stroke-width=\"2\" fill-opacity=\"0.35\"" : "") + ">"
                + "<title>\(HTML.escape(label)) · \(HTML.escape(a.invocation)) on \(HTML.escape(a.worker)): "
                + String(format: "%.0f → %.0f ms (%.0f ms)", a.startMs, a.endMs, a.endMs - a.startMs)
                + " · \(a.outcome)\(abandoned.contains(a.invocation) ? ", abandoned" : "")</title></rect>"
        }
        s += "\n"
        var lx = left
        let ly = height - 24
        for (i, label) in labels.enumerated() where report.configs[i].invocations.count + report.configs[i].invocations.failed > 0 {
            if lx + Double(label.count) * 7 + 30 > width { break }
            s += "<rect x=\"\(n(lx))\" y=\"\(n(ly - 9))\" width=\"12\" height=\"10\" fill=\"\(SVGLineChart.palette[i % SVGLineChart.palette.count])\"/>"
            s += "<text x=\"\(n(lx + 16))\" y=\"\(n(ly))\" class=\"legend\">\(HTML.escape(label))</text>"
            lx += 30 + Double(label.count) * 7
        }
        return s + "\n</svg>"
    }

    package static func waterfall(_ config: RunReport.Config, _ w: RunReport.Waterfall, width: Double = 380) -> String {
        let rowH = w.callsMs.count > 150 ? max(0.4, 300 / Double(w.callsMs.count)) : 2.0
        let left = 40.0, top = 34.0, right = 10.0
        let plotW = width - left - right, plotH = max(40, Double(w.callsMs.count) * rowH)
        let height = top + plotH + 36
        let end = max(w.durationMs, w.callsMs.map { $0[1] }.max() ?? 1, 1)
        func x(_ ms: Double) -> Double { left + ms / end * plotW }
        let title = "\(config.memoryMb) MB \(config.strategyLabel): \(w.which) invocation, " + String(format: "%.0f ms", w.durationMs)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" width=\"\(n(width))\" height=\"\(n(height))\" role=\"img\" aria-label=\"\(HTML.escape(title))\">\n"
        s += "<text x=\"\(n(width / 2))\" y=\"18\" text-anchor=\"middle\" class=\"title\">\(HTML.escape(title))</text>\n"
        for v in SVGLineChart.niceTicks(lo: 0, hi: end) where v <= end {
            s += "<line x1=\"\(n(x(v)))\" x2=\"\(n(x(v)))\" y1=\"\(n(top))\" y2=\"\(n(top + plotH))\" class=\"grid\"/>"
            s += "<text x=\"\(n(x(v)))\" y=\"\(n(top + plotH + 14))\" text-anchor=\"middle\" class=\"tick\">\(SVGLineChart.tickLabel(v))</text>"
        }
        s += "<text x=\"\(n(left + plotW / 2))\" y=\"\(n(top + plotH + 30))\" text-anchor=\"middle\" class=\"label\">ms from the invocation's start; a row per call (\(w.callsMs.count))</text>\n"
        for (i, c) in w.callsMs.enumerated() {
            s += "<rect x=\"\(n(x(c[0])))\" y=\"\(n(top + Double(i) * rowH))\" width=\"\(n(max(0.8, x(c[1]) - x(c[0]))))\" height=\"\(n(max(0.4, rowH * 0.8)))\" fill=\"#1f77b4\">"
                + String(format: "<title>call %d: %.1f → %.1f ms (%.1f ms)</title></rect>", i + 1, c[0], c[1], c[1] - c[0])
        }
        return s + "\n</svg>"
    }
}
