import FanbenchBase
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The worker's side of a profile's live CPU scale (`LiveCPUScale` in the coordinator): polls
/// the factor the coordinator publishes (`FANBENCH_CPU_FACTOR_FILE`) every `pollMs` and keeps
/// every CPU quota the worker writes at its base × that factor — its own group's steady quota
/// (or the init boost's), and a paced handler's vCPU group. The one writer of those files while
/// it exists: `InitCPUBoost` and `VCPUPacer` set bases here instead of writing them. A factor
/// that is not a number, or outside 0.5–2, is not applied. Only where the worker's own cgroup-v1
/// `cpu` group is writable (the local launcher's); elsewhere `init` is nil.
package final class LiveQuota: @unchecked Sendable {
    package static let range = 0.5...2.0

    let factorFile: String
    /// The worker's own group's quota file, and the quota the launcher gave it.
    package let ownQuotaFile: String
    package let steadyMicros: Int
    let ownCapMicros: Int
    private let lock = NSLock()
    private var factor = 1.0
    /// Quota file → (base µs, cap µs).
    private var bases: [String: (base: Int, cap: Int)] = [:]
    private var polling = false

    package init?(reader: CgroupReader = CgroupReader(), factorFile: String, cores: Int) {
        guard let own = reader.ownV1CPUQuota() else { return nil }
        self.factorFile = factorFile
        ownQuotaFile = own.file
        steadyMicros = own.quotaMicros
        ownCapMicros = own.periodMicros * max(1, cores)
        bases[ownQuotaFile] = (own.quotaMicros, ownCapMicros)
    }

    /// Sets `file`'s base (and writes base × the factor, at most `cap`); nil `cap`: the worker's own.
    @discardableResult
    package func set(_ file: String, base: Int, cap: Int? = nil) -> Bool {
        // Written under the lock: a new factor's rewrite cannot land between and leave a stale value.
        lock.withLock {
            let c = cap ?? ownCapMicros
            bases[file] = (base, c)
            return VCPUPacer.write(file, String(Self.quota(base: base, factor: factor, cap: c)))
        }
    }

    /// Stops governing `file` (its group is going away).
    package func forget(_ file: String) { _ = lock.withLock { bases.removeValue(forKey: file) } }

    /// A new factor: every governed quota rewritten. Ignored outside `range` or not finite.
    package func apply(_ newFactor: Double) {
        guard newFactor.isFinite, Self.range.contains(newFactor) else { return }
        lock.withLock {
            guard abs(newFactor - factor) > factor * 0.001 else { return }
            // cgroup v1 refuses a child's quota above its parent's (EINVAL): a rising factor
            // raises the worker's own group first, a falling one lowers the pacer's child first.
            let rising = newFactor > factor
            factor = newFactor
            let own = bases.filter { $0.key == ownQuotaFile }.map { ($0.key, $0.value) }
            let children = bases.filter { $0.key != ownQuotaFile }.map { ($0.key, $0.value) }
            let order = rising ? own + children : children + own
            for (file, b) in order { VCPUPacer.write(file, String(Self.quota(base: b.base, factor: newFactor, cap: b.cap))) }
        }
    }

    /// base × factor, at least the kernel's 1 ms, at most `cap`.
    package static func quota(base: Int, factor: Double, cap: Int) -> Int {
        max(1000, min(cap, Int((Double(base) * factor).rounded())))
    }

    /// The factor in `file` (nil: none there, or not a number).
    static func read(_ file: String) -> Double? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        return Double(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Polls the factor file every `pollMs` for the worker's lifetime (once; later calls do nothing).
    package func startPolling(pollMs: Double = 250) {
        guard lock.withLock({ () -> Bool in defer { polling = true }; return !polling }) else { return }
        if let f = Self.read(factorFile) { apply(f) }
        let thread = Thread { [self] in
            while true {
                usleep(UInt32(pollMs * 1000))
                if let f = Self.read(factorFile) { apply(f) }
            }
        }
        thread.name = "fanbench-live-quota"
        thread.stackSize = 128 * 1024
        thread.start()
    }
}
