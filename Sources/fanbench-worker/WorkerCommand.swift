import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import FanbenchProtocol
import FanbenchWorker
import Foundation
import Logging
import ServiceLifecycle

/// `fanbench-worker`: one emulated Lambda; dials the coordinator and serves invocations.
@main
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanbench-worker",
        abstract: "A Lambda-sized worker: dials the coordinator, runs the invocations it is sent.",
        version: fanbenchVersion)
    @Option(help: "Coordinator address, HOST:PORT.") var coordinator: HostPort
    @Option(name: .customLong("size-mb"), help: "The Lambda memory size this worker stands for, MB.") var size: LambdaSize
    @Option(help: ArgumentHelp("File holding the token (env FANBENCH_TOKEN).", valueName: "file")) var tokenFile: String?
    @Option(help: "Worker id (default: host name and pid).") var workerId: String?
    @Option(help: "Seconds to keep trying to reach the coordinator.") var dialTimeout: Int = 60
    @Flag(help: "Serve one invocation, then exit (cold starts).") var once = false
    @Flag(help: "Log at info level.") var verbose = false

    func run() async throws {
        try await reportingErrors(program: "fanbench-worker") {
            var logger = Logger(label: "fanbench-worker")
            logger.logLevel = verbose ? .info : .warning
            let environment = ProcessInfo.processInfo.environment
            guard let token = try TokenAuth.readToken(file: tokenFile, environment: environment) else {
                throw FanbenchError.badInput("no worker token: set FANBENCH_TOKEN or pass --token-file (the coordinator's, e.g. .fanbench/token)")
            }
            var options = WorkerService.Options(coordinator: coordinator, sizeMB: size.memoryMB, token: token,
                                                workerID: workerId ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())",
                                                version: fanbenchVersion)
            options.dialTimeout = .seconds(dialTimeout)
            options.once = once
            let service = WorkerService(options: options, executor: S3InvocationExecutor(coldSpawnNanoseconds: once ? environment["FANBENCH_SPAWN_NS"].flatMap(UInt64.init) : nil),
                                        limits: CgroupReader().limits(), logger: logger)
            try await ServiceGroup.runUntilSignalled(service, logger: logger)
        }
    }
}
