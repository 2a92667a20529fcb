/// An error that knows the one line a person should see, and the exit status it stands for.
package protocol UserFacingError: Error {
    var userMessage: String { get }
    /// 2 for bad input, 1 for anything else.
    var exitStatus: Int32 { get }
}

/// A failure to show a person: one line that says what is wrong and what to do.
package struct FanbenchError: Error, Sendable, CustomStringConvertible {
    package var message: String
    /// Process exit status to use.
    package var exitCode: Int32

    package init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    /// Bad input: exit status 2.
    package static func badInput(_ message: String) -> FanbenchError { FanbenchError(message, exitCode: 2) }

    package var description: String { message }

    /// Wraps any error into the one line a person sees.
    package static func from(_ error: any Error) -> FanbenchError {
        switch error {
        case let e as FanbenchError: return e
        case let e as any UserFacingError: return FanbenchError(e.userMessage, exitCode: e.exitStatus)
        default: return FanbenchError("\(error)")
        }
    }
}

/// Process exit statuses fanbench documents (README "Exit status").
package enum ExitStatus {
    package static let failure: Int32 = 1
    package static let badInput: Int32 = 2
    /// `target status`: the local target is down.
    package static let targetDown: Int32 = 3
    /// A run finished, but some invocations were abandoned (lost).
    package static let invocationsLost: Int32 = 4
    package static let interrupted: Int32 = 130
}
