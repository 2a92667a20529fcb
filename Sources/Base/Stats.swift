import Foundation

/// Exact statistics over small samples.
package enum Stats {
    /// Nearest-rank percentile (p in 0…100); 0 for an empty sample.
    package static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    package static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// Sample standard deviation; 0 for fewer than two values.
    package static func stddev(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let m = mean(values)
        return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
    }
}

extension Stats {
    /// The mean after dropping `fraction` of the values from each end (⌊n × fraction⌋ each side;
    /// aws-lambda-power-tuning's discardTopBottom). `fraction` 0 is the plain mean.
    package static func trimmedMean(_ values: [Double], _ fraction: Double) -> Double {
        mean(trimmed(values, fraction))
    }

    /// The values sorted, with ⌊n × fraction⌋ dropped from each end (never all of them).
    package static func trimmed(_ values: [Double], _ fraction: Double) -> [Double] {
        let g = trimCount(values.count, fraction)
        return Array(values.sorted()[g..<(values.count - g)])
    }

    static func trimCount(_ n: Int, _ fraction: Double) -> Int {
        guard fraction > 0, n > 2 else { return 0 }
        return min(Int((Double(n) * fraction).rounded(.down)), (n - 1) / 2)
    }

    /// Yuen's estimate for a trimmed mean: (trimmed mean, squared standard error, the sample
    /// size left, h). With `fraction` 0 it is the mean and s²/n. Nil for fewer than two values.
    package static func trimmedMeanError(_ values: [Double], _ fraction: Double) -> (mean: Double, variance: Double, h: Int)? {
        let n = values.count
        guard n >= 2 else { return nil }
        let g = trimCount(n, fraction)
        let sorted = values.sorted()
        let h = n - 2 * g
        guard h >= 2 else { return nil }
        let m = mean(Array(sorted[g..<(n - g)]))
        // Winsorized variance: the trimmed values replaced by the nearest kept one.
        let winsorized = sorted.enumerated().map { i, v in i < g ? sorted[g] : (i >= n - g ? sorted[n - g - 1] : v) }
        let wm = mean(winsorized)
        let ssw = winsorized.reduce(0) { $0 + ($1 - wm) * ($1 - wm) }
        return (m, ssw / Double(h * (h - 1)), h)
    }

    /// P(T > t) for Student's t with `df` degrees of freedom (one-sided upper tail).
    package static func studentTUpperTail(_ t: Double, df: Double) -> Double {
        if t.isNaN || df <= 0 { return .nan }
        if t == .infinity { return 0 }
        if t == -.infinity { return 1 }
        let x = df / (df + t * t)
        let tail = 0.5 * regularizedIncompleteBeta(x, a: df / 2, b: 0.5)
        return t > 0 ? tail : 1 - tail
    }

    /// I_x(a, b) by its continued fraction (modified Lentz), accurate to ~1e-12.
    package static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let lnBeta: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let lnPowers: Double = a * log(x) + b * log(1 - x)
        let lnFront = lnBeta + lnPowers
        // The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
        if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(1 - x, a: b, b: a) }
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var f = d
        for m in 1...300 {
            let m = Double(m)
            let even: Double = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            let odd: Double = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            for numerator in [even, odd] {
                d = 1 + numerator * d
                if abs(d) < tiny { d = tiny }
                c = 1 + numerator / c
                if abs(c) < tiny { c = tiny }
                d = 1 / d
                f *= d * c
            }
            if abs(d * c - 1) < 1e-14 { break }
        }
        return exp(lnFront) * f / a
    }

    /// Holm's step-down correction: which of the p-values are rejected at family-wise `alpha`
    /// (nil p-values are not tested and never rejected), and each one's adjusted p-value.
    package static func holm(_ pValues: [Double?], alpha: Double = 0.05) -> (rejected: [Bool], adjusted: [Double?]) {
        let tested = pValues.enumerated().compactMap { i, p in p.map { (i, $0) } }.sorted { $0.1 < $1.1 }
        let m = tested.count
        var rejected = [Bool](repeating: false, count: pValues.count)
        var adjusted = [Double?](repeating: nil, count: pValues.count)
        var running = 0.0
        var stillRejecting = true
        for (rank, (i, p)) in tested.enumerated() {
            running = max(running, min(1, Double(m - rank) * p))
            adjusted[i] = running
            if stillRejecting && p <= alpha / Double(m - rank) {
                rejected[i] = true
            } else {
                stillRejecting = false
            }
        }
        return (rejected, adjusted)
    }
}
