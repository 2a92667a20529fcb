import FanbenchBase

/// Why the run store could not do what was asked.
package enum StoreErrorKind: Hashable, Sendable {
    /// The database (or its folder) cannot be created or opened.
    case cannotOpen
    /// No database at the path (reading commands never create one).
    case noDatabase
    /// No run with that id, or no run at all for `latest`.
    case unknownRun
}

package typealias StoreError = CodedError<StoreErrorKind>

extension CodedError where Kind == StoreErrorKind {
    package static func cannotOpen(_ path: String, _ detail: String) -> Self {
        Self(.cannotOpen, "cannot open the run database \(path): \(detail); check the file, or choose another with --db or FANBENCH_DB",
             context: ["path": path], exitStatus: ExitStatus.badInput)
    }

    package static func noDatabase(_ path: String) -> Self {
        Self(.noDatabase, "no run database at \(path): run `fanbench run` first, or point --db (or FANBENCH_DB) at one",
             context: ["path": path], exitStatus: ExitStatus.badInput)
    }

    package static func unknownRun(_ id: String, in path: String) -> Self {
        Self(.unknownRun, id == "latest"
                ? "no runs in \(path) yet: run `fanbench run` first, or point --db at another database"
                : "no run '\(id)' in \(path): `fanbench runs --db \(path)` lists the runs there",
             context: ["path": path, "run": id], exitStatus: ExitStatus.badInput)
    }
}
