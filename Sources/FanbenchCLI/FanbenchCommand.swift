import ArgumentParser
import FanbenchCore
import Foundation

/// `fanbench`: the coordinator and every user-facing command.
public struct FanbenchCommand: AsyncParsableCommand {
    public static let version = fanbenchVersion

    public static let configuration = CommandConfiguration(
        commandName: "fanbench",
        abstract: "Which Lambda memory size and concurrency strategy gets your S3 calls done fastest and cheapest.",
        version: version,
        subcommands: [RunCommand.self, RunsCommand.self, ReportCommand.self, CompareCommand.self, TargetCommand.self, SeedCommand.self, ProbeCommand.self, ProxyCommand.self]
    )

    public init() {}

    /// Parses the command line and runs the chosen command (AsyncParsableCommand.main's
    /// body, callable from an executable's top-level code).
    public static func runMain(_ arguments: [String]? = nil) async {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Folder for the local target's state and runs (env FANBENCH_STATE_DIR).", valueName: "dir"))
    var stateDirectory: String = ProcessInfo.processInfo.environment["FANBENCH_STATE_DIR"] ?? ".fanbench"
}

/// Runs a command body; any error becomes one line on stderr and a non-zero exit, no trace.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        let e = FanbenchError.from(error)
        FileHandle.standardError.write(Data("fanbench: \(e.message)\n".utf8))
        throw ExitCode(e.exitCode)
    }
}

/// Writes a line to stdout and flushes it (progress must show as it happens).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
