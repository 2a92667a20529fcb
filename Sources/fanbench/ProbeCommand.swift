import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import FanbenchCoordinator
import FanbenchS3
import Foundation

/// `fanbench probe`: list a bucket and make the per-key call on every key from this process,
/// printing timings and CPU per call for each pass.
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "List a bucket and call an op on every key from this process (no workers, no caps); print timings per pass.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var s3: S3Options
    @Option(help: "Bucket to probe.") var bucket: String
    @Option(help: "Only keys under this prefix.") var prefix: String?
    @Option(help: "Per-key call: get-object-acl, head-object or get-object.") var op: ObjectOperation = .getObjectAcl
    @Option(help: "serial, threads:N (libcurl) or async:N (AsyncHTTPClient).") var strategy: Strategy = .serial
    @Option(help: "Passes over the bucket (the first one opens connections).") var passes: Int = 3
    @Option(help: "Use at most this many keys.") var limit: Int?
    @Flag(help: "One JSON object per pass instead of text.") var json = false

    func run() async throws {
        try await reportingErrors {
            let operation = op
            var options = Probe.Options(bucket: bucket)
            options.prefix = prefix
            options.operation = operation
            options.strategy = strategy
            options.passes = passes
            options.keyLimit = limit
            let config = try s3.settings.clientConfiguration(stateDirectory: global.stateDirectory)
            if !json { say("probe \(config.endpoint) bucket \(bucket): \(operation) with \(options.strategy), \(passes) passes") }
            var failed = 0
            try await Probe.run(configuration: config, options: options) { pass in
                failed += pass.calls.errorCount
                say(json ? pass.json(strategy: options.strategy, operation: operation) : pass.text)
            }
            if failed > 0 {
                throw FanbenchError("\(failed) calls failed; the error codes are in the lines above")
            }
        }
    }
}
