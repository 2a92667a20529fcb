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
        #expect(BlockCharge.voluntarySwitches(pid: getpid())?.isEmpty == false, "this process's threads are listed")
        #expect(BlockCharge(costMicros: 0) == nil, "no cost, no charge")
        #expect(BlockCharge(costMicros: .nan) == nil)
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
