import FanbenchBase

/// Why a worker stopped working for its coordinator.
package enum WorkerErrorKind: Hashable, Sendable {
    /// Not reachable within the dial timeout.
    case unreachable
    /// The connection broke after the handshake.
    case lostCoordinator
    /// The coordinator did not follow the handshake.
    case handshake
    /// The coordinator speaks another protocol version.
    case protocolMismatch
    /// The coordinator refused this worker (token, size, id).
    case refused
    /// The coordinator sent something this worker cannot take (an oversized or malformed line).
    case protocolViolation
    /// TLS on the control channel failed (an untrusted certificate, a plaintext coordinator).
    case tls
}

package typealias WorkerError = CodedError<WorkerErrorKind>

extension CodedError where Kind == WorkerErrorKind {
    package static func unreachable(_ coordinator: String, _ detail: String) -> Self {
        Self(.unreachable, "cannot reach the coordinator at \(coordinator) (\(detail)); is `fanbench run --workers external` listening there?",
             context: ["coordinator": coordinator])
    }

    package static func lostCoordinator(_ coordinator: String, _ detail: String) -> Self {
        Self(.lostCoordinator, "lost the coordinator at \(coordinator) (\(detail)): it stopped, or the network between us failed; start the worker again once the coordinator is back",
             context: ["coordinator": coordinator])
    }

    package static func handshake(_ coordinator: String, _ detail: String) -> Self {
        Self(.handshake, "the coordinator at \(coordinator) \(detail); is that address a fanbench coordinator?", context: ["coordinator": coordinator])
    }

    package static func protocolMismatch(_ coordinator: String, theirs: Int, ours: Int) -> Self {
        Self(.protocolMismatch, "the coordinator at \(coordinator) speaks protocol \(theirs), this worker \(ours): run the same fanbench version on both",
             context: ["coordinator": coordinator, "theirs": String(theirs), "ours": String(ours)])
    }

    package static func refused(_ coordinator: String, _ reason: String) -> Self {
        Self(.refused, "the coordinator refused this worker: \(reason)", context: ["coordinator": coordinator, "reason": reason])
    }

    package static func protocolViolation(_ coordinator: String, _ reason: String) -> Self {
        Self(.protocolViolation, "the coordinator at \(coordinator) sent what this worker cannot take (\(reason)): run the same fanbench version on both",
             context: ["coordinator": coordinator, "reason": reason])
    }

    package static func tls(_ coordinator: String, _ detail: String) -> Self {
        Self(.tls, "cannot join the coordinator at \(coordinator) over TLS: \(detail)", context: ["coordinator": coordinator])
    }
}
