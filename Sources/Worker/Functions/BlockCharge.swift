import FanbenchBase
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a function's threads pay on Lambda each time one of them blocks: a Lambda vCPU is a
/// Firecracker thread under the host's CPU quota, and a vCPU that goes idle does not sleep at
/// once (KVM halt-polls, up to 200 µs by default, before it yields) — time the quota is charged
/// for and the guest never sees. A handler that blocks often (threads taking turns on CPython's
/// GIL, every wait on the network) spends more of its share than its own code uses; one that
/// runs to the next request barely pays. On a plain host a blocked thread costs nothing, so
/// threaded handlers came out 25–40% fast at 512–1024 MB against the blog's real Lambda while
/// serial ones were right (issue 13).
///
/// The charge: a thread of the worker's (so in the size's cgroup, whose quota it spends) counts
/// the function's voluntary context switches — every thread of its process, from
/// `/proc/PID/task/*/status` — every `interval`, and spins `cost` of its own CPU time for each.
/// Spinning is measured on the thread's CPU clock, so while the group is throttled it owes the
/// rest; the charge is the CPU the group really spends, not wall time (counting's own CPU is
/// part of it). Works wherever the worker
/// and its function share a quota (cgroup v1 or v2, a container's limit).
package final class BlockCharge: @unchecked Sendable {
    /// CPU charged per voluntary context switch of the function's threads.
    package let costNanos: UInt64
    let intervalMicros: UInt32
    /// At most this much owed is carried (a burst of switches is not paid back for ever).
    let maxOwedNanos: UInt64
    private let lock = NSLock()
    private var current: Run?

    private final class Run: @unchecked Sendable {
        let lock = NSLock()
        var stopped = false
        var switches: UInt64 = 0
        var chargedNanos: UInt64 = 0
        let done = DispatchSemaphore(value: 0)
    }

    /// nil when `costMicros` is not above 0.
    package init?(costMicros: Double, intervalMicros: UInt32 = 20_000) {
        guard costMicros > 0, costMicros.isFinite else { return nil }
        costNanos = UInt64((costMicros * 1000).rounded())
        self.intervalMicros = intervalMicros
        maxOwedNanos = 1_000_000_000
    }

    /// Charges for `pid`'s blocking until `stop` (or until it is gone).
    package func start(pid: pid_t) {
        stop()
        let run = Run()
        lock.withLock { current = run }
        let cost = costNanos, interval = intervalMicros, maxOwed = maxOwedNanos
        let thread = Thread {
            defer { run.done.signal() }
            var last: [Int32: UInt64] = [:]
            var owed: UInt64 = 0
            while !run.lock.withLock({ run.stopped }) {
                usleep(interval)
                let t0 = threadCPUNanoseconds()
                guard let counts = Self.voluntarySwitches(pid: pid) else { break }
                var delta: UInt64 = 0
                for (tid, n) in counts { delta += n &- min(n, last[tid] ?? 0) }
                last = counts
                owed = min(maxOwed, owed + delta * cost)
                // Counting costs CPU in the same group too: it is part of the charge, not on top of it.
                let counting = threadCPUNanoseconds() &- t0
                owed -= min(owed, counting)
                let spent = Self.spin(nanos: owed, until: { run.lock.withLock { run.stopped } })
                owed -= min(owed, spent)
                run.lock.withLock {
                    run.switches += delta
                    run.chargedNanos += counting + spent
                }
            }
        }
        thread.name = "block-charge"
        thread.start()
    }

    /// Stops charging and waits for the thread; what it charged.
    @discardableResult
    package func stop() -> (switches: UInt64, chargedNanos: UInt64)? {
        guard let run = lock.withLock({ () -> Run? in defer { current = nil }; return current }) else { return nil }
        run.lock.withLock { run.stopped = true }
        run.done.wait()
        return run.lock.withLock { (run.switches, run.chargedNanos) }
    }

    /// Spins until this thread has used `nanos` of CPU (or `stop` says so); the CPU it used.
    static func spin(nanos: UInt64, until stop: () -> Bool) -> UInt64 {
        guard nanos > 0 else { return 0 }
        let start = threadCPUNanoseconds()
        var used: UInt64 = 0
        var checks = 0
        while used < nanos {
            checks += 1
            if checks % 1024 == 0, stop() { break }
            used = threadCPUNanoseconds() &- start
        }
        return used
    }

    /// Each thread's `voluntary_ctxt_switches`, by thread id; nil when the process is gone.
    package static func voluntarySwitches(pid: pid_t) -> [Int32: UInt64]? {
        guard let dir = opendir("/proc/\(pid)/task") else { return nil }
        defer { closedir(dir) }
        var out: [Int32: UInt64] = [:]
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard let tid = Int32(name), let status = SmallFile.bytes("/proc/\(pid)/task/\(tid)/status"),
                  let count = parseVoluntary(status) else { continue }
            out[tid] = count
        }
        return out
    }

    /// The number after `voluntary_ctxt_switches:` in a status file's bytes (not the
    /// `nonvoluntary_` line's).
    static func parseVoluntary(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        SmallFile.number(after: "\nvoluntary_ctxt_switches:", in: bytes).map { UInt64($0) }
    }
}
