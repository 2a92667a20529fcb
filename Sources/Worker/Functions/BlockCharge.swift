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
///
/// The cap (`cpu.blocks_per_cpu_ms`): at most that many switches are charged per ms of the
/// function's own CPU in an interval. Throttled, a handler's threads switch far more — a GIL
/// waiter wakes on its 5 ms timeout, finds the quota spent, blocks again: the seed's threads
/// handler switches ~700 times an invocation unthrottled and ~2,100 times at 128 MB — and those
/// are wake-ups a throttled VM's vCPUs, descheduled by the host rather than idle, never
/// halt-poll for. Lambda's figures say the same: the threads handler's CPU per invocation is
/// one constant from 128 to 1,536 MB (the blog's table fits C ÷ share within 5%), so its charge
/// must not grow as the share shrinks. Counted per thread from `/proc/PID/task/*/schedstat`.
package final class BlockCharge: @unchecked Sendable {
    /// CPU charged per voluntary context switch of the function's threads.
    package let costNanos: UInt64
    /// At most this many switches charged per ms of the function's CPU (0: every switch).
    package let capPerCPUMs: Double
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
    package init?(costMicros: Double, capPerCPUMs: Double = 0, intervalMicros: UInt32 = 20_000) {
        guard costMicros > 0, costMicros.isFinite else { return nil }
        costNanos = UInt64((costMicros * 1000).rounded())
        self.capPerCPUMs = capPerCPUMs.isFinite ? max(0, capPerCPUMs) : 0
        self.intervalMicros = intervalMicros
        maxOwedNanos = 1_000_000_000
    }

    /// Charges for `pid`'s blocking until `stop` (or until it is gone).
    package func start(pid: pid_t) {
        stop()
        let run = Run()
        lock.withLock { current = run }
        let cost = costNanos, interval = intervalMicros, maxOwed = maxOwedNanos, cap = capPerCPUMs
        let thread = Thread {
            defer { run.done.signal() }
            var last: [Int32: BlockCharge.Sample] = [:]
            var owed: UInt64 = 0
            while !run.lock.withLock({ run.stopped }) {
                usleep(interval)
                let t0 = threadCPUNanoseconds()
                guard let samples = Self.samples(pid: pid, cpu: cap > 0) else { break }
                let delta = Self.charged(now: samples, last: last, capPerCPUMs: cap)
                last = samples
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

    /// One thread's counters at one moment.
    package struct Sample: Equatable, Sendable {
        package var switches: UInt64
        /// Its time on CPU, ns (0 when not read).
        package var cpuNanos: UInt64
        package init(switches: UInt64, cpuNanos: UInt64 = 0) {
            self.switches = switches
            self.cpuNanos = cpuNanos
        }
    }

    /// The switches to charge between two samplings: each thread's new switches (a thread not
    /// seen before counts from zero), and with a cap, at most `capPerCPUMs` per ms of its new CPU.
    package static func charged(now: [Int32: Sample], last: [Int32: Sample], capPerCPUMs: Double) -> UInt64 {
        var switches: UInt64 = 0, cpuNanos: UInt64 = 0
        for (tid, s) in now {
            let before = last[tid] ?? Sample(switches: 0, cpuNanos: 0)
            switches += s.switches &- min(s.switches, before.switches)
            cpuNanos += s.cpuNanos &- min(s.cpuNanos, before.cpuNanos)
        }
        guard capPerCPUMs > 0 else { return switches }
        return min(switches, UInt64((Double(cpuNanos) / 1e6 * capPerCPUMs).rounded()))
    }

    /// Each thread's `voluntary_ctxt_switches` and (with `cpu`) its CPU time from `schedstat`,
    /// by thread id; nil when the process is gone.
    package static func samples(pid: pid_t, cpu: Bool) -> [Int32: Sample]? {
        guard let dir = opendir("/proc/\(pid)/task") else { return nil }
        defer { closedir(dir) }
        var out: [Int32: Sample] = [:]
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard let tid = Int32(name), let status = SmallFile.bytes("/proc/\(pid)/task/\(tid)/status"),
                  let count = parseVoluntary(status) else { continue }
            var sample = Sample(switches: count)
            if cpu, let stat = SmallFile.bytes("/proc/\(pid)/task/\(tid)/schedstat"), let ns = SmallFile.leadingNumber(stat) {
                sample.cpuNanos = UInt64(max(0, ns))
            }
            out[tid] = sample
        }
        return out
    }

    /// The number after `voluntary_ctxt_switches:` in a status file's bytes (not the
    /// `nonvoluntary_` line's).
    static func parseVoluntary(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        SmallFile.number(after: "\nvoluntary_ctxt_switches:", in: bytes).map { UInt64($0) }
    }
}
