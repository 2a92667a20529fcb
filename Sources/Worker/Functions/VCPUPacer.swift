import FanbenchBase
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One Lambda vCPU is slower (or faster) than one of this host's cores; a size's quota scaled by
/// the profile's CPU probe emulates the total, but under a quota above one core a handler whose
/// work is one core's at a time (CPython's GIL, Node's event loop) still runs at the host core's
/// full speed — at 3008 MB the seed's Python handlers got a whole host core where Lambda gives
/// them one slower vCPU. The pacer caps the handler at one emulated vCPU (`quotaMicros` per
/// 100 ms) in a cgroup-v1 `cpu` child group under the worker's, which keeps the size's total:
/// - `process`: the handler's process (all its threads, new ones too) in one group: exact for a
///   handler that runs one thread at a time; it underestimates one that truly runs two.
/// - `thread`: each thread in a group of its own (polled every 20 ms): right for threads that
///   run in parallel, no cap at all for threads that take turns (they never reach it).
/// Only on cgroup v1 with a writable `cpu` hierarchy; elsewhere the handler runs unpaced.
package final class VCPUPacer: @unchecked Sendable {
    /// Where the per-thread groups go: the cpu group the handler's threads are in (its sandbox
    /// group where cpu and cpuacct share a hierarchy, so its CPU is still counted there).
    private(set) var parent: String
    let quotaMicros: Int
    let reader: CgroupReader
    package enum Mode: String, Sendable, CaseIterable { case process, thread }
    let mode: Mode
    private let lock = NSLock()
    private var groups: [pid_t: String] = [:]
    private var running = false
    private var thread: Thread?
    private var pid: pid_t = 0
    /// Signalled when the polling thread has stopped (so `stop` never races a sweep).
    private var finished: DispatchSemaphore?
    private static let prefix = "fanbench-vcpu-"

    /// nil when there is no v1 cpu group of the worker's own to pace in.
    package init?(reader: CgroupReader = CgroupReader(), quotaMicros: Int, mode: Mode = .process) {
        guard quotaMicros >= 1000, case .v1(let paths) = reader.membership(), paths["cpu"].map({ $0 != "/" }) == true,
              let dir = reader.v1Directory("cpu", paths), access(dir, W_OK) == 0,
              FileManager.default.fileExists(atPath: dir + "/cpu.cfs_quota_us") else { return nil }
        parent = dir
        self.quotaMicros = quotaMicros
        self.reader = reader
        self.mode = mode
    }

    /// Paces `pid`'s threads until `stop`.
    package func start(pid: pid_t) {
        stop()
        var handler = reader
        handler.procSelfCgroup = "/proc/\(pid)/cgroup"
        if case .v1(let paths) = handler.membership(), let dir = handler.v1Directory("cpu", paths), access(dir, W_OK) == 0 {
            parent = dir
        }
        if mode == .process {
            // One group for the process: its threads move with it, new ones are born in it.
            let dir = parent + "/" + Self.prefix + "p" + String(pid)
            guard mkdir(dir, 0o755) == 0 || errno == EEXIST,
                  Self.write(dir + "/cpu.cfs_period_us", String(LambdaSize.cfsPeriodMicros)),
                  Self.write(dir + "/cpu.cfs_quota_us", String(quotaMicros)),
                  Self.write(dir + "/cgroup.procs", String(pid)) else {
                rmdir(dir)
                return
            }
            lock.lock()
            groups[pid] = dir
            lock.unlock()
            return
        }
        lock.lock()
        self.pid = pid
        running = true
        lock.unlock()
        let finished = DispatchSemaphore(value: 0)
        self.finished = finished
        let t = Thread { [self] in
            defer { finished.signal() }
            while true {
                lock.lock()
                let go = running
                lock.unlock()
                guard go else { break }
                sweep()
                usleep(20_000)
            }
        }
        t.name = "fanbench-vcpu-pacer"
        thread = t
        t.start()
        sweep()
    }

    /// Stops pacing and removes every group (their threads, if any are left, back to the parent).
    package func stop() {
        lock.lock()
        running = false
        let poller = finished
        finished = nil
        lock.unlock()
        poller?.wait()
        lock.lock()
        let left = groups
        groups = [:]
        lock.unlock()
        for (tid, dir) in left { Self.release(tid, dir: dir, parent: parent) }
        Self.removeStale(in: parent)
    }

    /// Threads paced right now (tests).
    package var pacedThreads: [pid_t] { lock.lock(); defer { lock.unlock() }; return groups.keys.sorted() }

    /// New threads into groups of their own; groups of threads gone removed.
    func sweep() {
        lock.lock()
        let pid = self.pid
        let go = running
        lock.unlock()
        guard go, pid > 0 else { return }
        let tids = Set(((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).compactMap { pid_t($0) })
        lock.lock()
        defer { lock.unlock() }
        for (tid, dir) in groups where !tids.contains(tid) {
            rmdir(dir)
            groups[tid] = nil
        }
        for tid in tids where groups[tid] == nil {
            let dir = parent + "/" + Self.prefix + String(tid)
            guard mkdir(dir, 0o755) == 0 || errno == EEXIST,
                  Self.write(dir + "/cpu.cfs_period_us", String(LambdaSize.cfsPeriodMicros)),
                  Self.write(dir + "/cpu.cfs_quota_us", String(quotaMicros)),
                  Self.write(dir + "/tasks", String(tid)) else {
                rmdir(dir)
                continue
            }
            groups[tid] = dir
        }
    }

    static func release(_ tid: pid_t, dir: String, parent: String) {
        for t in (try? String(contentsOfFile: dir + "/tasks", encoding: .utf8))?.split(separator: "\n") ?? [] {
            _ = write(parent + "/tasks", String(t))
        }
        for _ in 0..<20 where rmdir(dir) != 0 && errno == EBUSY { usleep(5_000) }
    }

    /// Groups a killed worker's pacer left (their threads gone): removed.
    static func removeStale(in parent: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) {
            rmdir(parent + "/" + name)
        }
    }

    @discardableResult
    static func write(_ path: String, _ value: String) -> Bool {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        return Glibc.write(fd, bytes, bytes.count) == bytes.count
    }
}
