import FanbenchBase
@testable import FanbenchCoordinator
import FanbenchProxy
import FanbenchReport
import Foundation
import Testing

/// Emulation profiles (files, hashes, the built-in's shipped file), calibration references and
/// the calibration's budget and search arithmetic. The runs themselves are real and slow:
/// scripts/test runs `fanbench calibrate`'s refusals, BENCHMARKS.md has a whole fit.
@Suite struct EmulationProfileTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `profile` written to a file and loaded again, with the same hash.
    func readBack(_ profile: EmulationProfile, sourceLocation: SourceLocation = #_sourceLocation) throws -> EmulationProfile {
        let path = try temp(profile.yaml())
        defer { try? FileManager.default.removeItem(atPath: path) }
        let back = try EmulationProfile.load(path: path)
        #expect(back.hash == profile.hash, sourceLocation: sourceLocation)
        return back
    }

    func temp(_ text: String, ext: String = "yaml") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fb-prof-\(UInt32.random(in: 0..<UInt32.max)).\(ext)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theShippedDefaultIsTheBuiltIn() throws {
        let shipped = try EmulationProfile.load(path: Self.root.appendingPathComponent("profiles/lambda-same-region.yaml").path)
        let builtIn = EmulationProfile.lambdaSameRegion
        #expect(shipped.canonical == builtIn.canonical, "profiles/lambda-same-region.yaml and NetworkProfile.lambdaSameRegion* must agree")
        #expect(shipped.hash == builtIn.hash)
        let text = try String(contentsOfFile: Self.root.appendingPathComponent("profiles/lambda-same-region.yaml").path, encoding: .utf8)
        #expect(text.contains("# profile hash \(builtIn.hash)"), "the file's header names the built-in's hash, \(builtIn.hash)")
        #expect(shipped.fitText?.contains("held_out_cells") == true, "the shipped file keeps its fit and held-out check")
        #expect(try EmulationProfile.resolve("lambda-same-region") == builtIn)
        #expect(try EmulationProfile.resolve("none") == nil)
    }

    @Test func aWrittenProfileReadsBackWithTheSameHash() throws {
        var p = EmulationProfile(name: "mine", network: .init(rttMs: 12.5, jitter: .lognormal(sigma: 0.35)), vcpuScore: 81.25, initCPUMultiplier: 2)
        p.network.tailProbability = 0.02
        p.network.tailMs = 60
        p.network.handshakeRoundTrips = 2
        p.network.bandwidthBytesPerSecond = 100 * 125_000
        p.pacesHandlers = false
        let path = try temp(p.yaml(comment: "a test\nsecond line", fit: "reference: x.json\ncells:\n  - {mb: 128}\n"))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let back = try EmulationProfile.load(path: path)
        #expect(back.canonical == p.canonical)
        #expect(back.hash == p.hash)
        #expect(back.file == path)
        #expect(back.fitText?.contains("x.json") == true)
        // The hash covers the parameters only: another name, the same hash; another RTT, another.
        var renamed = p
        renamed.name = "other"
        #expect(renamed.hash == p.hash)
        var moved = p
        moved.network.rttMs = 13
        #expect(moved.hash != p.hash)
        #expect(p.hash.count == 12)
        // A block cost is a parameter (another hash); none keeps the hash profiles had before it.
        #expect(!p.canonical.contains("block_cost_us"))
        var charged = p
        charged.blockCostMicros = 120
        #expect(charged.hash != p.hash)
        #expect(try readBack(charged).blockCostMicros == 120)
        #expect(charged.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).blockCostUs == 120)
        #expect(p.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).blockCostUs == nil)
        #expect(charged.reportEmulation(tls: true, probe: nil, applied: false, pacingAvailable: false).blockCostUs == nil, "not claimed where not charged")
        // Its cap is a parameter beside it: another hash, written, read back and reported; without
        // a block cost there is nothing to cap (no hash change, nothing claimed).
        var capped = charged
        capped.blocksPerCPUMs = 3
        #expect(capped.hash != charged.hash && capped.canonical.contains("blocks_per_cpu_ms=3"))
        #expect(try readBack(capped).blocksPerCPUMs == 3)
        #expect(try readBack(charged).blocksPerCPUMs == 0)
        #expect(capped.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).blocksPerCpuMs == 3)
        #expect(charged.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).blocksPerCpuMs == nil)
        var capOnly = p
        capOnly.blocksPerCPUMs = 3
        #expect(capOnly.hash == p.hash)
        #expect(capOnly.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).blocksPerCpuMs == nil)
        // So is the CFS period: 100 ms (Linux's) keeps the hash; another one is written, read
        // back and reported where fanbench caps the workers.
        #expect(!p.canonical.contains("period_ms"))
        var sliced = p
        sliced.cfsPeriodMicros = 20_000
        #expect(sliced.hash != p.hash)
        #expect(try readBack(sliced).cfsPeriodMicros == 20_000)
        #expect(sliced.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).cpuPeriodMs == 20)
        #expect(sliced.reportEmulation(tls: true, probe: nil, applied: false, pacingAvailable: false).cpuPeriodMs == nil)
        let unnamed = try EmulationProfile.parse("name: x\nnetwork: {rtt_ms: 10}\ncpu: {vcpu_score: 90}\n", path: "p.yaml")
        #expect(unnamed.cfsPeriodMicros == 100_000, "a file that names no period has Linux's")
        #expect(!unnamed.network.instanceRequestsPerVCPU, "nor an instance rate per vCPU")
        // An instance rate per vCPU: another hash (none keeps the old one), read back, reported.
        var limited = p
        limited.network.instanceRequestsPerSecond = 200
        #expect(!limited.canonical.contains("instance_rps_per"))
        var perVCPU = limited
        perVCPU.network.instanceRequestsPerVCPU = true
        #expect(perVCPU.hash != limited.hash)
        #expect(try readBack(perVCPU).network.instanceRequestsPerVCPU)
        #expect(perVCPU.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).instanceRpsPer == "vcpu")
        #expect(limited.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).instanceRpsPer == nil)
        // Without a rate there is nothing to share out: the same hash as no rate at all.
        var unlimited = perVCPU
        unlimited.network.instanceRequestsPerSecond = nil
        var plain = p
        plain.network.instanceRequestsPerSecond = nil
        #expect(unlimited.hash == plain.hash && !unlimited.canonical.contains("instance_rps_per"))
        #expect(unlimited.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).instanceRpsPer == nil)
        // Counting requests only: another hash, read back, reported; without a rate, nothing.
        var requestsOnly = limited
        requestsOnly.network.instanceCountsHandshakes = false
        #expect(requestsOnly.hash != limited.hash && requestsOnly.canonical.contains("instance_rps_counts=requests"))
        #expect(try readBack(requestsOnly).network.instanceCountsHandshakes == false)
        #expect(try readBack(limited).network.instanceCountsHandshakes)
        #expect(requestsOnly.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).instanceRpsCounts == "requests")
        #expect(limited.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).instanceRpsCounts == nil)
        var noRate = requestsOnly
        noRate.network.instanceRequestsPerSecond = nil
        #expect(noRate.hash == plain.hash)
        #expect(noRate.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).instanceRpsCounts == nil)
        // A live CPU scale: 0 (none) keeps the hash; a β is another hash, written and read back.
        #expect(!p.canonical.contains("live_beta") && p.liveBeta == 0)
        var live = p
        live.liveBeta = 0.5
        #expect(live.hash != p.hash && live.canonical.hasSuffix(";live_beta=0.5"))
        #expect(try readBack(live).liveBeta == 0.5)
        #expect(try readBack(p).liveBeta == 0)
    }

    /// `instance_rps_per: vcpu`: an instance below one vCPU passes its size's share of the rate, one above passes the whole.
    @Test func anInstanceRatePerVCPUIsTheSizesShareUpToOne() throws {
        var n = NetworkProfile.lambdaSameRegion
        #expect(n.instanceRequestsPerSecond(vcpus: 128 / 1769.0) == 220, "per instance: the same at every size")
        n.instanceRequestsPerVCPU = true
        #expect(abs(n.instanceRequestsPerSecond(vcpus: try LambdaSize(memoryMB: 512).cpu)! - 220 * 512 / 1769) < 1e-9)
        #expect(n.instanceRequestsPerSecond(vcpus: try LambdaSize(memoryMB: 1769).cpu) == 220)
        #expect(n.instanceRequestsPerSecond(vcpus: try LambdaSize(memoryMB: 3008).cpu) == 220)
        n.instanceRequestsPerSecond = nil
        #expect(n.instanceRequestsPerSecond(vcpus: 0.5) == nil)
        let file = try EmulationProfile.parse("name: x\nnetwork: {rtt_ms: 10, instance_rps: 300, instance_rps_per: vcpu}\n", path: "p.yaml")
        #expect(file.network.instanceRequestsPerVCPU && file.network.instanceRequestsPerSecond == 300)
    }

    @Test(arguments: [
        ("name: x\n", "needs 'network'"),
        ("name: x\nnetwork: {rtt_ms: -1}\n", "network.rtt_ms"),
        ("name: x\nnetwork: {rtt_ms: 10, jitter: gaussian}\n", "jitter"),
        ("name: x\nnetwork: {rtt_ms: 10}\ncpu: {vcpu_score: abc}\n", "cpu.vcpu_score"),
        ("name: x\nnetwork: {rtt_ms: 10}\ncpu: {pacing: thread}\n", "cpu.pacing"),
        ("name: x\nnetwork: {rtt_ms: 10}\ncpu: {block_cost_us: -3}\n", "cpu.block_cost_us"),
        ("name: x\nnetwork: {rtt_ms: 10}\ncpu: {block_cost_us: 100, blocks_per_cpu_ms: many}\n", "'cpu.blocks_per_cpu_ms' must be a number from 0 to 1000"),
        ("name: x\nnetwork: {rtt_ms: 10}\ncpu: {period_ms: 0.5}\n", "'cpu.period_ms' must be a number from 1 to 1000"),
        ("name: x\nnetwork: {rtt_ms: 10}\ncpu: {live_beta: 3}\n", "'cpu.live_beta' must be a number from 0 to 2"),
        ("name: x\nnetwork: {rtt_ms: 10, ttl: 3}\n", "unknown key 'network.ttl'"),
        ("name: x\nnetwork: {rtt_ms: 10, instance_rps: 0}\n", "network.instance_rps"),
        ("name: x\nnetwork: {rtt_ms: 10, instance_rps: 200, instance_rps_per: size}\n", "'network.instance_rps_per' must be instance"),
        ("name: x\nnetwork: {rtt_ms: 10, instance_rps: 200, instance_rps_counts: packets}\n", "'network.instance_rps_counts' must be flights"),
        ("network: {rtt_ms: 10}\n", "needs a 'name'"),
        ("[1, 2]\n", "a profile is a mapping"),
        ("name: x\n  network: : :\n", "not valid YAML"),
    ])
    func badProfilesAreOneClearLine(text: String, needle: String) throws {
        let path = try temp(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try EmulationProfile.load(path: path)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.message.contains(needle), "\(error.message)")
            #expect(error.message.contains(path))
            #expect(!error.message.contains("\n"))
            #expect(error.exitCode == 2)
        }
        #expect(throws: FanbenchError.self) { try EmulationProfile.resolve("/no/such/profile.yaml") }
    }

    @Test func theCPUScaleIsTheVCPUOverTheHost() {
        var p = EmulationProfile.lambdaSameRegion
        p.vcpuScore = 90
        #expect(abs(p.cpuScale(hostScore: 120) - 0.75) < 1e-12)
        p.vcpuScore = nil
        #expect(p.cpuScale(hostScore: 120) == 1)
        let size = try! LambdaSize(memoryMB: 1024)
        #expect(size.cfsQuotaMicros(scale: 0.75, cores: 2) == Int((size.cpu * 0.75 * 100_000).rounded()))
        // Never more than the cores the worker has.
        #expect(try! LambdaSize(memoryMB: 3008).cfsQuotaMicros(scale: 1.5, cores: 2) == 200_000)
        // Over a 20 ms period the same share, a fifth of the µs; never under the kernel's 1 ms.
        #expect(size.cfsQuotaMicros(scale: 0.75, cores: 2, periodMicros: 20_000) == Int((size.cpu * 0.75 * 20_000).rounded()))
        #expect(try! LambdaSize(memoryMB: 1769).cfsQuotaMicros(scale: 1, cores: 2, periodMicros: 20_000) == 20_000)
        #expect(try! LambdaSize(memoryMB: 128).cfsQuotaMicros(scale: 0.5, cores: 2, periodMicros: 20_000) == 1000)
        let e = p.reportEmulation(tls: true, probe: CPUProbe.Measurement(score: 120, rounds: [120]), applied: true, pacingAvailable: false)
        #expect(e.cpu?.scale == 1)
        #expect(e.vcpuPacing == "unavailable (cgroup v1 only)", "a report never claims pacing the workers' cgroups could not do")
        #expect(p.reportEmulation(tls: true, probe: nil, applied: true, pacingAvailable: true).vcpuPacing == "process")
        #expect(e.profileHash == p.hash)
        #expect(e.profileLabel.contains("#\(p.hash)"))
        #expect(e.profileLabel.contains("CPU probe 120.0"))
    }

    @Test func theCPUProbeMeasuresInterpreterLikeWorkInCPUTime() {
        let m = CPUProbe.measure(rounds: 5, roundMs: 10)
        #expect(m.rounds.count == 5)
        #expect(m.score > 1 && m.score < 100_000, "\(m.score)")
        // CPU time, not wall time: rounds agree within a factor (the quartile tolerates one outlier).
        let sorted = m.rounds.sorted()
        #expect(sorted[3] / sorted[1] < 1.5, "\(m.rounds)")
        // The upper quartile of 5 (nearest rank: the 4th), not the median (the 3rd).
        #expect(m.score == sorted[3], "the upper quartile: \(m.score) of \(m.rounds)")
    }

    @Test func theHostsFigureIsATrimmedMeanOfItsLastMeasurementsAndAnotherHostStartsAfresh() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fanbench-hostprobe-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func add(_ score: Double, host: String = "h1") -> CPUProbe.Measurement {
            HostProbe.figure(stateDirectory: dir, fresh: CPUProbe.Measurement(score: score, rounds: [score]), host: host)
        }
        #expect(add(100) == CPUProbe.Measurement(score: 100, rounds: [100], samples: 1, latest: 100))
        _ = add(130)
        let third = add(90)
        // Three readings: too few to leave any out (the mean of 100, 130, 90).
        #expect(abs(third.score - 320.0 / 3) < 1e-9 && third.samples == 3 && third.latest == 90)
        for s in [120.0, 120, 120, 120, 120] { _ = add(s) }
        // Nine: one slow and one fast reading leave the figure where the rest put it.
        let nine = add(120)
        #expect(nine.samples == HostProbe.keep, "only the last \(HostProbe.keep) are kept")
        #expect(nine.score == (100 + 6 * 120) / 7.0, "130 and 90 left out: \(nine.score)")
        // Readings in two clusters (a second VM's ~62 and ~77): one more high reading moves the
        // figure by a ninth of the gap or so, not from one cluster to the other as a median did.
        for s in [62.0, 62, 62, 62, 62, 77, 77, 77] { _ = add(s) }
        let low = add(77)
        let high = add(77)
        #expect(low.score > 62 && high.score < 77 && high.score - low.score < (77 - 62) / 4.0, "\(low.score) → \(high.score)")
        // Another host's list is not this one's.
        #expect(add(60, host: "h2") == CPUProbe.Measurement(score: 60, rounds: [60], samples: 1, latest: 60))
        // A list that is not JSON is started afresh, not an error.
        try "not json".write(toFile: dir + "/cpu-probe.json", atomically: true, encoding: .utf8)
        #expect(add(80, host: "h2").samples == 1)
        // And the report says what the figure is.
        var p = EmulationProfile.lambdaSameRegion
        p.vcpuScore = 100
        let e = p.reportEmulation(tls: true, probe: third, applied: true, pacingAvailable: false)
        #expect(e.cpu?.probeSamples == 3 && e.cpu?.probeLatest == 90)
        #expect(e.profileLabel.contains("CPU probe 106.7 (this host's figure over its last 3; this run's 90.0)"), "\(e.profileLabel)")
    }

    /// The live CPU scale's factor: (usual ÷ the recent median)^β, clamped, 1 without a baseline.
    @Test func theLiveFactorFollowsTheRecentMedianByBeta() {
        #expect(LiveCPUScale.factor(baseline: 100, recent: [100, 100], beta: 0.5) == 1)
        #expect(abs(LiveCPUScale.factor(baseline: 100, recent: [80, 81, 79], beta: 0.5) - (100.0 / 80).squareRoot()) < 1e-9, "a slower host: more quota")
        #expect(abs(LiveCPUScale.factor(baseline: 100, recent: [125], beta: 1) - 0.8) < 1e-9, "a faster one: less")
        // One cold reading among five does not move it (a fifth left out at each end).
        #expect(LiveCPUScale.factor(baseline: 100, recent: [100, 7, 100, 100, 100], beta: 0.5) == 1)
        #expect(LiveCPUScale.factor(baseline: 100, recent: [1], beta: 1) == LiveCPUScale.factorRange.upperBound)
        #expect(LiveCPUScale.factor(baseline: 100, recent: [1000], beta: 1) == LiveCPUScale.factorRange.lowerBound)
        #expect(LiveCPUScale.factor(baseline: 0, recent: [80], beta: 1) == 1)
        #expect(LiveCPUScale.factor(baseline: 100, recent: [.nan, 0, -3], beta: 1) == 1)
        #expect(LiveCPUScale.factor(baseline: 100, recent: [50], beta: 0) == 1)
    }

    /// The sampler on this machine: it publishes a factor file whole, writes its series, says
    /// what it did, and the next run takes the host's usual speed from the runs before.
    @Test func theLiveSamplerPublishesAFactorAndRemembersTheHostsSpeed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fanbench-live-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = LiveCPUScale.Options(beta: 0.5, factorFile: dir + "/cpu-factor", seriesFile: dir + "/cpu-live.tsv", stateDirectory: dir)
        options.intervalMs = 10
        options.sampleCPUNs = 1_000_000
        options.host = "test-host"
        func run() throws -> RunReport.Emulation.CPU.Live {
            let scale = LiveCPUScale(options: options)
            try scale.start()
            let factor = try #require(Double(try String(contentsOfFile: options.factorFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(LiveCPUScale.factorRange.contains(factor))
            // Samples come every ~11 ms; wait for a dozen lines, at most 10 s.
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, ((try? String(contentsOfFile: dir + "/cpu-live.tsv", encoding: .utf8))?.split(separator: "\n").count ?? 0) < 13 { usleep(10_000) }
            return try #require(scale.stop())
        }
        let first = try run()
        #expect(first.samples >= 12 && first.baselineRuns == 0 && first.baseline > 0)
        #expect(first.speedMin <= first.speedMean && first.speedMean <= first.speedMax && first.speedMean > 0)
        #expect(first.factorMin <= first.factorMean && first.factorMean <= first.factorMax)
        #expect(LiveCPUScale.factorRange.contains(first.factorMin) && LiveCPUScale.factorRange.contains(first.factorMax))
        let lines = try String(contentsOfFile: dir + "/cpu-live.tsv", encoding: .utf8).split(separator: "\n")
        #expect(lines.first?.hasPrefix("# epoch_s") == true && lines.dropFirst().allSatisfy { $0.split(separator: "\t").count == 3 })
        let second = try run()
        #expect(second.baselineRuns == 1 && second.baseline == first.speedMean, "the usual speed is the last runs' (one: its own)")
        // Another host starts afresh.
        options.host = "another"
        #expect(try run().baselineRuns == 0)
        // And the report says what the live scale did.
        var e = EmulationProfile.lambdaSameRegion.reportEmulation(tls: true, probe: CPUProbe.Measurement(score: 120, rounds: [120]), applied: true, pacingAvailable: true)
        e.cpu?.live = second
        #expect(e.profileLabel.contains(String(format: "; live × %.3f–%.3f (mean %.3f, β 0.50)", second.factorMin, second.factorMax, second.factorMean)), "\(e.profileLabel)")
        let back = try JSONCoding.decoder().decode(RunReport.Emulation.self, from: try JSONCoding.encoder().encode(e))
        #expect(back.cpu?.live == second)
    }

    // MARK: - References

    @Test func theBlogsReferenceNamesItsHandlers() throws {
        let ref = try CalibrationReference.load(path: Self.root.appendingPathComponent("Tests/Fixtures/blog-2020.json").path)
        #expect(ref.sizes == [128, 512, 1024, 1536, 2048, 3008])
        #expect(ref.fitCells == [128, 1024, 3008])
        #expect(ref.heldOutCells == [512, 1536, 2048])
        #expect(ref.columns == ["serial", "aio", "threads"])
        #expect(ref.strategies["threads"] == .function("boto3-threads"))
        #expect(ref.cells[128]?["threads"] == 6097.20)
        #expect(throws: FanbenchError.self) { try ref.checkCells([128, 999], flag: "--cells") }
    }

    @Test(arguments: [
        ("nope", "not a JSON object"),
        ("{\"cells\": {}}", "no \"cells\""),
        ("{\"cells\": {\"100\": {\"serial\": 5}}}", "not a Lambda memory size"),
        ("{\"cells\": {\"128\": {\"serial\": -5}}}", "not a duration"),
        ("{\"cells\": {\"128\": {\"mystery\": 5}}}", "names no strategy"),
        ("{\"cells\": {\"128\": {\"serial\": 5}}, \"fit_cells\": [\"512\"]}", "not one of its cells"),
        ("{\"schema\": \"fanbench.report/v1\"}", "not a fanbench report"),
        ("{\"cells\": {\"128\": {\"serial\": 5}}, \"invocations_per_instance\": 0}", "\"invocations_per_instance\" must be a whole number from 1"),
        ("{\"cells\": {\"128\": {\"serial\": 5}}, \"invocations_per_instance\": 2.5}", "\"invocations_per_instance\" must be a whole number from 1"),
    ])
    func badReferencesAreOneClearLine(text: String, needle: String) throws {
        let path = try temp(text, ext: "json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try CalibrationReference.load(path: path)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.message.contains(needle), "\(error.message)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test func aReferenceNamesStrategiesForItsColumns() throws {
        let path = try temp("{\"cells\": {\"1024\": {\"mine\": 800, \"async:16\": 200}}, \"strategies\": {\"mine\": \"function:my-handler\"}}", ext: "json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ref = try CalibrationReference.load(path: path)
        #expect(ref.strategies["mine"] == .function("my-handler"))
        #expect(ref.strategies["async:16"] == .async(16))
        #expect(ref.invocationsPerInstance == nil)
        let counted = try temp("{\"cells\": {\"1024\": {\"serial\": 800}}, \"invocations_per_instance\": 100}", ext: "json")
        defer { try? FileManager.default.removeItem(atPath: counted) }
        #expect(try CalibrationReference.load(path: counted).invocationsPerInstance == 100)
    }

    // MARK: - The search's arithmetic

    func calibration(budgetMinutes: Double, fit: [Int] = [128, 1024, 3008], check: [Int] = [512]) throws -> Calibration {
        let ref = try CalibrationReference.load(path: Self.root.appendingPathComponent("Tests/Fixtures/blog-2020.json").path)
        return Calibration(options: .init(reference: ref, fitCells: fit, checkCells: check, budget: .seconds(budgetMinutes * 60),
                                          start: .lambdaSameRegion, base: RunSession.Request()))
    }

    @Test func aBudgetTooSmallToFitAnythingIsRefusedBeforeAnyRun() throws {
        do {
            try calibration(budgetMinutes: 1).checkBudget()
            Issue.record("a 1-minute budget was accepted")
        } catch let error as FanbenchError {
            #expect(error.message.contains("--budget 1 min cannot fit anything"), "\(error.message)")
            #expect(error.message.contains("give --budget"))
        }
        try calibration(budgetMinutes: 60).checkBudget()
        // The estimate grows with the reference's durations and the invocations.
        let c = try calibration(budgetMinutes: 60)
        #expect(c.estimate(cells: [128], invocations: 5) > c.estimate(cells: [3008], invocations: 5))
        #expect(c.estimate(cells: [1024], invocations: 5) > c.estimate(cells: [1024], invocations: 3))
    }

    @Test func theScorePunishesTheWorstCell() {
        func cell(_ dev: Double) -> Calibration.Cell {
            Calibration.Cell(memoryMb: 128, column: "c", referenceMs: 100, emulatedMs: 100 * (1 + dev), fitted: true)
        }
        let even = Calibration.score([cell(0.1), cell(0.1), cell(0.1)])
        let lopsided = Calibration.score([cell(0), cell(0), cell(0.3)])
        #expect(lopsided > even)
        #expect(Calibration.score([cell(0)]) == 0)
        // Held-out cells never steer the fit.
        var held = cell(0.9)
        held.fitted = false
        #expect(Calibration.score([cell(0), held]) == 0)
    }

    @Test func pointsMoveWithinTheirBoundsAndRoundAsTheFileKeepsThem() {
        let p = Calibration.Point(vcpuScore: 100, rttMs: 2.1, instanceRps: 200, sigma: 0.05, handshakeRtts: 4, tailRate: 0)
        #expect(p.moved(0, step: 1.3, up: true)?.vcpuScore == 130)
        #expect(p.moved(1, step: 2, up: false)?.rttMs == 2, "clamped at the lower bound")
        #expect(p.moved(2, step: 1.4, up: true)?.instanceRps == 280, "instance_rps moves by a factor")
        #expect(p.moved(4, step: 1, up: true) == nil, "already at the upper bound")
        #expect(p.moved(5, step: 0.02, up: false) == nil)
        #expect(p.moved(3, step: 0.15, up: false)?.sigma == 0)
        #expect(p.moved(6, step: 40, up: true)?.blockCostUs == 40, "block_cost_us moves by µs")
        #expect(p.moved(6, step: 40, up: false) == nil, "already at 0")
        #expect(p.moved(6, step: 40, up: true)!.profile(from: .lambdaSameRegion, name: "x").blockCostMicros == 40)
        #expect(Set(Calibration.Point.order) == Set(Calibration.Point.names.indices), "every parameter is searched")
        let profile = p.moved(3, step: 0.15, up: false)!.profile(from: .lambdaSameRegion, name: "x")
        #expect(profile.network.jitter == .fixed, "sigma 0 is fixed jitter")
        #expect(profile.network.instanceRequestsPerSecond == 200)
        let written = profile.yaml()
        let back = try! EmulationProfile.parse(written, path: "x.yaml")
        #expect(back.canonical == profile.canonical)
        #expect(back.network.instanceRequestsPerSecond == 200)
        // At the top of its range the limit is off: the profile says null.
        var unlimited = p
        unlimited.instanceRps = Calibration.Point.noLimit
        let none = unlimited.profile(from: .lambdaSameRegion, name: "x")
        #expect(none.network.instanceRequestsPerSecond == nil)
        #expect(none.yaml().contains("instance_rps: null"))
    }
}
