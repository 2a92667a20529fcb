import FanbenchBase
import FanbenchProtocol
@testable import FanbenchReport
import Foundation
import Testing

/// A report built from real aggregates of made-up invocation results.
enum SampleReport {
    static func result(_ id: String, ms: Double, calls: Int = 100, initMs: Double? = nil, errors: [String: Int] = [:],
                       latencyUs: UInt64 = 16_000) -> InvocationResult {
        InvocationResult(invocationId: id, durationMs: ms, initMs: initMs, calls: calls, errors: errors, retries: 0,
                         histogram: HistogramSnapshot(counts: [[latencyUs, UInt64(calls)]]), maxMemoryBytes: 50 << 20,
                         cpuMs: 10, throttledMs: 0)
    }

    /// One configuration per (MB, strategy, durations).
    static func make(_ specs: [(Int, Strategy, [Double])], id: String = "r1", rtt: Double? = nil, listing: String = "coordinator",
                     cold: Bool = false) -> RunReport {
        let configs = specs.enumerated().map { (i, spec) -> RunReport.Config in
            let size = try! LambdaSize(memoryMB: spec.0)
            var a = ConfigAggregate(config: ConfigSpec(index: i, size: size, strategy: spec.1))
            let limits = WorkerLimits(cpu: size.cpu, memoryBytes: size.memoryBytes, cgroup: "v1")
            for (n, ms) in spec.2.enumerated() { a.add(result("\(i)-\(n)", ms: ms, initMs: cold ? 200 : nil), limits: limits) }
            return RunReport.config(from: a)
        }
        var r = RunReport(
            runId: id, fanbenchVersion: "test", status: "complete", startedAt: Date(timeIntervalSince1970: 1_700_000_000), finishedAt: nil,
            host: .init(cores: 2, cgroup: "v1"),
            target: .init(endpoint: "https://s3.example", bucket: "b", prefix: nil, op: "get-object-acl",
                          emulation: rtt.map { .init(profile: "lambda-same-region", rttMs: $0, jitter: "lognormal:0.2", tls: true) }),
            plan: .init(sizes: specs.map(\.0), strategies: specs.map(\.1.description), invocations: 3, shardSize: nil, listing: listing,
                        keys: 100, workers: "local (v1)", cold: cold, oversubscribedSizes: []),
            configs: configs)
        r.derive()
        return r
    }
}

@Suite struct CostTests {
    @Test func billedDurationRoundsEachInvocationUpToAMillisecond() throws {
        let r = SampleReport.make([(128, .serial, [100.2, 100.0, 99.01])])
        #expect(r.configs[0].invocations.billedMs == 301.0 / 3)
    }

    @Test func coldInvocationsAreBilledWithTheirInit() {
        let r = SampleReport.make([(1024, .serial, [100.5])], cold: true)
        #expect(r.configs[0].start == "cold")
        #expect(r.configs[0].invocations.billedMs == 301)
    }

    @Test func costIsGigabyteSecondsTimesPricePlusTheRequestFee() throws {
        let cost = Pricing().cost(memoryMb: 1024, billedMs: 1000)
        #expect(cost.gbSeconds == 1)
        #expect(abs(cost.x86.usdPerInvocation - (0.000_016_666_7 + 0.000_000_2)) < 1e-15)
        #expect(abs(cost.arm64.usdPerMillion - (13.3334 + 0.2)) < 1e-9)
        let custom = Pricing(x86UsdPerGbSecond: 1, arm64UsdPerGbSecond: 2, usdPerMillionRequests: 0).cost(memoryMb: 512, billedMs: 2000)
        #expect(custom.x86.usdPerInvocation == 1 && custom.arm64.usdPerInvocation == 2)
    }

    @Test func networkLimitCountsListingAndCallWaves() throws {
        let listed = SampleReport.make([(1024, .threads(16), [256])], rtt: 16, listing: "invocation")
        let n = try #require(listed.configs[0].networkLimit)
        #expect(n.roundTrips == 1 + 7)  // one listing page, ceil(100 / 16) waves
        #expect(n.idealMs == 128)
        #expect(n.measuredOverIdeal == 2)
        let serial = SampleReport.make([(1024, .serial, [1700])], rtt: 16)
        #expect(serial.configs[0].networkLimit?.idealMs == 1600)
        #expect(SampleReport.make([(1024, .serial, [1700])]).configs[0].networkLimit == nil, "no RTT known, no ideal")
    }
}

@Suite struct RecommendationTests {
    let report = SampleReport.make([
        (128, .serial, [2000, 2000]),    // cheapest: 0.25 GB-s
        (1024, .serial, [1900, 1900]),
        (1024, .threads(16), [150, 150]),
        (3008, .threads(16), [120, 120]), // fastest
    ])

    func pick(_ r: RunReport, _ goal: String, start: String = "warm") -> String? {
        r.recommendations?.first { $0.goal == goal && $0.start == start }.map { "\($0.memoryMb) \($0.strategy)" }
    }

    @Test func fastestCheapestBalanced() {
        #expect(pick(report, "fastest") == "3008 threads:16")
        #expect(pick(report, "cheapest") == "1024 threads:16")  // 0.146 GB-s beats 128 MB serial's 0.25
        #expect(pick(report, "balanced") == "1024 threads:16")
    }

    @Test func weightZeroIsSpeedAndOneIsCost() {
        var r = report
        r.derive(balanceWeight: 0)
        #expect(r.recommendations?.first { $0.goal == "balanced" }?.memoryMb == 3008)
        r.derive(balanceWeight: 1)
        #expect(pick(r, "balanced") == "1024 threads:16")
    }

    @Test func coldAndWarmAreKeptApartAndErrorsExcluded() {
        var r = SampleReport.make([(128, .serial, [50]), (1024, .serial, [40])])
        let cold = SampleReport.make([(1024, .serial, [90])], cold: true)
        r.configs += cold.configs
        r.configs[1].calls?.errors = 3
        r.derive()
        #expect(pick(r, "fastest") == "128 serial", "the faster config had errors")
        #expect(pick(r, "fastest", start: "cold") == "1024 serial")
    }
}

@Suite struct ComparisonTests {
    @Test func aRunComparedWithItselfHasNoSignificantChange() {
        let r = SampleReport.make([(128, .serial, [500, 520, 480]), (1024, .async(16), [90, 95, 85])])
        let c = RunComparison.compare(r, r)
        #expect(c.rows.allSatisfy { $0.verdict == .noise })
        #expect(c.render().contains("0 of 2 paired configuration(s) changed"))
    }

    @Test func runsUnderDifferentProfilesOrCPUScalesSaySo() {
        func run(_ id: String, hash: String, scale: Double) -> RunReport {
            var r = SampleReport.make([(1024, .serial, [100, 110, 90])], id: id)
            var e = RunReport.Emulation(profile: "p", rttMs: 16, jitter: "fixed", tls: true)
            e.profileHash = hash
            e.cpu = .init(probeScore: 100, vcpuScore: 100 * scale, scale: scale, applied: true)
            r.target.emulation = e
            return r
        }
        let same = RunComparison.compare(run("a", hash: "aaa", scale: 1), run("b", hash: "aaa", scale: 1.02))
        #expect(same.profileA == nil && !same.render().contains("emulation differs"))
        let otherHash = RunComparison.compare(run("a", hash: "aaa", scale: 1), run("b", hash: "bbb", scale: 1))
        #expect(otherHash.render().contains("the runs' emulation differs"))
        #expect(otherHash.profileB?.contains("#bbb") == true)
        let otherHost = RunComparison.compare(run("a", hash: "aaa", scale: 1), run("b", hash: "aaa", scale: 0.8))
        #expect(otherHost.profileA?.contains("quotas × 1.000") == true && otherHost.profileB?.contains("quotas × 0.800") == true)
    }

    @Test func aHostSlowerThanTheProfilesVCPUIsNamedWithWhatItCannotEmulate() {
        func headline(probe: Double, vcpu: Double?, applied: Bool = true) -> [String] {
            var r = SampleReport.make([(3008, .serial, [100, 110])])
            var e = RunReport.Emulation(profile: "p", rttMs: 16, jitter: "fixed", tls: true)
            e.cpu = .init(probeScore: probe, vcpuScore: vcpu, scale: vcpu.map { $0 / probe } ?? 1, applied: applied)
            r.target.emulation = e
            return ReportTables.headline(r).filter { $0.hasPrefix("SLOW HOST") }
        }
        // This project's second VM: probe 79.8 against the default's 92.
        let slow = headline(probe: 79.8, vcpu: 92)
        #expect(slow.count == 1)
        #expect(slow.first?.contains("does 0.87 of a Lambda vCPU's work a second (CPU probe 79.8, the profile's vCPU 92.0)") == true)
        #expect(slow.first?.contains("up to 1.15× as long as on Lambda") == true)
        #expect(slow.first?.contains("run where the probe reads 92 or more") == true)
        #expect(headline(probe: 125, vcpu: 92).isEmpty, "a faster core is held to the vCPU by its quota")
        #expect(headline(probe: 90, vcpu: 92).isEmpty, "within the probe's own spread")
        #expect(headline(probe: 79.8, vcpu: nil).isEmpty, "unscaled: the host's core is the vCPU")
        #expect(headline(probe: 79.8, vcpu: 92, applied: false).isEmpty, "the platform set the quotas")
    }

    @Test func theEmulatedLineNamesTheCPUsParametersOnlyWhenTheyChangeSomething() {
        func line(_ edit: (inout RunReport.Emulation) -> Void) -> String {
            var r = SampleReport.make([(128, .serial, [100, 110])])
            var e = RunReport.Emulation(profile: "p", rttMs: 16, jitter: "fixed", tls: true)
            edit(&e)
            r.target.emulation = e
            return ReportTables.headline(r).first { $0.hasPrefix("EMULATED network") } ?? ""
        }
        #expect(line { $0.cpuPeriodMs = 100 }.contains("period") == false, "Linux's own period is not news")
        #expect(line { $0.cpuPeriodMs = 20 }.contains(", CPU quota per 20 ms period"))
        #expect(line { $0.blockCostUs = 60 }.contains(", 60 µs CPU per function thread block"))
        #expect(!line { _ in }.contains("block"))
        #expect(line { $0.instanceRps = 280 }.contains(", 280 requests/s per instance,"))
        #expect(line { $0.instanceRps = 280; $0.instanceRpsPer = "vcpu" }.contains(", 280 requests/s per vCPU of an instance (its size's share, up to one)"))
        #expect(line { $0.instanceRps = 220; $0.instanceRpsCounts = "requests" }.contains(", 220 requests/s per instance, TLS handshakes not counted,"))
        #expect(line { $0.blockCostUs = 60; $0.blocksPerCpuMs = 3 }.contains(", 60 µs CPU per function thread block (at most 3 a CPU ms)"))
        #expect(line { $0.caCertificates = 141 }.contains("TLS on, CA bundle of 141 certificates)"))
        #expect(!line { $0.caCertificates = 141; $0.tls = false }.contains("CA bundle"), "no TLS, no bundle loaded")
    }

    @Test func aWiggleWithinTheSpreadIsNoise() {
        let a = SampleReport.make([(1024, .serial, [100, 110, 90, 105, 95])])
        let b = SampleReport.make([(1024, .serial, [103, 113, 93, 108, 98])], id: "r2")  // +3%
        #expect(RunComparison.compare(a, b).rows[0].verdict == .noise)
    }

    @Test func aClearChangeIsReported() {
        let a = SampleReport.make([(1024, .serial, [100, 101, 99])])
        let b = SampleReport.make([(1024, .serial, [80, 81, 79])], id: "r2")
        let row = RunComparison.compare(a, b).rows[0]
        #expect(row.verdict == .faster)
        #expect(abs(row.meanChangePct! + 20) < 0.01)
        #expect(RunComparison.compare(b, a).rows[0].verdict == .slower)
    }

    @Test func singleSizeRunsOfDifferentSizesArePairedByStrategy() {
        let small = SampleReport.make([(128, .serial, [600, 620, 580]), (128, .threads(8), [700, 760, 640])])
        let big = SampleReport.make([(1024, .serial, [120, 125, 115]), (1024, .threads(8), [90, 95, 85])], id: "r2")
        let c = RunComparison.compare(small, big)
        #expect(c.pairedBy.hasPrefix("strategy"))
        #expect(c.rows.map(\.verdict) == [.faster, .faster])
        #expect(c.rows[0].label == "128 → 1024 MB serial")
        #expect(c.rows[0].costChangePct != nil)
    }

    @Test func tooFewInvocationsCannotBeJudgedAndUnpairedAreListed() {
        let a = SampleReport.make([(128, .serial, [600]), (512, .serial, [300, 310])])
        let b = SampleReport.make([(128, .serial, [300]), (1024, .serial, [100, 110])], id: "r2")
        let c = RunComparison.compare(a, b)
        #expect(c.rows.map(\.verdict) == [.unknown, .onlyInA, .onlyInB])
    }
}

@Suite struct ReportFormatTests {
    let report = SampleReport.make([(128, .serial, [2000, 2100]), (128, .threads(16), [900, 950]),
                                    (1024, .serial, [1800, 1850]), (1024, .threads(16), [150, 160])], rtt: 16)

    @Test func csvHasOneQuotedRowPerConfiguration() throws {
        var r = report
        r.target.bucket = "a,b \"quoted\""
        let lines = ReportCSV.render(r).components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.count == 1 + 4)
        #expect(lines[1].contains("\"a,b \"\"quoted\"\"\""))
        #expect(lines[0].split(separator: ",").count == ReportCSV.header.count)
    }

    @Test func htmlIsSelfContainedWithThreeKindsOfChart() throws {
        let html = HTMLReport.render(report)
        #expect(html.contains("Mean invocation duration vs memory"))
        #expect(html.contains("Cost vs memory"))
        #expect(html.contains("Call latency distribution"))
        #expect(html.components(separatedBy: "<svg ").count - 1 == 2 + 2, "two charts and one latency panel per size")
        #expect(html.contains("EMULATED network"))
        for fetch in ["src=", "@import", "url("] { #expect(!html.contains(fetch), "\(fetch) would fetch something") }
        // The only links are power-tuning's viewer, opened by a click, never fetched.
        #expect(html.components(separatedBy: "href=").count == html.components(separatedBy: "href=\"https://lambda-power-tuning.show/#").count)
        var hostile = report
        hostile.target.bucket = "<script>alert(1)</script>"
        #expect(!HTMLReport.render(hostile).contains("<script>"))
    }

    @Test func everyFormatCarriesTheSameFigures() throws {
        let mean = String(format: "%.2f", report.configs[3].invocations.meanMs)
        for format in [ReportFormat.table, .markdown, .html] {
            let text = try format.render(report)
            #expect(text.contains(mean), "\(format)")
            #expect(text.contains("recommendations"), "\(format)")
            #expect(text.contains("measured ÷ ideal"), "\(format)")
        }
        let decoded = try JSONSerialization.jsonObject(with: Data(try ReportFormat.json.render(report).utf8)) as? [String: Any]
        #expect((decoded?["recommendations"] as? [Any])?.count == 3)
    }

    @Test func niceTicksCoverTheRange() {
        #expect(SVGLineChart.niceTicks(lo: 0, hi: 1938) == [0, 500, 1000, 1500, 2000])
        #expect(SVGLineChart.niceTicks(lo: 0, hi: 2.2) == [0, 0.5, 1, 1.5, 2, 2.5])
    }
}

@Suite struct FunctionReportTests {
    /// A function configuration: two invocations, one of them failed as Lambda names it; no call figures.
    static func report() -> RunReport {
        var r = SampleReport.make([(128, .serial, [50])])
        let size = try! LambdaSize(memoryMB: 128)
        var a = ConfigAggregate(config: ConfigSpec(index: 1, size: size, strategy: .function("boto3-serial")))
        let limits = WorkerLimits(cpu: size.cpu, memoryBytes: size.memoryBytes, cgroup: "v1")
        for (i, error) in [nil, FunctionError(type: "Sandbox.Timedout", message: "Task timed out after 3.00 seconds")].enumerated() {
            a.add(InvocationResult(invocationId: "f\(i)", durationMs: 900, initMs: i == 0 ? 400 : nil, calls: 0, errors: [:], retries: 0,
                                   histogram: HistogramSnapshot(counts: []), maxMemoryBytes: 70 << 20, cpuMs: 80, throttledMs: 5,
                                   callsMeasured: false, functionError: error), limits: limits)
        }
        r.configs.append(RunReport.config(from: a))
        r.derive()
        return r
    }

    @Test func aFunctionIsAColumnWithCallFiguresNotApplicable() throws {
        let r = Self.report()
        let f = r.configs[1]
        #expect(f.strategy == "function" && f.function == "boto3-serial" && f.strategyLabel == "boto3-serial")
        #expect(f.calls == nil)
        #expect(f.invocations.errors == 1 && f.invocations.errorTypes == ["Sandbox.Timedout": 1])
        #expect(f.start == "warm", "only the first invocation was a cold start")
        #expect(f.initMs == 400)
        #expect(f.maxMemoryUsedMb == 70)
        let json = try JSONSerialization.jsonObject(with: r.jsonData()) as! [String: Any]
        let config = (json["configs"] as! [[String: Any]])[1]
        #expect(config["strategy"] as? String == "function")
        #expect(config["function"] as? String == "boto3-serial")
        #expect(config["calls"] == nil || config["calls"] is NSNull)
        #expect(config["init_ms"] as? Double == 400)
        #expect(config["max_memory_used_mb"] as? Double == 70)
        let text = ReportTables.text(r)
        #expect(text.contains("boto3-serial"))
        #expect(text.contains("Sandbox.Timedout×1"))
        #expect(text.contains("n/a"))
        #expect(text.contains("FUNCTION ERRORS: 128 MB boto3-serial: 1 of 2 invocation(s) failed; first: Sandbox.Timedout: Task timed out after 3.00 seconds"))
        let csv = ReportCSV.render(r).split(separator: "\r\n")
        let header = csv[0].split(separator: ",", omittingEmptySubsequences: false)
        let row = csv[2].split(separator: ",", omittingEmptySubsequences: false)
        let calls = try #require(header.firstIndex(of: "calls"))
        #expect(row[calls] == "", "n/a is empty in CSV, not 0")
        #expect(row[try #require(header.firstIndex(of: "function"))] == "boto3-serial")
        #expect(row[try #require(header.firstIndex(of: "invocation_error_types"))] == "Sandbox.Timedout=1")
        // A configuration with a function error is not recommended.
        #expect(!(r.recommendations ?? []).contains { $0.strategy == "boto3-serial" })
        #expect(HTMLReport.render(r).contains("boto3-serial"))
    }
}

@Suite struct QuotaCPUCostTests {
    /// One function at each (MB, CPU ms an invocation, throttled ms an invocation), three invocations each.
    static func report(_ sizes: [(Int, Double, Double)], function: String = "boto3-serial") -> RunReport {
        var r = SampleReport.make([(128, .serial, [50])])
        r.configs = sizes.enumerated().map { (i, spec) in
            let size = try! LambdaSize(memoryMB: spec.0)
            var a = ConfigAggregate(config: ConfigSpec(index: i, size: size, strategy: .function(function)))
            let limits = WorkerLimits(cpu: size.cpu, memoryBytes: size.memoryBytes, cgroup: "v1")
            for n in 0..<3 {
                a.add(InvocationResult(invocationId: "\(i)-\(n)", durationMs: 1000, initMs: nil, calls: 0, errors: [:], retries: 0,
                                       histogram: HistogramSnapshot(counts: []), maxMemoryBytes: 60 << 20, cpuMs: spec.1, throttledMs: spec.2,
                                       callsMeasured: false), limits: limits)
            }
            return RunReport.config(from: a)
        }
        r.derive()
        return r
    }

    @Test func eachConfigurationCarriesItsCPUAnInvocation() throws {
        let r = Self.report([(128, 300, 4000), (3008, 165, 0)])
        #expect(r.configs.map(\.cpuMsPerInvocation) == [300, 165])
        let json = try JSONSerialization.jsonObject(with: r.jsonData()) as! [String: Any]
        #expect((json["configs"] as! [[String: Any]])[0]["cpu_ms_per_invocation"] as? Double == 300)
        let csv = ReportCSV.render(r).components(separatedBy: "\r\n")
        #expect(csv[0].hasSuffix(",cpu_ms_per_invocation"))
        #expect(csv[1].hasSuffix(",300"))
        #expect(ReportTables.text(r).contains("CPU ms/inv"))
        // Nothing measured it (the Lambda backend sends 0): not applicable, not 0.
        let lambda = Self.report([(128, 0, 0), (1024, 0, 0)])
        #expect(lambda.configs.allSatisfy { $0.cpuMsPerInvocation == nil })
        #expect(lambda.quotaCPUCosts.isEmpty)
    }

    @Test func throttledSizesThatCostMoreCPUThanTheFreeOnesAreNamed() {
        // Durations are 1000 ms: 128 and 512 MB throttled 400% and 90%, 1024 MB 30%, 2048 and 3008 MB free.
        let r = Self.report([(128, 300, 4000), (512, 190, 900), (1024, 170, 300), (2048, 150, 0), (3008, 154, 10)])
        let costs = r.quotaCPUCosts
        #expect(costs.count == 1)
        #expect(costs.first?.freeMemoryMb == [2048, 3008] && costs.first?.freeCpuMs == 150, "the nearest-rank median")
        #expect(costs.first?.sizes.map(\.memoryMb) == [128, 512], "1024 MB's 1.12× is under the threshold")
        let text = ReportTables.text(r)
        #expect(text.contains("QUOTA CPU: boto3-serial (warm): 2.00× at 128 MB (300 ms), 1.27× at 512 MB (190 ms) the CPU an invocation it used unthrottled (150 ms, the median at 2048, 3008 MB)"))
        #expect(text.contains("compare them within one run"))
    }

    @Test func aSizeWithAFailedInvocationIsLeftOut() {
        var r = Self.report([(128, 300, 4000), (2048, 150, 0)])
        #expect(!r.quotaCPUCosts.isEmpty)
        r.configs[0].invocations.errors = 1  // an init error or a timeout: its CPU is not the work's
        #expect(r.quotaCPUCosts.isEmpty)
    }

    @Test func aReportWrittenBeforeTheFieldStillReads() throws {
        let r = Self.report([(128, 300, 4000), (2048, 150, 0)])
        var json = try JSONSerialization.jsonObject(with: r.jsonData()) as! [String: Any]
        json["configs"] = (json["configs"] as! [[String: Any]]).map { c in c.filter { $0.key != "cpu_ms_per_invocation" } }
        let old = try JSONCoding.decoder().decode(RunReport.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(old.configs.map(\.cpuMsPerInvocation) == [nil, nil])
        #expect(old.quotaCPUCosts.isEmpty)
        #expect(ReportCSV.render(old).components(separatedBy: "\r\n")[1].hasSuffix(","))
    }

    @Test func aSizeTheQuotaBarelyTouchedIsNotBlamedForItsCPU() {
        // 512 MB's CPU is 1.5× but it was throttled 10% of the time: the host's drift, not the quota.
        let r = Self.report([(512, 240, 100), (1024, 160, 0), (2048, 160, 0)])
        #expect(r.quotaCPUCosts.isEmpty)
    }

    @Test func nothingIsSaidWithoutACostOrABaselineWorthDividingBy() {
        #expect(Self.report([(128, 180, 4000), (2048, 160, 0)]).quotaCPUCosts.isEmpty, "1.13×")
        #expect(Self.report([(128, 120, 4000), (2048, 40, 0)]).quotaCPUCosts.isEmpty, "a 40 ms baseline")
        #expect(Self.report([(128, 300, 4000)]).quotaCPUCosts.isEmpty, "no size ran free")
        #expect(Self.report([(128, 300, 4000), (256, 400, 3000)]).quotaCPUCosts.isEmpty, "no size ran free")
        #expect(!ReportTables.text(Self.report([(128, 180, 4000), (2048, 160, 0)])).contains("QUOTA CPU"))
    }
}
