import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import Foundation

/// `fanbench`: the coordinator and every user-facing command.
@main
struct FanbenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanbench",
        abstract: "Which Lambda memory size and concurrency strategy gets your S3 calls done fastest and cheapest.",
        version: fanbenchVersion,
        subcommands: [RunCommand.self, RunsCommand.self, ReportCommand.self, CompareCommand.self, TargetCommand.self,
                      SeedCommand.self, ProbeCommand.self, ProxyCommand.self, RuntimeBenchCommand.self, LambdaCommand.self, TuneCommand.self, CalibrateCommand.self, ResumeCommand.self]
    )
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Folder for the local target's state and runs (env FANBENCH_STATE_DIR).", valueName: "dir"))
    var stateDirectory: String = ProcessInfo.processInfo.environment["FANBENCH_STATE_DIR"] ?? ".fanbench"
}
