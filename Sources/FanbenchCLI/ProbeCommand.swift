import ArgumentParser
import FanbenchCore
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
    @Option(help: "Per-key call: get-object-acl, head-object or get-object.") var op: String = "get-object-acl"
    @Option(help: "serial, threads:N (libcurl) or async:N (AsyncHTTPClient).") var strategy: String = "serial"
    @Option(help: "Passes over the bucket (the first one opens connections).") var passes: Int = 3
    @Option(help: "Use at most this many keys.") var limit: Int?
    @Flag(help: "One JSON object per pass instead of text.") var json = false

    func run() async throws {
        try await reportingErrors {
            guard let operation = ObjectOperation(rawValue: op) else {
                throw FanbenchError("unknown --op '\(op)': use \(ObjectOperation.allCases.map(\.rawValue).joined(separator: ", "))", exitCode: 2)
            }
            var options = Probe.Options(bucket: bucket)
            options.prefix = prefix
            options.operation = operation
            options.strategy = try Strategy(parsing: strategy)
            options.passes = passes
            options.keyLimit = limit
            let config = try s3.clientConfiguration(stateDirectory: global.stateDirectory)
            if !json { say("probe \(config.endpoint) bucket \(bucket): \(operation) with \(options.strategy), \(passes) passes") }
            var failed = 0
            try await Probe.run(configuration: config, options: options) { pass in
                failed += pass.calls.errorCount
                say(json ? Self.json(pass, strategy: options.strategy, operation: operation) : Self.text(pass))
            }
            if failed > 0 {
                throw FanbenchError("\(failed) calls failed; the error codes are in the lines above")
            }
        }
    }

    static func text(_ p: Probe.Pass) -> String {
        func ms(_ v: Double) -> String { String(format: "%.2f", v) }
        let errors = p.calls.errors.isEmpty ? "0" : p.calls.errors.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ",")
        return "pass \(p.index): list \(ms(p.listMs)) ms (\(p.listPages) page\(p.listPages == 1 ? "" : "s"), \(p.keys) keys) · "
            + "\(p.calls.calls) calls in \(ms(p.callsWallMs)) ms, \(String(format: "%.0f", p.callsPerSecond)) calls/s · "
            + "call p50 \(ms(p.calls.percentileMs(50))) p99 \(ms(p.calls.percentileMs(99))) max \(ms(p.calls.percentileMs(100))) ms · "
            + "CPU \(String(format: "%.1f", p.cpuPerCallUs)) µs/call · errors \(errors) · retries \(p.calls.retries)"
    }

    static func json(_ p: Probe.Pass, strategy: Strategy, operation: ObjectOperation) -> String {
        let object: [String: Any] = [
            "pass": p.index, "strategy": strategy.name, "concurrency": strategy.concurrency, "op": operation.rawValue,
            "list_ms": p.listMs, "keys": p.keys, "calls": p.calls.calls, "calls_wall_ms": p.callsWallMs,
            "calls_per_s": p.callsPerSecond, "cpu_user_us": p.cpuUserUs, "cpu_system_us": p.cpuSystemUs,
            "cpu_us_per_call": p.cpuPerCallUs, "p50_ms": p.calls.percentileMs(50), "p99_ms": p.calls.percentileMs(99),
            "max_ms": p.calls.percentileMs(100), "errors": p.calls.errors, "retries": p.calls.retries,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
