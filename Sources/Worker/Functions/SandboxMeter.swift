import FanbenchBase
import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// Measures a sandbox — the handler's process and everything it starts — as Lambda's REPORT
/// line does: peak memory, CPU time, out-of-memory kills. Where the worker may create cgroups
/// (v1, as the local launcher sets it up), the handler goes into a child cgroup of the worker's
/// own: under the worker's caps, with the same memory limit (so the cgroup's OOM killer takes
/// the handler, not the worker), and with exact counters (`memory.max_usage_in_bytes`,
/// `cpuacct.usage`, `oom_kill`). Elsewhere (v2, read-only cgroupfs in containers) it reads the
/// handler's `/proc` entries: VmHWM and utime+stime of the handler and the children it waited for.
///
/// The handler gets the whole size, as a Lambda function does: while a sandbox runs, the
/// worker's own group is allowed the size plus the worker's own memory and a margin (the worker
/// stands for Lambda's service, outside the function's memory), and is set back after.
package final class SandboxMeter: Sendable {
    package enum Source: String, Sendable {
        case cgroup, proc
    }

    package let source: Source
    private let memoryDir: String?
    private let cpuacctDir: String?
    /// The worker's own memory group and its limit (the size), when the sandbox has a group.
    private let parentMemoryDir: String?
    private let parentLimit: Int64?
    static let workerMargin: Int64 = 64 << 20
    private let lastProc = NIOLockedValueBox<(peak: Int64, cpuNs: UInt64)>((0, 0))

    /// A cgroup made for the sandbox by its caller (`fanbench lambda serve` makes one per
    /// execution environment, with the size's caps): the handler joins it before exec.
    package struct Group: Sendable {
        package var procsFiles: [String]
        /// v1's memory and cpuacct directories; nil on v2 (the handler's /proc entries are read).
        package var memoryDir: String?
        package var cpuacctDir: String?
        package init(procsFiles: [String], memoryDir: String?, cpuacctDir: String?) {
            self.procsFiles = procsFiles
            self.memoryDir = memoryDir
            self.cpuacctDir = cpuacctDir
        }
    }

    /// Whose group this is: a child made here (removed with the meter) or the caller's.
    private let ownsGroup: Bool
    private let givenProcs: [String]?

    package init(group: Group) {
        memoryDir = group.memoryDir
        cpuacctDir = group.cpuacctDir
        parentMemoryDir = nil
        parentLimit = nil
        ownsGroup = false
        givenProcs = group.procsFiles
        source = group.memoryDir == nil ? .proc : .cgroup
    }

    /// A child cgroup named `name` of the worker's own, when it can be made; else `/proc` readings.
    package init(reader: CgroupReader = CgroupReader(), name: String) {
        var memoryDir: String?
        var cpuacctDir: String?
        var parentMemoryDir: String?
        var parentLimit: Int64?
        // Only under a group of the worker's own (as the local launcher makes): a child of a
        // hierarchy's root would outlive a killed worker with nobody to remove it.
        if case .v1(let paths) = reader.membership(), paths["memory"].map({ $0 != "/" }) == true,
           let parent = reader.v1Directory("memory", paths) {
            let child = parent + "/" + name
            if Self.makeDirectory(child) {
                // The parent's limit again, so the child's OOM killer acts first and picks the handler.
                if let limit = reader.read(parent + "/memory.limit_in_bytes"), let bytes = Int64(limit), bytes < Int64(1) << 60 {
                    Self.write(child + "/memory.limit_in_bytes", String(bytes))
                    parentMemoryDir = parent
                    parentLimit = bytes
                }
                memoryDir = child
                if paths["cpuacct"].map({ $0 != "/" }) == true, let cpuParent = reader.v1Directory("cpuacct", paths),
                   FileManager.default.fileExists(atPath: cpuParent + "/cpuacct.usage") {
                    let cpuChild = cpuParent + "/" + name
                    if Self.makeDirectory(cpuChild) { cpuacctDir = cpuChild }
                }
            }
        }
        self.memoryDir = memoryDir
        self.cpuacctDir = cpuacctDir
        self.parentMemoryDir = parentMemoryDir
        self.parentLimit = parentLimit
        source = memoryDir == nil ? .proc : .cgroup
        ownsGroup = true
        givenProcs = nil
    }

    private static func makeDirectory(_ path: String) -> Bool {
        mkdir(path, 0o755) == 0 || (errno == EEXIST && FileManager.default.fileExists(atPath: path + "/cgroup.procs"))
    }

    @discardableResult
    private static func write(_ path: String, _ value: String) -> Bool {
        let fd = open(path, O_WRONLY | O_TRUNC)  // as `echo v > file` does; cgroupfs ignores the truncation
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return value.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
    }

    private static func read(_ path: String) -> String? {
        SmallFile.read(path)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A sandbox is about to start: the worker's group may hold the size for the handler plus
    /// what the worker itself uses now and a margin.
    package func grantHeadroom() {
        guard let parentMemoryDir, let parentLimit else { return }
        let own = Self.read(parentMemoryDir + "/memory.usage_in_bytes").flatMap(Int64.init) ?? 0
        Self.write(parentMemoryDir + "/memory.limit_in_bytes", String(parentLimit + own + Self.workerMargin))
    }

    /// The sandbox is gone: the worker's group is back to the size (its built-in strategies run under it).
    package func revokeHeadroom() {
        guard let parentMemoryDir, let parentLimit else { return }
        Self.write(parentMemoryDir + "/memory.limit_in_bytes", String(parentLimit))
    }

    /// A new sandbox starts: its peak counts from now.
    package func reset() {
        if let memoryDir { Self.write(memoryDir + "/memory.max_usage_in_bytes", "0") }
        lastProc.withLockedValue { $0 = (0, 0) }
    }

    /// The cgroup.procs files the handler joins before it execs (none without a sandbox group).
    package var procsFiles: [String] {
        givenProcs ?? [memoryDir, cpuacctDir].compactMap { $0.map { $0 + "/cgroup.procs" } }
    }

    /// Makes the handler's process the OOM killer's first choice (over the worker).
    package func adopt(_ pid: pid_t) {
        Self.write("/proc/\(pid)/oom_score_adj", "1000")
    }

    /// Peak memory of the sandbox so far, bytes.
    package func peakBytes(pid: pid_t) -> Int64 {
        if let memoryDir, let v = SmallFile.integer(memoryDir + "/memory.max_usage_in_bytes") { return v }
        return procReading(pid, memory: true).peak
    }

    /// CPU time the sandbox has used, ns.
    package func cpuNanoseconds(pid: pid_t) -> UInt64 {
        if let cpuacctDir, let v = SmallFile.integer(cpuacctDir + "/cpuacct.usage") { return UInt64(v) }
        return procReading(pid, memory: false).cpuNs
    }

    /// OOM kills in the sandbox group so far (nil when it cannot be known).
    package func oomKills() -> Int? {
        guard let memoryDir, let control = Self.read(memoryDir + "/memory.oom_control") else { return nil }
        return CgroupReader.statValue(control, "oom_kill").map { Int($0) }
    }

    /// SIGKILLs whatever is still in the sandbox group (what the handler left running).
    package func killAll() {
        guard let memoryDir, let procs = Self.read(memoryDir + "/cgroup.procs") else { return }
        for line in procs.split(separator: "\n") {
            if let pid = pid_t(line) { kill(pid, SIGKILL) }
        }
    }

    /// Removes the child groups (once their processes are gone).
    package func remove() {
        killAll()
        revokeHeadroom()
        guard ownsGroup else { return }
        for dir in [memoryDir, cpuacctDir].compactMap({ $0 }) {
            for _ in 0..<50 where rmdir(dir) != 0 && errno == EBUSY {
                usleep(10_000)
            }
        }
    }

    /// The handler's own VmHWM and CPU (with its waited-for children's), kept when it is gone.
    private func procReading(_ pid: pid_t, memory: Bool) -> (peak: Int64, cpuNs: UInt64) {
        let peak = !memory ? nil : SmallFile.bytes("/proc/\(pid)/status").flatMap { SmallFile.number(after: "VmHWM:", in: $0) }.map { $0 * 1024 }
        var cpu: UInt64?
        if !memory, let stat = SmallFile.bytes("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")) {
            // After ")": state, ppid, … — utime is field 14 overall (the 12th after the name),
            // then stime, cutime, cstime.
            var field = 0
            var ticks: Int64 = 0
            var i = close + 1
            while i < stat.endIndex, field < 16 {
                if stat[i] == 0x20 {
                    field += 1
                    if (12...15).contains(field) { ticks += SmallFile.leadingNumber(stat[(i + 1)...]) ?? 0 }
                }
                i += 1
            }
            if field >= 15 { cpu = UInt64(ticks) * UInt64(1_000_000_000 / max(1, sysconf(Int32(_SC_CLK_TCK)))) }
        }
        return lastProc.withLockedValue { last in
            if let peak { last.peak = max(last.peak, peak) }
            if let cpu { last.cpuNs = max(last.cpuNs, cpu) }
            return last
        }
    }
}
