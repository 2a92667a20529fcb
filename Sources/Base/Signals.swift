#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Gives SIGINT and SIGTERM back their default dispositions (a ServiceGroup leaves them ignored).
package func restoreDefaultStopSignals() {
    signal(SIGINT, SIG_DFL)
    signal(SIGTERM, SIG_DFL)
}
