import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import FanbenchCoordinator
import Foundation

/// `fanbench resume RUN`: runs the invocations an interrupted run has no stored outcome for,
/// under its id, as it was asked for; the report is the whole run's.
struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue an incomplete run (its coordinator was killed, the machine rebooted): run only the invocations it has no result for, under the same run id.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The run's id (fanbench runs lists them), or latest.") var run: String
    @Option(help: "Write the whole run's report as JSON (schema fanbench.report/v1) to this file.") var json: String?
    @Option(help: "Write the whole run's report as a self-contained HTML page to this file.") var html: String?
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var pricing: PricingOptions
    @Flag(help: "Log worker joins and protocol events.") var verbose = false

    func run() async throws {
        try await reportingErrors {
            let store = try database.openExisting(stateDirectory: global.stateDirectory)
            var r = try RunRecipe.resume(run, store: store)
            r.jsonPath = json
            r.htmlPath = html
            r.analysis = try pricing.validated()
            r.verbose = verbose
            FileHandle.standardError.write(Data("fanbench: resuming run \(r.resume!.unfinished.runID): \(r.resume!.unfinished.done.count) invocation(s) already have an outcome\n".utf8))
            try await RunSession(r).run()
        }
    }
}
