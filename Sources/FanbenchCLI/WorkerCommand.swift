import ArgumentParser
import FanbenchCore
import FanbenchProtocol
import Foundation
import Logging

/// `fanbench-worker`: one emulated Lambda; dials the coordinator and serves invocations.
public struct WorkerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fanbench-worker",
        abstract: "A Lambda-sized worker: dials the coordinator, runs the invocations it is sent.",
        version: fanbenchVersion)
    @Option(help: "Coordinator address, HOST:PORT.") var coordinator: String
    @Option(name: .customLong("size-mb"), help: "The Lambda memory size this worker stands for, MB.") var sizeMB: Int
    @Option(help: ArgumentHelp("File holding the token (env FANBENCH_TOKEN).", valueName: "file")) var tokenFile: String?
    @Option(help: "Worker id (default: host name and pid).") var workerId: String?
    @Option(help: "Seconds to keep trying to reach the coordinator.") var dialTimeout: Int = 60
    @Flag(help: "Serve one invocation, then exit (cold starts).") var once = false
    @Flag(help: "Log at info level.") var verbose = false

    public init() {}

    public func run() async throws {
        try await reportingErrors {
            var logger = Logger(label: "fanbench-worker")
            logger.logLevel = verbose ? .info : .warning
            let size = try LambdaSize(memoryMB: sizeMB)
            let (host, port) = try WorkerService.parseAddress(coordinator)
            let env = ProcessInfo.processInfo.environment
            var token = env["FANBENCH_TOKEN"] ?? ""
            if let tokenFile {
                guard let t = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                    throw FanbenchError("cannot read --token-file \(tokenFile)", exitCode: 2)
                }
                token = t.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard !token.isEmpty else {
                throw FanbenchError("no worker token: set FANBENCH_TOKEN or pass --token-file (the coordinator's, e.g. .fanbench/token)", exitCode: 2)
            }
            var options = WorkerService.Options(host: host, port: port, sizeMB: size.memoryMB, token: token,
                                                workerID: workerId ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())", version: fanbenchVersion)
            options.dialTimeout = .seconds(dialTimeout)
            options.once = once
            let service = WorkerService(options: options, executor: S3InvocationExecutor(coldSpawnNanoseconds: once ? env["FANBENCH_SPAWN_NS"].flatMap(UInt64.init) : nil),
                                        limits: CgroupReader().limits(), logger: logger)
            try await service.run()
        }
    }

    /// Entry point for the executable.
    public static func runMain() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand { try await asyncCommand.run() } else { try command.run() }
        } catch {
            exit(withError: error)
        }
    }
}
