import FanbenchBase
import FanbenchCoordinator
import FanbenchReport
@testable import FanbenchWorker
import Foundation
import Testing

/// Both cgroup versions against fixture trees: what the manager writes, the reader reads back.
@Suite struct CgroupTests {
    func fixture(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-cg-\(name)-\(UInt32.random(in: 0..<UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func v2WritesCapsAndReadsThemBack() throws {
        let root = try fixture("v2")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "cpuset cpu io memory pids".write(toFile: root + "/cgroup.controllers", atomically: true, encoding: .utf8)
        try "".write(toFile: root + "/cgroup.subtree_control", atomically: true, encoding: .utf8)
        #expect(CgroupManager.detect(root: root) == .v2)
        let manager = CgroupManager(root: root, version: .v2)
        let size = try LambdaSize(memoryMB: 512)
        let group = try manager.create(name: "w1", size: size, hostCores: 2)
        #expect(group.procsFiles == [root + "/fanbench/w1/cgroup.procs"])
        #expect(read(root + "/cgroup.subtree_control") == "+cpu +memory")
        #expect(read(root + "/fanbench/w1/cpu.max") == "\(size.cfsQuotaMicros) 100000")
        #expect(read(root + "/fanbench/w1/memory.max") == "536870912")

        let proc = root + "/proc-self-cgroup"
        try "0::/fanbench/w1\n".write(toFile: proc, atomically: true, encoding: .utf8)
        try "usage_usec 10\nthrottled_usec 2500\n".write(toFile: root + "/fanbench/w1/cpu.stat", atomically: true, encoding: .utf8)
        let limits = CgroupReader(root: root, procSelfCgroup: proc).limits()
        #expect(limits.cgroup == "v2")
        #expect(abs(limits.cpu! - size.cpu) < 0.0001)
        #expect(limits.memoryBytes == size.memoryBytes)
        #expect(ConfigAggregate.isEnforced(limits, size: size))
        #expect(CgroupReader(root: root, procSelfCgroup: proc).throttledMs() == 2.5)
        manager.remove(group)
        #expect(!FileManager.default.fileExists(atPath: root + "/fanbench/w1"))
        // A profile's shorter period: the same share over it, read back as the same CPU.
        let sliced = try manager.create(name: "w3", size: size, hostCores: 2, periodMicros: 20_000)
        #expect(read(root + "/fanbench/w3/cpu.max") == "\(size.cfsQuotaMicros(scale: 1, cores: 2, periodMicros: 20_000)) 20000")
        try "0::/fanbench/w3\n".write(toFile: proc, atomically: true, encoding: .utf8)
        #expect(abs(CgroupReader(root: root, procSelfCgroup: proc).limits().cpu! - size.cpu) < 0.0001)
        manager.remove(sliced)
    }

    @Test func v1WritesCapsAndReadsThemBack() throws {
        let root = try fixture("v1")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for c in ["cpu", "memory"] {
            try FileManager.default.createDirectory(atPath: root + "/" + c, withIntermediateDirectories: true)
            try "".write(toFile: root + "/\(c)/cgroup.procs", atomically: true, encoding: .utf8)
        }
        #expect(CgroupManager.detect(root: root) == .v1)
        let manager = CgroupManager(root: root, version: .v1)
        let size = try LambdaSize(memoryMB: 128)
        let group = try manager.create(name: "w2", size: size, hostCores: 2)
        #expect(read(root + "/cpu/fanbench/w2/cpu.cfs_quota_us") == "7236")
        #expect(read(root + "/cpu/fanbench/w2/cpu.cfs_period_us") == "100000")
        #expect(read(root + "/memory/fanbench/w2/memory.limit_in_bytes") == "134217728")
        try "10:cpu,cpuacct:/fanbench/w2\n9:memory:/fanbench/w2\n1:name=systemd:/\n".write(toFile: root + "/proc", atomically: true, encoding: .utf8)
        try "nr_throttled 3\nthrottled_time 7000000\n".write(toFile: root + "/cpu/fanbench/w2/cpu.stat", atomically: true, encoding: .utf8)
        let reader = CgroupReader(root: root, procSelfCgroup: root + "/proc")
        let limits = reader.limits()
        #expect(limits.cgroup == "v1")
        #expect(abs(limits.cpu! - 0.07236) < 1e-9)
        #expect(limits.memoryBytes == 134_217_728)
        #expect(ConfigAggregate.isEnforced(limits, size: size))
        #expect(reader.throttledMs() == 7)
        manager.remove(group)
        #expect(!FileManager.default.fileExists(atPath: root + "/cpu/fanbench/w2"))
    }

    @Test func joinCommandEntersEveryGroupBeforeExec() {
        let group = CgroupManager.Group(name: "g", procsFiles: ["/a/cgroup.procs", "/b b/cgroup.procs"], directories: [])
        let (exe, args) = CgroupManager.joinAndExec(group, executable: "/bin/worker", arguments: ["--size-mb", "128"])
        #expect(exe == "/bin/sh")
        #expect(args[1] == "echo $$ > '/a/cgroup.procs' && echo $$ > '/b b/cgroup.procs' && exec \"$0\" \"$@\"")
        #expect(Array(args[2...]) == ["/bin/worker", "--size-mb", "128"])
        #expect(CgroupManager.joinAndExec(nil, executable: "/bin/w", arguments: ["x"]) == ("/bin/w", ["x"]))
    }
}
