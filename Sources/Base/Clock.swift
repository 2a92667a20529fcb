#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always)
package func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// This thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
package func threadCPUNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// User and system CPU time of this process, in microseconds.
package func processCPUMicroseconds() -> (user: Int, system: Int) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return (Int(usage.ru_utime.tv_sec) * 1_000_000 + Int(usage.ru_utime.tv_usec),
            Int(usage.ru_stime.tv_sec) * 1_000_000 + Int(usage.ru_stime.tv_usec))
}

/// Peak resident memory of this process, bytes (getrusage).
package func maxResidentBytes() -> Int64 {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int64(usage.ru_maxrss) * 1024
}

extension Duration {
    /// Whole nanoseconds, saturating (sub-second parts kept).
    package var nanoseconds: Int64 {
        let (s, atto) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (s < 0 ? .min : .max) : ns.addingReportingOverflow(atto / 1_000_000_000).partialValue
    }
}
