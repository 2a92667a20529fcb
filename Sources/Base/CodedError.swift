/// An error callers and tests branch on: its `kind` (an enum per domain, so new cases can be
/// added), the context it was built from (addresses, paths, counts), and the one line a person
/// sees, which says what to do next. `FanbenchError.from` shows it like any other.
package struct CodedError<Kind: Hashable & Sendable>: UserFacingError, Sendable, CustomStringConvertible {
    package let kind: Kind
    package let context: [String: String]
    package let userMessage: String
    package let exitStatus: Int32

    package init(_ kind: Kind, _ userMessage: String, context: [String: String] = [:], exitStatus: Int32 = ExitStatus.failure) {
        self.kind = kind
        self.userMessage = userMessage
        self.context = context
        self.exitStatus = exitStatus
    }

    package var description: String { userMessage }
}
