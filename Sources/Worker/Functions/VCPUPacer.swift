import FanbenchBase
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One Lambda vCPU is slower (or faster) than one of this host's cores; a size's quota scaled by
/// the profile's CPU probe emulates the total, but under a quota above one core a handler whose
/// work is one core's at a time (CPython's GIL, Node's event loop) still runs at the host core's
/// full speed — at 3008 MB the seed's Python handlers got a whole host core where Lambda gives
/// them one slower vCPU. The pacer holds the handler's process (all its threads; new ones are
/// born in its group) to one emulated vCPU (`quotaMicros` per 100 ms) in a cgroup-v1 `cpu`
/// child group under the worker's, which keeps the size's total. Exact for a handler that runs
/// one thread at a time; it underestimates one that truly runs two. (Pacing each thread instead
/// was tried and dropped: threads that take turns on a GIL each stay under a per-thread cap.)
/// Only on cgroup v1 with a writable `cpu` hierarchy; elsewhere `init` is nil.
package final class VCPUPacer: @unchecked Sendable {
    let quotaMicros: Int
    let reader: CgroupReader
    /// A live CPU scale's quotas: the pacer's is one of them (× its factor).
    let live: LiveQuota?
    private let lock = NSLock()
    /// The paced process's group, while there is one.
    private var group: String?
    private static let prefix = "fanbench-vcpu-"

    /// nil when there is no v1 cpu group of the worker's own to pace in.
    package init?(reader: CgroupReader = CgroupReader(), quotaMicros: Int, live: LiveQuota? = nil) {
        guard quotaMicros >= 1000, case .v1(let paths) = reader.membership(), paths["cpu"].map({ $0 != "/" }) == true,
              let dir = reader.v1Directory("cpu", paths), access(dir, W_OK) == 0,
              FileManager.default.fileExists(atPath: dir + "/cpu.cfs_quota_us") else { return nil }
        self.quotaMicros = quotaMicros
        self.reader = reader
        self.live = live
    }

    /// Paces `pid` until `stop`: a child of the group it is in (its sandbox group where cpu and
    /// cpuacct share a hierarchy, so its CPU is still counted there). False when it cannot.
    @discardableResult
    package func start(pid: pid_t) -> Bool {
        stop()
        var handler = reader
        handler.procSelfCgroup = "/proc/\(pid)/cgroup"
        guard case .v1(let paths) = handler.membership(), let parent = handler.v1Directory("cpu", paths), access(parent, W_OK) == 0 else { return false }
        let dir = parent + "/" + Self.prefix + String(pid)
        // The size's own period (a profile's `cpu.period_ms`), which the launcher's quota is over.
        let period = SmallFile.integer(parent + "/cpu.cfs_period_us").flatMap { $0 > 0 ? Int($0) : nil } ?? LambdaSize.cfsPeriodMicros
        guard mkdir(dir, 0o755) == 0 || errno == EEXIST,
              Self.write(dir + "/cpu.cfs_period_us", String(period)),
              live?.set(dir + "/cpu.cfs_quota_us", base: quotaMicros) ?? Self.write(dir + "/cpu.cfs_quota_us", String(quotaMicros)),
              Self.write(dir + "/cgroup.procs", String(pid)) else {
            live?.forget(dir + "/cpu.cfs_quota_us")
            rmdir(dir)
            return false
        }
        lock.withLock { group = dir }
        return true
    }

    /// Stops pacing: what is left of the process back in the parent group, the group removed.
    package func stop() {
        guard let dir = lock.withLock({ () -> String? in defer { group = nil }; return group }) else { return }
        let parent = (dir as NSString).deletingLastPathComponent
        live?.forget(dir + "/cpu.cfs_quota_us")
        for tid in (try? String(contentsOfFile: dir + "/tasks", encoding: .utf8))?.split(separator: "\n") ?? [] {
            Self.write(parent + "/tasks", String(tid))
        }
        for _ in 0..<20 where rmdir(dir) != 0 && errno == EBUSY { usleep(5_000) }
    }

    /// The paced process's group (tests).
    package var pacedGroup: String? { lock.withLock { group } }

    @discardableResult
    static func write(_ path: String, _ value: String) -> Bool {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        return Glibc.write(fd, bytes, bytes.count) == bytes.count
    }
}
