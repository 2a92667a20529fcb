import Foundation

/// A small line chart as inline SVG: numeric x and y axes with tidy ticks, one coloured line
/// with markers per series, a legend, and a `<title>` on every point so hovering shows the value.
package struct SVGLineChart: Sendable {
    package struct Series: Sendable {
        package var name: String
        package var points: [(x: Double, y: Double)]
        package init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    package var title: String
    package var xLabel: String
    package var yLabel: String
    package var series: [Series]
    /// Ticks on x as (value, label); nil picks tidy ones.
    package var xTicks: [(Double, String)]?
    package var width = 540.0
    package var height = 340.0
    package var legend = true
    /// x values are categories, evenly spaced in order (memory sizes: 128 and 512 not squeezed together).
    package var categoricalX = false
    /// A logarithmic y axis, so a slow series does not flatten the others.
    package var logY = false
    /// How a point's value reads in its tooltip.
    package var format: @Sendable (Double) -> String = { String(format: "%.2f", $0) }

    package static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    package init(title: String, xLabel: String, yLabel: String, series: [Series], xTicks: [(Double, String)]? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.xTicks = xTicks
    }

    package func svg() -> String {
        let left = 64.0, right = 16.0, top = 34.0, bottom = legend ? 74.0 : 46.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        let categories = categoricalX ? Array(Set(xs + (xTicks ?? []).map(\.0))).sorted() : []
        let ticksX = categoricalX ? categories.map { v in (v, xTicks?.first { $0.0 == v }?.1 ?? Self.tickLabel(v)) }
            : xTicks ?? Self.niceTicks(lo: xs.min() ?? 0, hi: xs.max() ?? 1).map { ($0, Self.tickLabel($0)) }
        let xLo = min(xs.min() ?? 0, ticksX.first?.0 ?? 0), xHi = max(xs.max() ?? 1, ticksX.last?.0 ?? 1)
        let positive = ys.filter { $0 > 0 }
        let ticksY = logY ? Self.logTicks(lo: positive.min() ?? 1, hi: positive.max() ?? 10) : Self.niceTicks(lo: 0, hi: max(ys.max() ?? 1, 1e-9))
        let yLo = ticksY.first ?? 0, yHi = ticksY.last ?? 1
        func px(_ x: Double) -> Double {
            if categoricalX, let i = categories.firstIndex(of: x) { return left + (Double(i) + 0.5) / Double(categories.count) * plotW }
            return left + (xHi > xLo ? (x - xLo) / (xHi - xLo) : 0.5) * plotW
        }
        func py(_ y: Double) -> Double {
            if logY {
                let (lo, hi) = (log10(yLo), log10(yHi))
                return top + plotH - (hi > lo ? (log10(max(y, yLo)) - lo) / (hi - lo) : 0.5) * plotH
            }
            return top + plotH - (yHi > 0 ? y / yHi : 0) * plotH
        }

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\" width=\"\(n(width))\" height=\"\(n(height))\" role=\"img\" aria-label=\"\(HTML.escape(title))\">\n"
        s += "<text x=\"\(n(width / 2))\" y=\"20\" text-anchor=\"middle\" class=\"title\">\(HTML.escape(title))</text>\n"
        for v in ticksY {
            s += "<line x1=\"\(n(left))\" x2=\"\(n(left + plotW))\" y1=\"\(n(py(v)))\" y2=\"\(n(py(v)))\" class=\"grid\"/>"
            s += "<text x=\"\(n(left - 6))\" y=\"\(n(py(v) + 4))\" text-anchor=\"end\" class=\"tick\">\(Self.tickLabel(v))</text>\n"
        }
        for (v, label) in ticksX {
            s += "<line x1=\"\(n(px(v)))\" x2=\"\(n(px(v)))\" y1=\"\(n(top + plotH))\" y2=\"\(n(top + plotH + 4))\" class=\"axis\"/>"
            s += "<text x=\"\(n(px(v)))\" y=\"\(n(top + plotH + 17))\" text-anchor=\"middle\" class=\"tick\">\(HTML.escape(label))</text>\n"
        }
        s += "<line x1=\"\(n(left))\" x2=\"\(n(left + plotW))\" y1=\"\(n(top + plotH))\" y2=\"\(n(top + plotH))\" class=\"axis\"/>"
        s += "<line x1=\"\(n(left))\" x2=\"\(n(left))\" y1=\"\(n(top))\" y2=\"\(n(top + plotH))\" class=\"axis\"/>\n"
        s += "<text x=\"\(n(left + plotW / 2))\" y=\"\(n(top + plotH + 34))\" text-anchor=\"middle\" class=\"label\">\(HTML.escape(xLabel))</text>\n"
        s += "<text transform=\"translate(14 \(n(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"label\">\(HTML.escape(yLabel))</text>\n"
        for (i, serie) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            let pts = serie.points.sorted { $0.x < $1.x }
            let path = pts.map { "\(n(px($0.x))),\(n(py($0.y)))" }.joined(separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for p in pts {
                s += "<circle cx=\"\(n(px(p.x)))\" cy=\"\(n(py(p.y)))\" r=\"3.5\" fill=\"\(color)\"><title>\(HTML.escape(serie.name)): \(Self.tickLabel(p.x)) → \(format(p.y))</title></circle>"
            }
            s += "\n"
        }
        if legend {
            var x = left
            let y = height - 14
            for (i, serie) in series.enumerated() {
                let color = Self.palette[i % Self.palette.count]
                s += "<rect x=\"\(n(x))\" y=\"\(n(y - 9))\" width=\"14\" height=\"4\" fill=\"\(color)\"/>"
                s += "<text x=\"\(n(x + 18))\" y=\"\(n(y - 4))\" class=\"legend\">\(HTML.escape(serie.name))</text>"
                x += 30 + Double(serie.name.count) * 7
            }
            s += "\n"
        }
        return s + "</svg>"
    }

    /// About five round ticks from lo to at least hi.
    package static func niceTicks(lo: Double, hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo else { return [lo, lo + 1] }
        let raw = (hi - lo) / Double(count)
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let start = (lo / step).rounded(.down) * step
        var ticks: [Double] = []
        var v = start
        while v < hi + step * 0.999 && ticks.count < 50 {
            ticks.append(v)
            if v >= hi { break }
            v += step
        }
        return ticks
    }

    /// 1, 2, 5 × 10^k ticks from just below lo to just above hi (a log axis).
    package static func logTicks(lo: Double, hi: Double) -> [Double] {
        guard lo > 0, hi > 0 else { return [1, 10] }
        var ticks: [Double] = []
        var decade = pow(10, log10(lo).rounded(.down))
        let candidates = [1.0, 2, 5]
        while ticks.count < 40 {
            for m in candidates {
                let v = m * decade
                if v * 2.5 < lo && ticks.isEmpty { continue }
                ticks.append(v)
                if v >= hi { return ticks.count >= 2 ? ticks : ticks + [v * 2] }
            }
            decade *= 10
        }
        return ticks
    }

    static func tickLabel(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int(v)) }
        return abs(v) >= 1 ? String(format: "%.1f", v) : String(format: "%.3g", v)
    }

    private func n(_ v: Double) -> String { String(format: "%.1f", v) }
}

enum HTML {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }
}
