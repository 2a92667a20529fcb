import FanbenchBase
import FanbenchCoordinator
import FanbenchLocalTarget
import FanbenchReport
import FanbenchStore
import Foundation
import Testing

/// `fanbench calibrate` as a person runs it: its refusals (one line each, before any run), and a
/// whole small calibration — three cells, real runs on the test target through a proxy made for
/// each candidate, real capped workers — that keeps to its budget and writes a profile
/// `fanbench run --profile` takes and names in its report. The seed blog's full fit is
/// BENCHMARKS.md's (it takes most of an hour).
@Suite(.serialized, .timeLimit(.minutes(6)))
struct CalibrateIntegrationTests {
    let cli = CLIBadInputTests()

    func temp(_ name: String, _ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fb-cal-\(TestTarget.uniqueSuffix())-\(name)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static var blog: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/Fixtures/blog-2020.json").path
    }

    @Test func refusalsAreOneClearLineEachBeforeAnyRun() async throws {
        let malformed = try temp("bad.json", "{\"cells\": {\"128\": {\"serial\": \"slow\"}}}")
        defer { try? FileManager.default.removeItem(atPath: malformed) }
        cli.expectOneClearLine(try await cli.run(["calibrate", "--reference", malformed]), mentions: [malformed, "not a duration in ms"])
        let notJSON = try temp("bad2.json", "REPORT RequestId: x Duration: 12 ms")
        defer { try? FileManager.default.removeItem(atPath: notJSON) }
        cli.expectOneClearLine(try await cli.run(["calibrate", "--reference", notJSON]), mentions: ["not a calibration reference"])
        cli.expectOneClearLine(try await cli.run(["calibrate", "--reference", "/no/such.json"]), mentions: ["cannot read the reference"])
        guard FileManager.default.fileExists(atPath: Self.blog) else { return }
        cli.expectOneClearLine(try await cli.run(["calibrate", "--reference", Self.blog, "--cells", "128,640"]),
                               mentions: ["--cells names 640 MB", "128, 512, 1024, 1536, 2048, 3008"])
        cli.expectOneClearLine(try await cli.run(["calibrate", "--reference", Self.blog, "--check", "4096"]), mentions: ["--check names 4096 MB"])
        cli.expectOneClearLine(try await cli.run(["calibrate", "--reference", Self.blog, "--reference-invocations", "0", "--evaluate", "latest"]),
                               mentions: ["--reference-invocations must be a whole number from 1 to 1000000, not 0"])
        cli.expectOneClearLine(try await cli.run(["calibrate", "--reference", Self.blog, "--budget", "2"]),
                               mentions: ["--budget 2 min cannot fit anything", "give --budget"])
        cli.expectOneClearLine(try await cli.run(["run", "--profile", "/no/such/profile.yaml"]), mentions: ["profile '/no/such/profile.yaml'"])
    }

    @Test(.enabled(if: TestTarget.available && getuid() == 0, "needs ./scripts/test's target and root (cgroups)"))
    func aThreeCellCalibrationKeepsItsBudgetAndRunTakesItsProfile() async throws {
        let state = try #require(TestTarget.stateDirectory(.https))
        let bucket = "fb-cal-\(TestTarget.uniqueSuffix())"
        let plan = try temp("plan.yaml", "target: {bucket: \(bucket), objects: 20}\nop: get-object-acl\nlisting: invocation\n")
        let reference = try temp("ref.json", """
            {"cells": {"1024": {"async:4": 200}, "2048": {"async:4": 180}, "3008": {"async:4": 170}}}
            """)
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("fb-cal-\(TestTarget.uniqueSuffix()).yaml").path
        let db = FileManager.default.temporaryDirectory.appendingPathComponent("fb-cal-\(TestTarget.uniqueSuffix()).db").path
        defer { for f in [plan, reference, profile, db] { try? FileManager.default.removeItem(atPath: f) } }
        let budgetMinutes = 1.5
        let t0 = ContinuousClock.now
        let cal = try await cli.run(["calibrate", "--reference", reference, "--plan", plan, "--budget", String(budgetMinutes), "--check", "none",
                               "--search-invocations", "1", "--check-invocations", "1", "--out", profile, "--state-dir", state, "--db", db])
        let elapsed = ContinuousClock.now - t0
        #expect(cal.status == 0, "\(cal.stderr)")
        #expect(elapsed < .seconds(budgetMinutes * 60 + 10), "took \(elapsed) on a \(budgetMinutes) min budget")
        #expect(cal.stderr.contains("calibrate: #2 "), "the search tried a candidate beyond its start: \(cal.stderr)")
        // A best that is not the start is held against the start: checked, or said to be out of budget.
        let lines = cal.stderr.split(separator: "\n").map(String.init)
        let first = lines.first { $0.contains("calibrate: #1 ") }.flatMap { $0.components(separatedBy: "calibrate: #1 ").last?.components(separatedBy: " → ").first }
        let best = lines.first { $0.contains("calibrate: best after ") }.flatMap { $0.components(separatedBy: " evaluation(s): ").last?.components(separatedBy: " (score").first }
        let start = try #require(first, "no \"calibrate: #1 … →\" line: \(cal.stderr)")
        let chosen = try #require(best, "no \"calibrate: best after …\" line: \(cal.stderr)")
        if start != chosen {
            #expect(cal.stderr.contains("calibrate: checking the start too: \(start)") || cal.stderr.contains("calibrate: no budget left to check the start (\(start))"),
                    "\(cal.stderr)")
        } else {
            #expect(!cal.stderr.contains("checking the start too"), "the best is the start: it is checked once")
        }
        for mb in ["1024", "2048", "3008"] { #expect(cal.stdout.contains("  \(mb)  async:4"), "\(cal.stdout)") }
        let written = try EmulationProfile.load(path: profile)
        #expect(written.vcpuScore != nil)
        #expect(written.fitText?.contains("finalists") == true, "the fit names the points it checked")
        #expect(written.fitText?.contains("fitted_cells") == true && written.fitText?.contains("check_run") == true, "\(written.fitText ?? "no fit")")
        #expect(cal.stdout.contains("#\(written.hash)"))

        let json = profile + ".report.json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let run = try await cli.run(["run", plan, "--profile", profile, "--sizes", "1024", "--strategies", "async:4", "--invocations", "1",
                               "--state-dir", state, "--db", db, "--json", json])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("profile: \(written.name) #\(written.hash)"), "\(run.stdout)")
        let report = try ReportFile.read(json)
        let e = try #require(report.target.emulation)
        #expect(e.profileHash == written.hash)
        #expect(e.profileFile == profile)
        // The trust store functions are given: the host's public roots and the target's CA.
        if e.tls {
            let roots = TLSMaterial.publicRootLocations.first { FileManager.default.isReadableFile(atPath: $0) }
                .flatMap(TrustStore.certificateCount(inBundle:)) ?? 0
            #expect(e.caCertificates == roots + 1, "\(e.caCertificates ?? -1) certificates, the host's roots \(roots)")
            #expect(run.stdout.contains("CA bundle of \(roots + 1) certificates"))
        }
        let cpu = try #require(e.cpu)
        #expect(cpu.applied)
        #expect(abs(cpu.scale - written.vcpuScore! / cpu.probeScore) < 1e-9)
        // The cap read back is the scaled one, and counts as enforced.
        let config = try #require(report.configs.first)
        #expect(config.limits.enforced)
        #expect(abs((config.limits.cpu ?? 0) - min(2, 1024 / 1769.0 * cpu.scale)) < 0.01, "cap \(config.limits.cpu ?? -1), scale \(cpu.scale)")

        // --evaluate holds the stored runs against the reference and runs nothing: this run's one
        // cell, and the calibration's check run's three.
        let checkRun = try #require(written.fitText?.split(separator: "\n").first { $0.contains("check_run:") }?
            .split(separator: ":").last?.trimmingCharacters(in: .whitespaces))
        let before = try RunStore(path: db).runs().count
        let evaluated = try await cli.run(["calibrate", "--reference", reference, "--evaluate", "\(report.runId),\(checkRun)", "--db", db, "--state-dir", state])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let deviation = String(format: "%+.1f%%", (config.invocations.meanMs / 200 - 1) * 100)
        let row = evaluated.stdout.split(separator: "\n").first { $0.hasPrefix("  1024  async:4") }
        #expect(row?.contains(deviation) == true, "the 1024 MB cell's deviation \(deviation): \(evaluated.stdout)")
        #expect(evaluated.stdout.contains("  3008  async:4"), "the check run's cells: \(evaluated.stdout)")
        #expect(evaluated.stdout.contains("run 1 \(report.runId) "), "\(evaluated.stdout)")
        #expect(try RunStore(path: db).runs().count == before, "--evaluate ran nothing")
        cli.expectOneClearLine(try await cli.run(["calibrate", "--reference", reference, "--evaluate", "no-such-run", "--db", db]),
                               mentions: ["no run 'no-such-run'"])
    }

    /// A profile's `instance_rps` in a local run: each worker's requests queue on its own path
    /// (its own proxy listener), never on another worker's. Two workers, one invocation each at
    /// once, one connection each (a TLS handshake's two flights, the listing and 20 calls); at
    /// 20 requests/s each invocation needs 22 intervals of 50 ms ≈ 1.1 s on its own path, and both
    /// would need ≈ 2.3 s on a shared one.
    @Test(.enabled(if: TestTarget.available && getuid() == 0, "needs ./scripts/test's target and root (cgroups)"))
    func eachLocalWorkersRequestsQueueOnAPathOfItsOwn() async throws {
        let state = try #require(TestTarget.stateDirectory(.https))
        let bucket = "fb-rps-\(TestTarget.uniqueSuffix())"
        let plan = try temp("plan.yaml", "target: {bucket: \(bucket), objects: 20}\nop: get-object-acl\nlisting: invocation\n")
        let profile = try temp("rps.yaml", "name: rps-test\nnetwork: {rtt_ms: 2, jitter: fixed, instance_rps: 20}\ncpu: {vcpu_score: null}\n")
        let db = FileManager.default.temporaryDirectory.appendingPathComponent("fb-rps-\(TestTarget.uniqueSuffix()).db").path
        let json = profile + ".report.json"
        defer { for f in [plan, profile, db, json] { try? FileManager.default.removeItem(atPath: f) } }
        let run = try await cli.run(["run", plan, "--profile", profile, "--sizes", "1024", "--strategies", "async:1", "--invocations", "2",
                                     "--workers-per-size", "2", "--state-dir", state, "--db", db, "--json", json])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("20 requests/s per instance"), "\(run.stdout)")
        let report = try ReportFile.read(json)
        #expect(report.target.emulation?.instanceRps == 20)
        let attempts = (report.timeline ?? []).filter { $0.outcome == "ok" }
        try #require(attempts.count == 2)
        #expect(Set(attempts.map(\.worker)).count == 2, "two workers ran them: \(attempts)")
        let overlap = min(attempts[0].endMs, attempts[1].endMs) - max(attempts[0].startMs, attempts[1].startMs)
        #expect(overlap > 500, "they ran at once: \(attempts)")
        for a in attempts {
            let ms = a.endMs - a.startMs
            #expect(ms >= 1000, "the instance's 21+ flights at 20/s take ≥ 1 s; took \(ms) ms")
            #expect(ms < 1900, "a path shared with the other worker would take ≈ 2.3 s; took \(ms) ms")
        }
    }
}
