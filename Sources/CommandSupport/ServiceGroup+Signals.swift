import FanbenchBase
import Logging
import ServiceLifecycle

extension ServiceGroup {
    /// Runs `services` until they finish, shutting them down gracefully on SIGINT or SIGTERM;
    /// the signals' default dispositions are restored afterwards.
    package static func runUntilSignalled(_ services: any Service..., logger: Logger) async throws {
        defer { restoreDefaultStopSignals() }
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
