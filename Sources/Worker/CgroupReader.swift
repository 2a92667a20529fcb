import FanbenchBase
import FanbenchProtocol
import Foundation

/// Reads a process's effective limits and usage from its cgroup (v1 or v2), from
/// `/proc/self/cgroup` and the cgroup filesystem, both injectable so fixture trees can stand in.
package struct CgroupReader: Sendable {
    package var root: String
    package var procSelfCgroup: String

    package init(root: String = "/sys/fs/cgroup", procSelfCgroup: String = "/proc/self/cgroup") {
        self.root = root
        self.procSelfCgroup = procSelfCgroup
    }

    /// Where this process sits: v2's single path, or v1's path per controller.
    package enum Membership: Equatable {
        case v2(path: String)
        case v1(paths: [String: String])
        case none
    }

    package func membership() -> Membership {
        guard let text = try? String(contentsOfFile: procSelfCgroup, encoding: .utf8) else { return .none }
        var v1: [String: String] = [:]
        var v2: String?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty {
                v2 = String(parts[2])
            } else {
                for controller in parts[1].split(separator: ",") { v1[String(controller)] = String(parts[2]) }
            }
        }
        if !v1.isEmpty, v1["cpu"] != nil || v1["memory"] != nil { return .v1(paths: v1) }
        if let v2 { return .v2(path: v2) }
        return .none
    }

    func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// v2's group directory; a container without a cgroup namespace sees the host's path while its own group is the mount's root.
    private func v2Directory(_ path: String) -> String {
        let dir = root + (path == "/" ? "" : path)
        return FileManager.default.fileExists(atPath: dir) ? dir : root
    }

    /// The first existing directory for a v1 controller (mounted as `cpu`, `cpu,cpuacct`, …).
    package func v1Directory(_ controller: String, _ paths: [String: String]) -> String? {
        guard let path = paths[controller] else { return nil }
        for mount in [controller, "\(controller),cpuacct", "cpuacct,\(controller)"] {
            let dir = root + "/" + mount + path
            if FileManager.default.fileExists(atPath: dir) { return dir }
            // In a container the listed path is the host's ("/" inside a cgroup namespace,
            // "/libpod_parent/…" or "/docker/…" without one) while the container's own group is
            // mounted at the controller's root.
            let top = root + "/" + mount
            if FileManager.default.fileExists(atPath: top + "/cgroup.procs") { return top }
        }
        return nil
    }

    /// This process's own cgroup-v1 `cpu` group's quota, where it may write it (the local
    /// launcher's group, not the root): its quota file, quota and period, µs. nil elsewhere
    /// (v2, no quota, not writable) — what the worker's own quota writes (`InitCPUBoost`,
    /// `LiveQuota`) need.
    package func ownV1CPUQuota() -> (file: String, quotaMicros: Int, periodMicros: Int)? {
        guard case .v1(let paths) = membership(), paths["cpu"].map({ $0 != "/" }) == true,
              let dir = v1Directory("cpu", paths), access(dir + "/cpu.cfs_quota_us", W_OK) == 0,
              let quota = SmallFile.integer(dir + "/cpu.cfs_quota_us"), quota > 0,
              let period = SmallFile.integer(dir + "/cpu.cfs_period_us"), period > 0 else { return nil }
        return (dir + "/cpu.cfs_quota_us", Int(quota), Int(period))
    }

    /// The effective CPU, memory and core limits; `cgroup: none` when nothing caps the process.
    package func limits() -> WorkerLimits {
        switch membership() {
        case .v2(let path):
            let dir = v2Directory(path)
            var limits = WorkerLimits(cgroup: "v2")
            if let max = read(dir + "/cpu.max")?.split(separator: " "), max.count == 2,
               let quota = Double(max[0]), let period = Double(max[1]), period > 0 {
                limits.cpu = quota / period
            }
            if let mem = read(dir + "/memory.max"), let bytes = Int64(mem) { limits.memoryBytes = bytes }
            if let cpus = read(dir + "/cpuset.cpus.effective") ?? read(dir + "/cpuset.cpus"), !cpus.isEmpty {
                limits.cores = Self.countCPUs(cpus)
            }
            return limits.cpu == nil && limits.memoryBytes == nil ? WorkerLimits(cores: limits.cores, cgroup: "none") : limits
        case .v1(let paths):
            var limits = WorkerLimits(cgroup: "v1")
            if let dir = v1Directory("cpu", paths), let quota = read(dir + "/cpu.cfs_quota_us").flatMap(Double.init),
               let period = read(dir + "/cpu.cfs_period_us").flatMap(Double.init), quota > 0, period > 0 {
                limits.cpu = quota / period
            }
            if let dir = v1Directory("memory", paths), let bytes = read(dir + "/memory.limit_in_bytes").flatMap(Int64.init),
               bytes < Int64(1) << 60 {
                limits.memoryBytes = bytes
            }
            if let dir = v1Directory("cpuset", paths), let cpus = read(dir + "/cpuset.cpus"), !cpus.isEmpty {
                limits.cores = Self.countCPUs(cpus)
            }
            return limits.cpu == nil && limits.memoryBytes == nil ? WorkerLimits(cores: limits.cores, cgroup: "none") : limits
        case .none:
            return .none
        }
    }

    /// Where `throttledMs` reads from: the cpu.stat file, its key and the unit per ms; found once.
    package struct ThrottleSource: Sendable {
        var path: String
        var key: String
        var perMs: Double

        /// Total CPU throttled time so far, ms, or 0 when unknown.
        package func throttledMs() -> Double {
            guard let stat = SmallFile.read(path) else { return 0 }
            return CgroupReader.statValue(stat, key).map { $0 / perMs } ?? 0
        }
    }

    package func throttleSource() -> ThrottleSource? {
        switch membership() {
        case .v2(let path): return ThrottleSource(path: v2Directory(path) + "/cpu.stat", key: "throttled_usec", perMs: 1000)
        case .v1(let paths): return v1Directory("cpu", paths).map { ThrottleSource(path: $0 + "/cpu.stat", key: "throttled_time", perMs: 1_000_000) }
        case .none: return nil
        }
    }

    /// Total CPU throttled time so far, ms (cpu.stat), or 0 when unknown.
    package func throttledMs() -> Double {
        throttleSource()?.throttledMs() ?? 0
    }

    static func statValue(_ stat: String, _ key: String) -> Double? {
        for line in stat.split(separator: "\n") {
            let kv = line.split(separator: " ")
            if kv.count == 2, kv[0] == key { return Double(kv[1]) }
        }
        return nil
    }

    /// Counts CPUs in a list such as `0-3,6,8-9`.
    static func countCPUs(_ list: String) -> Int {
        var n = 0
        for part in list.split(separator: ",") {
            let bounds = part.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            if bounds.count == 2 { n += max(0, bounds[1] - bounds[0] + 1) } else if bounds.count == 1 { n += 1 }
        }
        return n
    }
}
