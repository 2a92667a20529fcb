import FanbenchBase
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A profile's init-phase CPU allowance: while a function's runtime starts (spawn → its first
/// `/next`), the worker's cgroup-v1 CPU quota is `multiplier` times the size's (at most the
/// cores it may use), then set back exactly — Lambda is reported to give the init phase more
/// CPU than the size's share. Only where the worker's own v1 `cpu` group is writable (the local
/// launcher's); elsewhere `nil` and init runs at the size's share. Under a live CPU scale both
/// quotas are `live`'s bases, so each is also × its factor.
package struct InitCPUBoost: Sendable {
    let quotaFile: String
    let steadyMicros: Int
    let boostedMicros: Int
    let live: LiveQuota?

    package init?(reader: CgroupReader = CgroupReader(), multiplier: Double, cores: Int, live: LiveQuota? = nil) {
        guard multiplier > 1, let own = reader.ownV1CPUQuota() else { return nil }
        quotaFile = own.file
        // The launcher's quota: what the file says may already be × a live factor.
        let steady = live.map(\.steadyMicros) ?? own.quotaMicros
        steadyMicros = steady
        boostedMicros = min(own.periodMicros * max(1, cores), Int((Double(steady) * multiplier).rounded()))
        self.live = live
    }

    /// The init phase begins: the boosted quota.
    package func begin() {
        if let live { live.set(quotaFile, base: boostedMicros) } else { VCPUPacer.write(quotaFile, String(boostedMicros)) }
    }

    /// It ended (first `/next`, an init error or a timeout): the steady quota, exactly as it was.
    package func end() {
        if let live { live.set(quotaFile, base: steadyMicros) } else { VCPUPacer.write(quotaFile, String(steadyMicros)) }
    }
}
