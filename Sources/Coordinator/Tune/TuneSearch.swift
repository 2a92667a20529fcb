import FanbenchBase
import FanbenchReport
import Foundation

/// The search `fanbench tune` runs for one size: concurrency 1, 2, 4, … (doubling) until a step
/// is not a significant improvement by the compare test, or the cap (the keys an invocation
/// calls, or --max-concurrency); then one refining step at the midpoints around the best. The
/// measuring is injected, so the search is tested on its own.
package struct TuneSearch: Sendable {
    package var goal: TuneResult.Goal
    package var maxConcurrency: Int
    package var balanceWeight = 0.5
    /// Measures one concurrency: its configuration (with samples and cost) and the run id.
    package typealias Measure = @Sendable (Int) async throws -> (config: RunReport.Config, runId: String)

    package init(goal: TuneResult.Goal, maxConcurrency: Int) {
        self.goal = goal
        self.maxConcurrency = maxConcurrency
    }

    struct Measured {
        var config: RunReport.Config
        var runId: String
        var verdict: String?
    }

    package func run(memoryMb: Int, label: String, measure: Measure) async throws -> TuneResult.Size {
        var points: [Int: Measured] = [:]
        func take(_ n: Int, after previous: Int?) async throws {
            let (config, runId) = try await measure(n)
            var m = Measured(config: config, runId: runId)
            if let previous, let p = points[previous] {
                m.verdict = "\(significantlyBetter(config, than: p.config) ? "better" : "not better") than \(previous)"
            }
            points[n] = m
        }
        // Nothing above the keys an invocation calls helps: more in flight than calls is idle.
        var cap = maxConcurrency
        var n = 1
        try await take(n, after: nil)
        if let c = points[n]?.config.calls, let inv = points[n]?.config.invocations.count, inv > 0 {
            cap = min(cap, max(1, Int((Double(c.count) / Double(inv)).rounded(.up))))
        }
        var stopped = "reached the cap of \(cap)"
        while n < cap {
            let next = min(cap, n * 2)
            try await take(next, after: n)
            if !significantlyBetter(points[next]!.config, than: points[n]!.config) {
                stopped = "\(label):\(next) was not a significant improvement on \(label):\(n)"
                n = next
                break
            }
            n = next
        }
        // Refine: the midpoints between the best and its measured neighbours.
        var best = argBest(points)
        let measured = points.keys.sorted()
        let lower = measured.last { $0 < best }, upper = measured.first { $0 > best }
        for mid in [lower.map { ($0 + best) / 2 }, upper.map { (best + $0) / 2 }].compactMap({ $0 }) where points[mid] == nil && mid >= 1 {
            try await take(mid, after: best)
        }
        best = argBest(points)
        // The knee: the smallest concurrency the best is not significantly better than.
        let knee = points.keys.sorted().first { $0 == best || !significantlyBetter(points[best]!.config, than: points[$0]!.config) } ?? best
        let curve = points.keys.sorted().map { TuneResult.point(points[$0]!.config, runId: points[$0]!.runId, verdict: points[$0]!.verdict) }
        return TuneResult.Size(memoryMb: memoryMb, best: "\(label):\(best)", bestConcurrency: best, knee: "\(label):\(knee)",
                               kneeConcurrency: knee, stoppedBecause: stopped, curve: curve)
    }

    /// The compare test: for duration, Welch's 95% test as `fanbench compare` reports it; for
    /// cost, a one-sided Welch test on each invocation's cost; balanced needs both not worse and one better.
    package func significantlyBetter(_ new: RunReport.Config, than old: RunReport.Config) -> Bool {
        let verdict = RunComparison.row(label: "", old, new).verdict
        let faster = verdict == .faster, slower = verdict == .slower
        let pricing = Pricing()
        func cheaper(_ x: RunReport.Config, than y: RunReport.Config) -> Bool {
            guard let a = RegressionGate.samples(x, metric: .cost, pricing: pricing), let b = RegressionGate.samples(y, metric: .cost, pricing: pricing),
                  let p = RegressionGate.oneSidedP(a, b, factor: 1, trim: 0) else { return false }
            return p < 0.05
        }
        switch goal {
        case .duration: return faster
        case .cost: return cheaper(new, than: old)
        case .balanced: return (faster && !cheaper(old, than: new)) || (cheaper(new, than: old) && !slower)
        }
    }

    /// The concurrency with the lowest goal value (ties to the smaller).
    func argBest(_ points: [Int: Measured]) -> Int {
        let keys = points.keys.sorted()
        func duration(_ k: Int) -> Double { points[k]!.config.invocations.robustMeanMs }
        func cost(_ k: Int) -> Double { points[k]!.config.cost?.x86.usdPerInvocation ?? .infinity }
        let score: (Int) -> Double
        switch goal {
        case .duration: score = duration
        case .cost: score = cost
        case .balanced:
            let (dLo, dHi) = (keys.map(duration).min()!, keys.map(duration).max()!)
            let (cLo, cHi) = (keys.map(cost).min()!, keys.map(cost).max()!)
            func norm(_ v: Double, _ lo: Double, _ hi: Double) -> Double { hi > lo ? (v - lo) / (hi - lo) : 0 }
            let w = balanceWeight
            score = { w * norm(cost($0), cLo, cHi) + (1 - w) * norm(duration($0), dLo, dHi) }
        }
        return keys.min { (score($0), $0) < (score($1), $1) }!
    }
}
