import CProbe

/// A fixed piece of interpreter-like work (Sources/CProbe/probe.c: bytecode dispatch, string-keyed
/// hash lookups, data-dependent branches — what CPython spends a handler's CPU on), timed in
/// this thread's CPU time. Its score, million bytecodes per CPU second, says how fast one core
/// of this host is at handler-like code right now (its clock, its sibling hyperthread's load),
/// so a profile that states one Lambda vCPU's score can scale a worker's quota to do the same
/// work per second on any host.
package enum CPUProbe {
    package struct Measurement: Sendable, Equatable, Codable {
        /// Million bytecodes per CPU second: the upper quartile of the rounds' scores, or the
        /// trimmed mean of this host's recent measurements (`HostProbe`).
        package var score: Double
        /// Every round's score, in the order run (this measurement's own).
        package var rounds: [Double]
        /// How many measurements `score` is the median of (nil: this one alone).
        package var samples: Int?
        /// This measurement's own score when `score` is the host's median.
        package var latest: Double?

        package init(score: Double, rounds: [Double], samples: Int? = nil, latest: Double? = nil) {
            self.score = score
            self.rounds = rounds
            self.samples = samples
            self.latest = latest
        }
    }

    /// Runs `rounds` timed rounds of about `roundMs` CPU ms each after one warm-up and scores the
    /// upper quartile. A preempted round costs wall time, not CPU time, so another process on
    /// the core does not lower it; what does is a neighbour on the host: on this project's VM
    /// the core runs at ~80% of its speed for 0.1–0.5 s at a time, now and then. A short
    /// median lands in such a dip often (7-round medians over 10 s varied 4.9%, 84–118);
    /// the upper quartile of 24 rounds over ~0.6 s reads the core's own speed (20-round
    /// windows varied 1.3%, 111–118), which is what differs from host to host.
    package static func measure(rounds: Int = 24, roundMs: Double = 25) -> Measurement {
        var sink: UInt64 = 0
        // Calibrate the round's size: how many program runs make `roundMs`.
        var batch: UInt32 = 50
        while true {
            let t0 = fanbench_thread_cpu_ns()
            sink &+= fanbench_probe_run(sink, batch)
            let ns = Double(fanbench_thread_cpu_ns() - t0)
            if ns >= roundMs * 1e6 / 4 || batch >= 1 << 24 {
                batch = UInt32(min(Double(1 << 24), max(1, Double(batch) * roundMs * 1e6 / max(ns, 1))))
                break
            }
            batch *= 4
        }
        var scores: [Double] = []
        for _ in 0..<max(1, rounds) {
            let t0 = fanbench_thread_cpu_ns()
            sink &+= fanbench_probe_run(sink, batch)
            let ns = Double(fanbench_thread_cpu_ns() - t0)
            scores.append(Double(batch) * Double(fanbench_probe_ops_per_round()) / max(ns, 1) * 1000)
        }
        blackHole(sink)
        return Measurement(score: Stats.percentile(scores, 75), rounds: scores)
    }

    @inline(never)
    static func blackHole(_ value: UInt64) {
        if value == 0x5EED_5EED_5EED_5EED { print("", terminator: "") }
    }
}

/// A pointer chase over a random cycle of 64-byte nodes (Sources/CProbe/chase.c): the live CPU
/// sampler's work. Used from one thread at a time.
package final class PointerChase: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer

    /// nil when `kb` is under 1 or cannot be allocated.
    package init?(kb: UInt32) {
        guard kb >= 1, let h = fanbench_chase_new(kb) else { return nil }
        handle = h
    }

    /// Walks the set once, then chases for `cpuNanoseconds` of this thread's CPU: M steps per CPU second.
    package func sample(cpuNanoseconds: UInt64) -> Double { fanbench_chase_sample(handle, cpuNanoseconds) }

    deinit { fanbench_chase_free(handle) }
}
