@testable import FanbenchWorker
import Foundation
import Testing

/// What a worker reads from its own cgroup, against fixture trees (v1 and v2, inside and
/// outside containers).
@Suite struct CgroupReaderTests {
    func fixture(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-cgr-\(name)-\(UInt32.random(in: 0..<UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func v2UncappedIsNone() throws {
        let root = try fixture("v2none")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/user.slice", withIntermediateDirectories: true)
        try "max 100000".write(toFile: root + "/user.slice/cpu.max", atomically: true, encoding: .utf8)
        try "max".write(toFile: root + "/user.slice/memory.max", atomically: true, encoding: .utf8)
        try "0::/user.slice\n".write(toFile: root + "/proc", atomically: true, encoding: .utf8)
        let limits = CgroupReader(root: root, procSelfCgroup: root + "/proc").limits()
        #expect(limits.cgroup == "none")
        #expect(limits.cpu == nil && limits.memoryBytes == nil)
    }

    /// A container on a v1 host without a cgroup namespace (podman, Docker): /proc/self/cgroup
    /// names the host's path, and the container's own group is mounted at each controller's root.
    @Test func v1InsideAContainerReadsTheMountRoot() throws {
        let root = try fixture("v1ctr")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (dir, file, value) in [("cpu,cpuacct", "cpu.cfs_quota_us", "57887"), ("cpu,cpuacct", "cpu.cfs_period_us", "100000"),
                                   ("memory", "memory.limit_in_bytes", "1073741824"), ("cpu,cpuacct", "cgroup.procs", "1"),
                                   ("memory", "cgroup.procs", "1")] {
            try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
            try value.write(toFile: root + "/\(dir)/\(file)", atomically: true, encoding: .utf8)
        }
        try "11:memory:/libpod_parent/libpod-0123abcd\n4:cpu,cpuacct:/libpod_parent/libpod-0123abcd\n".write(toFile: root + "/proc", atomically: true, encoding: .utf8)
        let limits = CgroupReader(root: root, procSelfCgroup: root + "/proc").limits()
        #expect(limits.cgroup == "v1")
        #expect(limits.cpu == 0.57887 && limits.memoryBytes == 1_073_741_824, "\(limits)")
    }

    @Test func v2InsideAContainerWithoutANamespaceReadsTheRoot() throws {
        let root = try fixture("v2ctr")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "28949 100000".write(toFile: root + "/cpu.max", atomically: true, encoding: .utf8)
        try "536870912".write(toFile: root + "/memory.max", atomically: true, encoding: .utf8)
        try "0::/system.slice/docker-0123abcd.scope\n".write(toFile: root + "/proc", atomically: true, encoding: .utf8)
        let limits = CgroupReader(root: root, procSelfCgroup: root + "/proc").limits()
        #expect(limits.cgroup == "v2")
        #expect(limits.cpu == 0.28949 && limits.memoryBytes == 536_870_912, "\(limits)")
    }

    @Test func countsCPUsInAList() {
        #expect(CgroupReader.countCPUs("0-3,6,8-9") == 7)
        #expect(CgroupReader.countCPUs("0") == 1)
        #expect(CgroupReader.countCPUs("") == 0)
    }
}
