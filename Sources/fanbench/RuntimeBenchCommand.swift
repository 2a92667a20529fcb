import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import FanbenchProtocol
import FanbenchWorker
import Foundation

/// `fanbench runtime-bench`: what the Runtime API itself costs per invocation (scripts/bench-runtime-api).
struct RuntimeBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime-bench",
        abstract: "Measure the Runtime API's own cost per warm invocation with a handler that answers at once: event out → response in (p50, p99) and this process's CPU per invocation.")
    @Option(help: "The runtime's command, e.g. ./bootstrap (split on spaces).") var command: String
    @Option(help: "The code folder (LAMBDA_TASK_ROOT, the working directory).") var code: String = FileManager.default.currentDirectoryPath
    @Option(name: .customLong("env"), help: ArgumentHelp("A variable for the handler, K=V; repeatable.", valueName: "K=V")) var env: [String] = []
    @Option(help: "Measured invocations (after 20 to warm up).") var invocations: Int = 2000
    @Option(name: .customLong("size-mb"), help: "AWS_LAMBDA_FUNCTION_MEMORY_SIZE for the handler (caps are the caller's cgroup).") var size: LambdaSize = try! LambdaSize(memoryMB: 1024)
    @Flag(help: "Print one JSON line.") var json = false

    func run() async throws {
        try await reportingErrors {
            guard invocations >= 1 else { throw FanbenchError.badInput("--invocations must be 1 or more") }
            var variables: [String: String] = [:]
            for e in env {
                let kv = e.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, !kv[0].isEmpty else { throw FanbenchError.badInput("--env '\(e)' must be K=V") }
                variables[kv[0]] = kv[1]
            }
            let folder = URL(fileURLWithPath: code).standardizedFileURL.path
            let definition = FunctionDefinition(name: "bench", command: command.split(separator: " ").map(String.init), code: folder,
                                                env: variables, timeoutS: 30, initTimeoutS: 10)
            let logs = FileManager.default.temporaryDirectory.appendingPathComponent("fanbench-runtime-bench-\(getpid())").path
            let f = await RuntimeAPIBenchmark.run(definition, invocations: invocations, sizeMB: size.memoryMB, logDirectory: logs)
            if f.errors == 0 { try? FileManager.default.removeItem(atPath: logs) }
            if json {
                print(String(decoding: try JSONCoding.encoder().encode(f), as: UTF8.self))
            } else {
                print(String(format: "%d invocations, %d errors: event out → response in p50 %.3f ms, p99 %.3f ms, mean %.3f ms, max %.3f ms; worker CPU %.1f µs per invocation; init %.1f ms",
                             f.invocations, f.errors, f.p50Ms, f.p99Ms, f.meanMs, f.maxMs, f.workerCpuUsPerInvocation, f.initMs ?? 0))
            }
            if f.errors > 0 {
                throw FanbenchError("\(f.errors) invocation(s) failed, first: \(f.firstError ?? "unknown"); the handler's output is in \(logs)/bench.log: fix the handler (it must answer each event at once)", exitCode: 1)
            }
        }
    }
}
