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
    @Option(help: "Coordinator address, HOST:PORT. Without it, and with AWS_LAMBDA_RUNTIME_API set, the worker is a Lambda custom runtime (bootstrap).")
    var coordinator: HostPort?
    @Option(name: .customLong("size-mb"), help: "The Lambda memory size this worker stands for, MB.") var size: LambdaSize?
    @Option(help: ArgumentHelp("Folder for the functions' logs (env FANBENCH_LOG_DIR; default: a temporary folder).", valueName: "dir"))
    var logDir: String?
    @Option(help: ArgumentHelp("File holding the token (env FANBENCH_TOKEN).", valueName: "file")) var tokenFile: String?
    @Option(help: ArgumentHelp("TLS on the control channel: the CA that signed the coordinator's certificate, PEM (env FANBENCH_TLS_CA).", valueName: "file"))
    var tlsCa: String?
    @Option(help: ArgumentHelp("With --tls-ca: the name the coordinator's certificate must hold (default: the --coordinator host).", valueName: "name"))
    var tlsServerName: String?
    @Option(help: "Worker id (default: host name and pid).") var workerId: String?
    @Option(help: "Seconds to keep trying to reach the coordinator.") var dialTimeout: Int = 60
    @Flag(help: "Serve one invocation, then exit (cold starts).") var once = false
    @Flag(help: "Log at info level.") var verbose = false

    func run() async throws {
        try await reportingErrors(program: "fanbench-worker") {
            var logger = Logger(label: "fanbench-worker")
            logger.logLevel = verbose ? .info : .warning
            let environment = ProcessInfo.processInfo.environment
            guard let coordinator else {
                // A custom runtime: events from the Runtime API, one S3 executor.
                let executor = S3InvocationExecutor()
                guard let bootstrap = try LambdaBootstrap.fromEnvironment(environment, executor: executor, logger: logger) else {
                    throw FanbenchError.badInput("no --coordinator: pass --coordinator HOST:PORT, or run under a Lambda Runtime API (AWS_LAMBDA_RUNTIME_API)")
                }
                try await bootstrap.run()
                await executor.shutdown()
                return
            }
            guard let size else {
                throw FanbenchError.badInput("--size-mb is required with --coordinator: the Lambda memory size this worker stands for")
            }
            guard let token = try TokenAuth.readToken(file: tokenFile, environment: environment) else {
                throw FanbenchError.badInput("no worker token: set FANBENCH_TOKEN or pass --token-file (the coordinator's, e.g. .fanbench/token)")
            }
            var options = WorkerService.Options(coordinator: coordinator, sizeMB: size.memoryMB, token: token,
                                                workerID: workerId ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())",
                                                version: fanbenchVersion)
            options.dialTimeout = .seconds(dialTimeout)
            if let ca = tlsCa ?? environment["FANBENCH_TLS_CA"].flatMap({ $0.isEmpty ? nil : $0 }) {
                options.tls = try ControlTLS.client(ca: ca, host: tlsServerName ?? coordinator.host)
                options.tlsCA = ca
            } else if tlsServerName != nil {
                throw FanbenchError.badInput("--tls-server-name goes with --tls-ca: give the CA that signed the coordinator's certificate")
            }
            options.once = once
            options.endpointOverride = environment["FANBENCH_S3_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
            let s3 = S3InvocationExecutor(coldSpawnNanoseconds: once ? environment["FANBENCH_SPAWN_NS"].flatMap(UInt64.init) : nil)
            let logDirectory = logDir ?? environment["FANBENCH_LOG_DIR"].flatMap { $0.isEmpty ? nil : $0 }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("fanbench-functions-\(options.workerID)").path
            var functionOptions = FunctionExecutor.Options(sizeMB: size.memoryMB, logDirectory: logDirectory, environment: environment)
            // The launcher's emulated vCPU (a profile's CPU scale), for pacing handler threads.
            functionOptions.vcpuQuotaMicros = environment["FANBENCH_VCPU_QUOTA_US"].flatMap(Int.init)
            functionOptions.initCPUMultiplier = environment["FANBENCH_INIT_CPU_MULTIPLIER"].flatMap(Double.init) ?? 1
            functionOptions.blockCostMicros = environment["FANBENCH_BLOCK_COST_US"].flatMap(Double.init).map { max(0, min($0, 10_000)) } ?? 0
            functionOptions.blocksPerCPUMs = environment["FANBENCH_BLOCKS_PER_CPU_MS"].flatMap(Double.init).map { max(0, min($0, 1_000)) } ?? 0
            // The limits as the launcher set them, read before a live CPU factor moves the quota.
            let limits = CgroupReader().limits()
            if let file = environment["FANBENCH_CPU_FACTOR_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
                functionOptions.liveQuota = LiveQuota(factorFile: file, cores: limits.cores ?? ProcessInfo.processInfo.activeProcessorCount)
                if functionOptions.liveQuota == nil { logger.warning("FANBENCH_CPU_FACTOR_FILE is set but this worker has no writable cgroup-v1 cpu group of its own: its quota stays fixed") }
                functionOptions.liveQuota?.startPolling()
            }
            let functions = FunctionExecutor(options: functionOptions)
            let service = WorkerService(options: options, executor: RoutingExecutor(s3: s3, functions: functions),
                                        limits: limits, logger: logger)
            try await ServiceGroup.runUntilSignalled(service, logger: logger)
        }
    }
}
