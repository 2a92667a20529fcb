import FanbenchBase
@testable import FanbenchWorker
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The worker's side of a live CPU scale on the real cgroup-v1 `cpu` hierarchy (as root): the
/// factor the coordinator publishes moves the worker's own quota, the init boost's and a paced
/// handler's, each as base × factor; a factor that is not a number or out of range is ignored.
/// In the pacer's suite, which is serialized: two busy loops at once would starve its check
/// that an unpaced process takes a core.
extension VCPUPacerTests {
    func quota(_ dir: String) -> Int? { SmallFile.integer(dir + "/cpu.cfs_quota_us").map(Int.init) }

    /// Waits (at most 5 s) until `dir`'s quota is `value`.
    func waitFor(_ dir: String, _ value: Int) -> Bool {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if quota(dir) == value { return true }
            usleep(5_000)
        }
        return false
    }

    @Test(.enabled(if: usable, "needs root and a writable cgroup-v1 cpu hierarchy"))
    func liveQuotasFollowThePublishedFactor() throws {
        let name = "fanbench-live-test-\(getpid())"
        let group = Self.cpuRoot + "/" + name
        #expect(mkdir(group, 0o755) == 0)
        defer { rmdir(group) }
        try "100000".write(toFile: group + "/cpu.cfs_period_us", atomically: false, encoding: .utf8)
        try "40000".write(toFile: group + "/cpu.cfs_quota_us", atomically: false, encoding: .utf8)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fb-live-\(getpid())").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try "4:cpu:/\(name)\n".write(toFile: tmp + "/cgroup", atomically: true, encoding: .utf8)
        let reader = CgroupReader(procSelfCgroup: tmp + "/cgroup")
        let factorFile = tmp + "/cpu-factor"
        try "1.5\n".write(toFile: factorFile, atomically: true, encoding: .utf8)
        let live = try #require(LiveQuota(reader: reader, factorFile: factorFile, cores: 2))
        #expect(live.steadyMicros == 40_000)
        live.startPolling(pollMs: 10)
        #expect(waitFor(group, 60_000), "the worker's own quota × 1.5: \(quota(group) ?? -1)")

        // The init boost: 3× the launcher's quota (not the file's, already × 1.5), × the factor; then back.
        let boost = try #require(InitCPUBoost(reader: reader, multiplier: 3, cores: 2, live: live))
        boost.begin()
        #expect(quota(group) == 180_000)
        try "0.8\n".write(toFile: factorFile, atomically: true, encoding: .utf8)
        #expect(waitFor(group, 96_000), "a new factor moves the boosted quota too: \(quota(group) ?? -1)")
        boost.end()
        #expect(quota(group) == 32_000)

        // A paced handler's group: its vCPU × the factor, forgotten when it goes.
        let busy = try ProcessLauncher.spawn(executable: "/bin/sh", arguments: ["-c", "while :; do :; done"], logPath: "/dev/null")
        defer { kill(busy, SIGKILL); var s: Int32 = 0; waitpid(busy, &s, 0) }
        try "\(busy)".write(toFile: group + "/cgroup.procs", atomically: false, encoding: .utf8)
        let pacer = try #require(VCPUPacer(reader: reader, quotaMicros: 25_000, live: live))
        #expect(pacer.start(pid: busy))
        let paced = try #require(pacer.pacedGroup)
        #expect(quota(paced) == 20_000)
        // Falling: the child first, or v1 would refuse the parent below it.
        try "0.5\n".write(toFile: factorFile, atomically: true, encoding: .utf8)
        #expect(waitFor(paced, 12_500) && waitFor(group, 20_000))
        try "1.2\n".write(toFile: factorFile, atomically: true, encoding: .utf8)
        #expect(waitFor(paced, 30_000) && waitFor(group, 48_000), "both rise, the parent first (v1 refuses a child above it): \(quota(paced) ?? -1), \(quota(group) ?? -1)")

        // Not a number, or out of 0.5–2: the quotas stay as they are.
        for bad in ["fast\n", "5\n", "0.1\n", "nan\n"] {
            try bad.write(toFile: factorFile, atomically: true, encoding: .utf8)
            usleep(60_000)
            #expect(quota(group) == 48_000 && quota(paced) == 30_000, "\(bad) was applied")
        }
        pacer.stop()
        try "1\n".write(toFile: factorFile, atomically: true, encoding: .utf8)
        #expect(waitFor(group, 40_000))
        #expect(!FileManager.default.fileExists(atPath: paced), "the pacer's group is removed, not rewritten")
    }

    @Test func noLiveQuotaWithoutAGroupOfTheWorkersOwn() throws {
        let proc = FileManager.default.temporaryDirectory.appendingPathComponent("fb-live-root-\(getpid())").path
        try "4:cpu:/\n0::/\n".write(toFile: proc, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: proc) }
        #expect(LiveQuota(reader: CgroupReader(procSelfCgroup: proc), factorFile: "/nonexistent", cores: 2) == nil)
    }

    @Test func aQuotaIsBaseTimesFactorWithinTheKernelsBounds() {
        #expect(LiveQuota.quota(base: 20_000, factor: 1.25, cap: 200_000) == 25_000)
        #expect(LiveQuota.quota(base: 900, factor: 1, cap: 200_000) == 1000, "the kernel's least: 1 ms")
        #expect(LiveQuota.quota(base: 150_000, factor: 2, cap: 200_000) == 200_000, "at most the cores")
    }
}
