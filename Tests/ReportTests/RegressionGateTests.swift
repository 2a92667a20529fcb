import FanbenchBase
import FanbenchProtocol
@testable import FanbenchReport
import Foundation
import Testing

@Suite struct StatisticsTests {
    @Test func studentTTailsMatchTheTables() {
        // Two-sided 95% critical values: the upper tail beyond them is 2.5%.
        for (t, df) in [(12.706, 1.0), (2.776, 4), (2.228, 10), (2.042, 30), (1.96, 100_000)] {
            #expect(abs(Stats.studentTUpperTail(t, df: df) - 0.025) < 0.0005, "t = \(t), df = \(df)")
        }
        #expect(abs(Stats.studentTUpperTail(0, df: 7) - 0.5) < 1e-12)
        #expect(abs(Stats.studentTUpperTail(-2.776, df: 4) - 0.975) < 0.0005)
        #expect(Stats.studentTUpperTail(.infinity, df: 3) == 0)
    }

    @Test func incompleteBetaAtKnownPoints() {
        // I_x(1, 1) = x; I_x(2, 1) = x²; I_0.5(a, a) = 0.5.
        #expect(abs(Stats.regularizedIncompleteBeta(0.3, a: 1, b: 1) - 0.3) < 1e-12)
        #expect(abs(Stats.regularizedIncompleteBeta(0.3, a: 2, b: 1) - 0.09) < 1e-12)
        #expect(abs(Stats.regularizedIncompleteBeta(0.5, a: 7.5, b: 7.5) - 0.5) < 1e-12)
    }

    @Test func holmStepsDownAndStopsAtTheFirstKeptHypothesis() {
        // m = 4: 0.01 ≤ 0.05/4, 0.015 ≤ 0.05/3, 0.03 > 0.05/2 stops; 0.001 never tested (nil stays nil).
        let (rejected, adjusted) = Stats.holm([0.03, 0.01, nil, 0.015, 0.04])
        #expect(rejected == [false, true, false, true, false])
        #expect(adjusted[1] == 0.04 && adjusted[3] == 0.045 && adjusted[2] == nil)
        #expect(abs(adjusted[0]! - 0.06) < 1e-12 && abs(adjusted[4]! - 0.06) < 1e-12)
    }

    @Test func trimmedMeansDropEachEnd() {
        let values = [1.0, 2, 3, 4, 100]
        #expect(Stats.trimmedMean(values, 0) == 22)
        #expect(Stats.trimmedMean(values, 0.2) == 3)
        #expect(Stats.trimmedMean(values, 0.1) == 22)  // ⌊5 × 0.1⌋ = 0
        #expect(Stats.trimmedMean([5, 1, 9], 0.49) == 5)  // never everything
        let yuen = Stats.trimmedMeanError(values, 0.2)!
        // Winsorized: 2, 2, 3, 4, 4 (mean 3, SS 4); h = 3: 4 ÷ (3 × 2).
        #expect(yuen.mean == 3 && yuen.h == 3 && abs(yuen.variance - 4.0 / 6) < 1e-12)
    }
}

@Suite struct RegressionGateTests {
    static let sizes = [128, 512, 1024, 1536, 2048, 3008]
    static let strategies: [Strategy] = [.serial, .threads(16), .async(16)]

    /// 18 configurations whose durations are `base × scale(MB)` plus noise from `seed`.
    static func run(_ id: String, seed: UInt64, scale: (Int) -> Double = { _ in 1 }, sizes: [Int] = sizes) -> RunReport {
        var rng = SplitMix64(seed: seed)
        func noise() -> Double { Double(rng.next() % 10_000) / 10_000 - 0.5 }
        var specs: [(Int, Strategy, [Double])] = []
        for mb in sizes {
            for (k, s) in strategies.enumerated() {
                let base = 100_000.0 / Double(mb) + Double(k) * 40
                specs.append((mb, s, (0..<5).map { _ in base * scale(mb) * (1 + 0.1 * noise()) }))
            }
        }
        return SampleReport.make(specs, id: id)
    }

    @Test func aRunAgainstItselfPasses() {
        let r = Self.run("a", seed: 1)
        for metric in RegressionGate.Metric.allCases {
            let gate = RegressionGate.evaluate(r, r, metric: metric, thresholdPct: 10)
            #expect(!gate.failed, "\(metric)")
            #expect(gate.rows.count == 18 && gate.rows.allSatisfy { $0.pValue != nil })
        }
    }

    @Test func aSmallSizeAgainstABigOneFailsOnEveryMetric() {
        let big = Self.run("big", seed: 2, sizes: [1024]), small = Self.run("small", seed: 3, sizes: [128])
        for metric in RegressionGate.Metric.allCases where metric != .cost {
            let gate = RegressionGate.evaluate(big, small, metric: metric, thresholdPct: 10)
            #expect(gate.failed && gate.rows.count == 3 && gate.rows.allSatisfy(\.failed), "\(metric)")
            #expect(gate.render().contains("gate: FAIL — 3 configuration(s)"))
        }
        // The other way round is faster: nothing fails.
        #expect(!RegressionGate.evaluate(small, big, metric: .mean, thresholdPct: 10).failed)
    }

    @Test func aSlowdownBelowTheThresholdPassesAndAboveItFails() {
        let a = Self.run("a", seed: 4)
        let b5 = Self.run("b", seed: 5, scale: { $0 == 1024 ? 1.05 : 1 })
        #expect(!RegressionGate.evaluate(a, b5, metric: .mean, thresholdPct: 10).failed)
        let b40 = Self.run("b", seed: 5, scale: { $0 == 1024 ? 1.4 : 1 })
        let gate = RegressionGate.evaluate(a, b40, metric: .mean, thresholdPct: 10)
        #expect(gate.rows.filter(\.failed).map(\.label) == ["1024 MB serial", "1024 MB threads:16", "1024 MB async:16"])
        // Cost moves with the billed duration.
        #expect(RegressionGate.evaluate(a, b40, metric: .cost, thresholdPct: 10).rows.filter(\.failed).count == 3)
    }

    /// With no change at all and a 0% threshold, an uncorrected family of 18 tests at 5% would
    /// alarm in ~60% of runs; Holm keeps it at or below 5%.
    @Test func eighteenNoisyConfigurationsRarelyRaiseAFalseAlarm() {
        // The gate reads the samples: one template report, its samples redrawn per trial.
        let template = Self.run("t", seed: 0)
        var rng = SplitMix64(seed: 42)
        func redraw(_ r: RunReport) -> RunReport {
            var r = r
            for i in r.configs.indices {
                let base = r.configs[i].invocations.meanMs
                r.configs[i].invocations.samplesMs = (0..<5).map { _ in base * (1 + 0.1 * (Double(rng.next() % 10_000) / 10_000 - 0.5)) }
            }
            return r
        }
        var alarms = 0, uncorrected = 0
        let trials = 1000
        for _ in 0..<trials {
            let gate = RegressionGate.evaluate(redraw(template), redraw(template), metric: .mean, thresholdPct: 0)
            if gate.failed { alarms += 1 }
            if gate.rows.contains(where: { ($0.pValue ?? 1) <= 0.05 }) { uncorrected += 1 }
        }
        print("18 unchanged configurations, 1,000 trials: Holm-corrected gate alarmed \(alarms)×, uncorrected 5% tests \(uncorrected)×")
        // Binomial spread at 1,000 trials is ±1.4 points (2 sd): 5% plus that.
        #expect(Double(alarms) / Double(trials) <= 0.064, "Holm: \(alarms) of \(trials)")
        #expect(Double(uncorrected) / Double(trials) > 0.3, "uncorrected: \(uncorrected) of \(trials)")
    }

    @Test func aBaselineWithoutSamplesFallsBackToSummaryFiguresForTheMean() throws {
        var a = Self.run("a", seed: 6, sizes: [1024])
        for i in a.configs.indices { a.configs[i].invocations.samplesMs = nil; a.configs[i].invocations.billedSamplesMs = nil }
        let b = Self.run("b", seed: 7, scale: { _ in 2 }, sizes: [1024])
        #expect(RegressionGate.evaluate(a, b, metric: .mean, thresholdPct: 10).failed)
        let p99 = RegressionGate.evaluate(a, b, metric: .p99, thresholdPct: 10)
        #expect(!p99.failed && p99.rows.allSatisfy { $0.untestable != nil })
        #expect(p99.render().contains("not tested: 1024 MB serial"))
    }

    @Test func aReportSurvivesTheJSONRoundTripWithItsSamples() throws {
        let r = Self.run("a", seed: 8, sizes: [512])
        let back = try ReportFile.decode(try r.jsonData(), from: "a.json")
        #expect(back.configs[0].invocations.samplesMs == r.configs[0].invocations.samplesMs)
        #expect(!RegressionGate.evaluate(back, r, metric: .p99, thresholdPct: 10).failed)
        #expect(throws: FanbenchError.self) { try ReportFile.decode(Data("{\"schema\": 3}".utf8), from: "bad.json") }
        do {
            _ = try ReportFile.decode(Data("{\"run_id\": \"x\"}".utf8), from: "bad.json")
        } catch {
            #expect(error.message.hasPrefix("bad.json is not a fanbench report") && error.message.contains("missing"))
        }
    }

    @Test func trimmingDropsAStragglerFromTheMeanAndTheRecommendation() {
        var r = SampleReport.make([(1024, .serial, [100, 100, 99, 100, 900]), (1024, .async(16), [150, 151, 149, 150, 152])])
        #expect(r.recommendations?.first { $0.goal == "fastest" }?.strategy == "async:16")
        r.derive(pricing: Pricing(), trim: 0.2)
        #expect(r.configs[0].invocations.trimmedMeanMs == 100 && r.configs[0].invocations.meanMs == 259.8)
        #expect(r.configs[0].cost?.billedMs == 100)
        #expect(r.recommendations?.first { $0.goal == "fastest" }?.strategy == "serial")
        let text = ReportTables.text(r)
        #expect(text.contains("trimmed 20%") && text.contains("259.80") && text.contains("100.00"))
    }
}

@Suite struct PowerTuningLinkTests {
    @Test func theLinkDecodesBackIntoTheRunsSizesDurationsAndCosts() throws {
        let r = SampleReport.make([(1024, .serial, [200, 210]), (128, .serial, [1500, 1600]), (512, .serial, [400, 420]),
                                   (128, .async(16), [300, 310])])
        let links = PowerTuningLink.links(r)
        #expect(links.map(\.strategy) == ["serial", "async:16"])
        let serial = try #require(links.first)
        #expect(serial.url.hasPrefix("https://lambda-power-tuning.show/#"))
        let points = try #require(PowerTuningLink.decode(serial.url))
        #expect(points.map(\.memoryMb) == [128, 512, 1024])
        for p in points {
            let c = try #require(r.configs.first { $0.memoryMb == p.memoryMb && $0.strategyLabel == "serial" })
            #expect(p.durationMs == Float(c.invocations.meanMs))
            #expect(p.usd == Float(c.cost!.x86.usdPerInvocation))
        }
        #expect(ReportTables.text(r).contains(serial.url))
        #expect(HTMLReport.render(r).contains("<a href=\"\(serial.url)\">"))
    }

    @Test func theBytesAreLittleEndianInt16AndFloat32() {
        // 128 = 0x0080 → 80 00; 1.0f = 0x3F800000 → 00 00 80 3F; 0.5f → 00 00 00 3F.
        let url = PowerTuningLink.url([.init(memoryMb: 128, durationMs: 1, usd: 0.5)])
        #expect(url == "https://lambda-power-tuning.show/#gAA=;AACAPw==;AAAAPw==")
        #expect(PowerTuningLink.decode("https://lambda-power-tuning.show/#gAA=;AACAPw==") == nil)
    }
}
