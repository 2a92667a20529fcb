import FanbenchS3

/// A failure to show a person: one line that says what is wrong and what to do.
public struct FanbenchError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// Process exit status to use.
    public var exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    public var description: String { message }

    /// Wraps any error into the one line a person sees.
    public static func from(_ error: any Error) -> FanbenchError {
        switch error {
        case let e as FanbenchError: return e
        case let e as S3Error: return FanbenchError(e.userMessage)
        case let e as S3ConfigurationError: return FanbenchError(e.message, exitCode: 2)
        default: return FanbenchError("\(error)")
        }
    }
}
