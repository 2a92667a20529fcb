import ArgumentParser
import FanbenchBase
import Foundation

/// Runs a command body; any error becomes one line on stderr (`program: message`) and its
/// exit status, never a stack trace.
package func reportingErrors(program: String = "fanbench", _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        let e = FanbenchError.from(error)
        FileHandle.standardError.write(Data("\(program): \(e.message)\n".utf8))
        throw ExitCode(e.exitCode)
    }
}

/// Writes a line to stdout and flushes it (progress must show as it happens).
package func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
