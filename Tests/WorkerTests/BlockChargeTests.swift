import FanbenchBase
@testable import FanbenchWorker
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The block charge against real processes: it counts a process's voluntary context switches
/// from /proc (every thread's) and spends that many times its cost of real CPU on its own thread.
@Suite struct BlockChargeTests {
    @Test func theSwitchCountIsReadFromAStatusFile() {
        let status = "Name:\tpython3\nState:\tS (sleeping)\nThreads:\t1\nvoluntary_ctxt_switches:\t4711\nnonvoluntary_ctxt_switches:\t12\n"
        #expect(BlockCharge.parseVoluntary(ArraySlice(Array(status.utf8))) == 4711)
        #expect(BlockCharge.parseVoluntary(ArraySlice(Array("Name:\tx\nnonvoluntary_ctxt_switches:\t3\n".utf8))) == nil)
        #expect(BlockCharge.samples(pid: getpid(), cpu: false)?.isEmpty == false, "this process's threads are listed")
        #expect(BlockCharge.samples(pid: getpid(), cpu: false)?.values.allSatisfy { $0.cpuNanos == 0 } == true, "CPU only when asked for")
        #expect(BlockCharge(costMicros: 0) == nil, "no cost, no charge")
        #expect(BlockCharge(costMicros: .nan) == nil)
    }

    @Test func theCapChargesAtMostSoManySwitchesPerMsOfTheFunctionsCPU() {
        typealias S = BlockCharge.Sample
        let last: [Int32: S] = [1: S(switches: 100, cpuNanos: 50_000_000), 2: S(switches: 10, cpuNanos: 1_000_000)]
        // Thread 1: 60 more switches on 10 ms more CPU; thread 2 is gone; thread 3 is new (20 switches, 2 ms).
        let now: [Int32: S] = [1: S(switches: 160, cpuNanos: 60_000_000), 3: S(switches: 20, cpuNanos: 2_000_000)]
        #expect(BlockCharge.charged(now: now, last: last, capPerCPUMs: 0) == 80, "no cap: every new switch")
        #expect(BlockCharge.charged(now: now, last: last, capPerCPUMs: 3) == 36, "12 ms of CPU at 3 a ms")
        #expect(BlockCharge.charged(now: now, last: last, capPerCPUMs: 100) == 80, "a cap above the switches changes nothing")
        #expect(BlockCharge.charged(now: last, last: last, capPerCPUMs: 3) == 0)
        // A counter that went back (a reused thread id) counts from where it is, never negative.
        #expect(BlockCharge.charged(now: [1: S(switches: 5, cpuNanos: 1_000_000)], last: last, capPerCPUMs: 0) == 0)
        #expect(BlockCharge.samples(pid: getpid(), cpu: true)?.values.contains { $0.cpuNanos > 0 } == true, "this process's threads' CPU is read")
    }

    /// A process that blocks 300 times on almost no CPU: capped at 1 a CPU ms, it is charged
    /// only as many blocks as it used ms of CPU, not 300.
    @Test func aCappedChargeFollowsTheProcesssCPUNotItsSwitches() throws {
        let pid = try ProcessLauncher.spawn(executable: "/bin/sh", arguments: ["-c", "exec python3 -c 'import time\nfor _ in range(300): time.sleep(0.002)'"],
                                            logPath: "/dev/null")
        let charge = try #require(BlockCharge(costMicros: 200, capPerCPUMs: 1, intervalMicros: 5_000))
        charge.start(pid: pid)
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) == -1 && errno == EINTR {}
        let (switches, _) = try #require(charge.stop())
        let childCPUMs = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000 + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000
        #expect(usage.ru_nvcsw >= 300, "the process blocked \(usage.ru_nvcsw) times")
        #expect(Double(switches) <= childCPUMs + 2, "charged \(switches) blocks for \(childCPUMs) ms of CPU at 1 a ms")
        #expect(switches < 300 / 2)
    }

    @Test func aProcessThatBlocksIsChargedRealCPUForEachBlock() throws {
        // 300 sleeps of 2 ms: at least 300 voluntary switches, and almost no CPU of its own.
        let pid = try ProcessLauncher.spawn(executable: "/bin/sh", arguments: ["-c", "exec python3 -c 'import time\nfor _ in range(300): time.sleep(0.002)'"],
                                            logPath: "/dev/null")
        let charge = try #require(BlockCharge(costMicros: 200, intervalMicros: 5_000))
        let cpu0 = processCPUMicroseconds()
        charge.start(pid: pid)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let (switches, charged) = try #require(charge.stop())
        let cpu1 = processCPUMicroseconds()
        let cpu = UInt64((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) * 1000
        #expect(switches >= 300, "switches counted: \(switches)")
        // Each switch costs 200 µs; what was counted after the last sample (the process's exit) is not.
        #expect(Double(charged) >= Double(switches) * 200_000 * 0.9, "charged \(charged) ns for \(switches) switches")
        #expect(Double(charged) <= Double(switches) * 200_000 + 20_000_000)
        #expect(Double(cpu) >= Double(charged) * 0.9, "the charge is CPU this process really spent: \(cpu) ns for \(charged) charged")
        #expect(charge.stop() == nil, "stopped once, nothing left to stop")
    }
}
