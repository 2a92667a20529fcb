@testable import FanbenchWorker
import Foundation
import Testing

/// Where a function's sandbox is measured: a child group of the worker's own (v1, writable),
/// else the handler's /proc entries (v2, read-only trees) — against fixture trees and this process.
@Suite struct SandboxMeterTests {
    func fixture(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-meter-\(name)-\(UInt32.random(in: 0..<UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func write(_ value: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try value.write(toFile: path, atomically: false, encoding: .utf8)
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test func v2ReadsTheHandlersProcEntries() throws {
        let root = try fixture("v2")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write("0::/fanbench/w1\n", root + "/proc")
        try write("57887 100000", root + "/fanbench/w1/cpu.max")
        try write("1073741824", root + "/fanbench/w1/memory.max")
        let meter = SandboxMeter(reader: CgroupReader(root: root, procSelfCgroup: root + "/proc"), name: "fanbench-sandbox-t")
        #expect(meter.source == .proc)
        #expect(meter.procsFiles.isEmpty, "nothing to join: the handler stays in the worker's group")
        #expect(!FileManager.default.fileExists(atPath: root + "/fanbench/w1/fanbench-sandbox-t"))
        // This process stands in for the handler: its VmHWM and CPU, as /proc gives them.
        var x = 0.0
        for i in 0..<2_000_000 { x += Double(i).squareRoot() }
        withExtendedLifetime(x) {}
        #expect(meter.peakBytes(pid: getpid()) > 1 << 20)
        #expect(meter.cpuNanoseconds(pid: getpid()) > 0)
        #expect(meter.oomKills() == nil)
    }

    @Test func v1MakesAChildGroupWithTheSizesLimitAndGivesTheWorkerHeadroom() throws {
        let root = try fixture("v1")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write("4:memory:/fanbench/w1\n3:cpu:/fanbench/w1\n2:cpuacct:/fanbench/w1\n", root + "/proc")
        let memory = root + "/memory/fanbench/w1", cpuacct = root + "/cpuacct/fanbench/w1"
        try write("", memory + "/cgroup.procs")
        try write("134217728\n", memory + "/memory.limit_in_bytes")
        try write("20971520\n", memory + "/memory.usage_in_bytes")
        try write("", root + "/cpu/fanbench/w1/cgroup.procs")
        try write("", cpuacct + "/cgroup.procs")
        try write("0\n", cpuacct + "/cpuacct.usage")
        // A real cgroupfs makes a child's files itself; the fixture has them ready.
        let child = memory + "/fanbench-sandbox-t"
        try write("", child + "/cgroup.procs")
        try write("9223372036854771712\n", child + "/memory.limit_in_bytes")
        try write("52428800\n", child + "/memory.max_usage_in_bytes")
        try write("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", child + "/memory.oom_control")
        try write("", cpuacct + "/fanbench-sandbox-t/cgroup.procs")
        try write("123456789\n", cpuacct + "/fanbench-sandbox-t/cpuacct.usage")

        let meter = SandboxMeter(reader: CgroupReader(root: root, procSelfCgroup: root + "/proc"), name: "fanbench-sandbox-t")
        #expect(meter.source == .cgroup)
        #expect(meter.procsFiles == [child + "/cgroup.procs", cpuacct + "/fanbench-sandbox-t/cgroup.procs"])
        #expect(read(child + "/memory.limit_in_bytes") == "134217728", "the handler's limit is the size")
        #expect(meter.peakBytes(pid: 1) == 52_428_800)
        #expect(meter.cpuNanoseconds(pid: 1) == 123_456_789)
        #expect(meter.oomKills() == 2)
        meter.grantHeadroom()
        #expect(read(memory + "/memory.limit_in_bytes") == String(134_217_728 + 20_971_520 + (64 << 20)),
                "while a sandbox runs, the worker's group holds the size, the worker's own use and a margin")
        meter.revokeHeadroom()
        #expect(read(memory + "/memory.limit_in_bytes") == "134217728")
        meter.reset()
        #expect(read(child + "/memory.max_usage_in_bytes") == "0", "a new sandbox's peak counts from zero")
    }

    @Test func noChildGroupUnderAHierarchysRoot() throws {
        let root = try fixture("v1root")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write("4:memory:/\n3:cpu:/\n", root + "/proc")
        try write("", root + "/memory/cgroup.procs")
        try write("", root + "/cpu/cgroup.procs")
        let meter = SandboxMeter(reader: CgroupReader(root: root, procSelfCgroup: root + "/proc"), name: "fanbench-sandbox-t")
        #expect(meter.source == .proc, "a child of the root would outlive a killed worker")
        #expect(!FileManager.default.fileExists(atPath: root + "/memory/fanbench-sandbox-t"))
    }
}
