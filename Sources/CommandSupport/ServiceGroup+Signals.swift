import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

extension ServiceGroup {
    /// Runs `services` until they finish, shutting them down gracefully on SIGINT or SIGTERM;
    /// the signals' default dispositions are restored afterwards.
    package static func runUntilSignalled(_ services: any Service..., logger: Logger) async throws {
        defer {
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
        }
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
