import ArgumentParser
import FanbenchCore
import FanbenchS3
import FanbenchStore
import Foundation
import Logging

/// `fanbench run`: the fan-out benchmark.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Fan a bucket's keys out to Lambda-capped workers for each memory size × strategy; print the pivot and details.")
    @Argument(help: "A plan file (YAML, e.g. plans/seed.yaml); flags override what it says.") var plan: String?
    @OptionGroup var global: GlobalOptions
    @OptionGroup var s3: S3Options
    @Option(help: "Bucket whose keys to call (default with the local target: fanbench-seed, filled with the blog's 100 objects).") var bucket: String?
    @Option(help: "Only keys under this prefix.") var prefix: String?
    @Option(help: "Per-key call: get-object-acl (default), head-object or get-object.") var op: String?
    @Option(help: "Lambda memory sizes, MB (default 128,512,1024,1536,2048,3008).") var sizes: String?
    @Option(help: "Strategies: serial, threads:N (libcurl threads), async:N (SwiftNIO, N in flight); default serial,threads:16,async:16.") var strategies: String?
    @Option(help: "Invocations per configuration, each covering every shard once (default 5).") var invocations: Int?
    @Option(help: "Keys per invocation (default: the whole listing, as in the seed).") var shardSize: Int?
    @Option(help: "Who lists: coordinator (once; default) or invocation (each invocation lists, as the seed's handler).") var listing: String?
    @Flag(help: "Cold starts: a fresh worker per invocation, its init duration recorded (local workers).") var cold = false
    @Option(help: "local (spawn capped workers here) or external (workers dial in).") var workers: String = "local"
    @Option(help: "Listen address for workers (external default 0.0.0.0:7100; local uses a free loopback port).") var listen: String?
    @Option(help: "External workers to wait for.") var expect: Int?
    @Option(help: "Seconds to wait for external workers.") var waitTimeout: Int = 300
    @Option(help: ArgumentHelp("The endpoint is an emulated network you set up yourself (e.g. fanbench proxy in compose): lambda-same-region, or an RTT in ms; stated in every report and used for the network-limit ideal.", valueName: "profile|rtt-ms")) var emulation: String?
    @Option(help: "Seconds a busy worker may stay silent before it is dropped and its invocation re-queued.") var workerSilence: Int = 15
    @Option(help: "Local workers per size, within the CPU budget.") var workersPerSize: Int = 1
    @Option(help: "Sum of local workers' CPU caps, in cores (default: host cores − 0.5 for the target and coordinator).") var cpuBudget: Double?
    @Flag(help: "Run local workers without caps when cgroups cannot be written (results marked enforced: false).") var allowUncapped = false
    @Option(help: ArgumentHelp("File holding the worker token (env FANBENCH_TOKEN; default: generated under the state folder).", valueName: "file")) var tokenFile: String?
    @Option(help: "The fanbench-worker binary (default: next to fanbench).") var workerBinary: String?
    @Option(help: "Write the report as JSON (schema fanbench.report/v1) to this file.") var json: String?
    @Option(help: "Write the report as a self-contained HTML page with charts to this file.") var html: String?
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var pricing: PricingOptions
    @Flag(help: "Log worker joins and protocol events.") var verbose = false

    func run() async throws {
        try await reportingErrors {
            var logger = Logger(label: "fanbench")
            logger.logLevel = verbose ? .info : .warning
            let file = try plan.map { path throws(FanbenchError) in try PlanFile.load(path: path) }
            let op = self.op ?? file?.op ?? "get-object-acl"
            let listing = self.listing ?? file?.listing ?? "coordinator"
            let sizes = self.sizes ?? file?.sizes?.map(String.init).joined(separator: ",") ?? "128,512,1024,1536,2048,3008"
            let strategies = self.strategies ?? file?.strategies?.joined(separator: ",") ?? "serial,threads:16,async:16"
            let invocations = self.invocations ?? file?.invocations ?? 5
            let shardSize = self.shardSize ?? file?.shardSize
            let prefix = self.prefix ?? file?.prefix
            let cold = self.cold || (file?.cold ?? false)
            var s3 = self.s3
            if s3.endpoint == nil, !s3.namesEndpoint(), let endpoint = file?.endpoint { s3.endpoint = endpoint }
            if s3.region == nil { s3.region = file?.region }
            guard let operation = ObjectOperation(rawValue: op) else {
                throw FanbenchError("unknown --op '\(op)': use \(ObjectOperation.allCases.map(\.rawValue).joined(separator: ", "))", exitCode: 2)
            }
            guard let listingMode = ListingMode(rawValue: listing) else {
                throw FanbenchError("unknown --listing '\(listing)': use coordinator or invocation", exitCode: 2)
            }
            var emulation: RunReport.Emulation?
            var bucket = self.bucket ?? (s3.namesEndpoint() ? file?.bucket : nil)
            if !s3.namesEndpoint() {
                // No endpoint named: the local target, started (and the seed's bucket filled) when needed.
                let target = LocalTarget(stateDirectory: global.stateDirectory)
                let state: LocalTarget.State
                if let running = target.runningState() {
                    state = running
                } else {
                    FileHandle.standardError.write(Data("fanbench: no endpoint given; starting the local target (SeaweedFS behind the lambda-same-region emulation)\n".utf8))
                    var o = LocalTarget.Options()
                    if let p = file?.profile.flatMap(LocalTarget.TargetProfile.init(rawValue:)) { o.profile = p }
                    state = try await target.up(o).state
                }
                if let e = state.emulation { emulation = RunReport.Emulation(profile: e.profile, rttMs: e.rttMs, jitter: e.jitter, tls: e.tls) }
                if bucket == nil {
                    // The plan's (or the seed's) bucket, filled on the local target.
                    let name = file?.bucket ?? "fanbench-seed"
                    let objects = file?.objects ?? 100
                    bucket = name
                    let config = try target.clientConfiguration(state, direct: true)
                    _ = try await S3Client.withClient(configuration: config, transport: .async, maxConnections: 16) {
                        try await Seeder.seed(client: $0, bucket: name, objects: objects, size: 1024, prefix: prefix ?? "", inFlight: 16)
                    }
                }
            }
            if let declared = self.emulation {
                emulation = try RunReport.Emulation.declared(declared, endpoint: s3.endpoint ?? "")
            }
            guard let bucket else {
                throw FanbenchError("--bucket is required with an endpoint: name the bucket whose keys to call", exitCode: 2)
            }
            let config = try s3.clientConfiguration(stateDirectory: global.stateDirectory)
            let (prices, balanceWeight) = try pricing.validated()
            let store = try RunStore(path: database.path(stateDirectory: global.stateDirectory))
            let runID = Self.makeRunID()
            let logDirectory = global.stateDirectory + "/runs/" + runID
            try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
            let token = try TokenStore.load(file: tokenFile, stateDirectory: global.stateDirectory)

            let workerMode: FanoutRun.Workers
            var host = "127.0.0.1", port = 0
            switch workers {
            case "local":
                var manager: CgroupManager?
                if let version = CgroupManager.detect(), access("/sys/fs/cgroup", W_OK) == 0 || version == .v1 {
                    manager = CgroupManager(version: version)
                    if !allowUncapped { try Self.checkWritable(manager!) }
                    else if (try? Self.checkWritable(manager!)) == nil { manager = nil }
                } else if !allowUncapped {
                    throw FanbenchError("no writable cgroup v1 or v2 hierarchy at /sys/fs/cgroup, so workers cannot be capped: run as root on a Linux host, or pass --allow-uncapped (results marked enforced: false)", exitCode: 2)
                }
                let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
                workerMode = .local(cgroups: manager, cpuBudget: cpuBudget ?? max(0.5, cores - 0.5), perSize: max(1, workersPerSize),
                                    workerBinary: try workerBinary ?? Self.siblingWorkerBinary())
                if let listen { (host, port) = try WorkerService.parseAddress(listen, listening: true) }
            case "external":
                guard let expect, expect >= 1 else {
                    throw FanbenchError("--workers external needs --expect N (how many workers will dial in)", exitCode: 2)
                }
                workerMode = .external(expect: expect, waitTimeout: .seconds(waitTimeout))
                (host, port) = try WorkerService.parseAddress(listen ?? "0.0.0.0:7100", listening: true)
            default:
                throw FanbenchError("unknown --workers '\(workers)': use local or external", exitCode: 2)
            }

            var options = FanoutRun.Options(runID: runID, bucket: bucket, workers: workerMode, token: token, logDirectory: logDirectory)
            options.prefix = prefix
            options.operation = operation
            options.sizes = try LambdaSize.parseList(sizes)
            options.strategies = try strategies.split(separator: ",").map { s throws(FanbenchError) in try Strategy(parsing: String(s)) }
            options.invocations = invocations
            options.shardSize = shardSize
            options.listing = listingMode
            options.listenHost = host
            options.listenPort = port
            options.cold = cold
            options.emulation = emulation
            guard workerSilence >= 3 else {
                throw FanbenchError("--worker-silence \(workerSilence) is too short: workers send a heartbeat every second; use 3 or more", exitCode: 2)
            }
            options.heartbeatSilence = .seconds(workerSilence)
            if cold, case .external = workerMode {
                throw FanbenchError("--cold needs --workers local: external workers are started by their platform", exitCode: 2)
            }

            let progress = ProgressLine()
            let recorder = RunRecorder(store: store, runID: runID)
            var hooks = FanoutRun.Hooks()
            hooks.listening = { address in
                if case .external = workerMode { FileHandle.standardError.write(Data("fanbench: waiting for workers at \(address)\n".utf8)) }
            }
            hooks.progress = { progress.update($0) }
            hooks.started = { header, plan in recorder.begin(header, plan: plan) }
            hooks.result = { spec, result, limits, worker in recorder.record(spec, result, limits, worker) }
            hooks.counters = { index, failed, reassigned in recorder.counters(index, failed, reassigned) }
            let (runOptions, runLogger, runHooks) = (options, logger, hooks)
            let outcome: RunReport?
            do {
                outcome = try await withInterruptCleanup({
                    try await FanoutRun.execute(s3: config, options: runOptions, logger: runLogger, hooks: runHooks)
                })
            } catch {
                progress.finish()
                recorder.finish(status: "failed", error: FanbenchError.from(error).message)
                throw error
            }
            guard var report = outcome else {
                progress.finish()
                recorder.finish(status: "incomplete")
                let kept = recorder.began ? "; what had finished is kept as incomplete run \(runID) (fanbench report \(runID) --db \(store.path))" : ""
                throw FanbenchError("interrupted: workers stopped and their cgroups removed\(kept)", exitCode: 130)
            }
            progress.finish()
            recorder.finish(status: "complete", plan: report.plan)
            report.derive(pricing: prices, balanceWeight: balanceWeight)
            // The tables first: a file that cannot be written must not cost the printed results
            // (the run is in the database either way).
            say("")
            say(ReportTables.text(report))
            say("stored as run \(report.runId) in \(store.path)" + (recorder.failures > 0 ? " (\(recorder.failures) write(s) to it failed: see the warnings above)" : ""))
            if let json {
                try writeOutput(String(decoding: try report.jsonData(), as: UTF8.self), to: json)
                say("report: \(json)")
            }
            if let html {
                try writeOutput(HTMLReport.render(report), to: html)
                say("html report: \(html)")
            }
        }
    }

    static func makeRunID() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date()) + "-" + String(UInt32.random(in: 0..<UInt32.max) % 0xFFFF, radix: 16)
    }

    static func siblingWorkerBinary() throws -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let path = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("fanbench-worker").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw FanbenchError("fanbench-worker is not next to fanbench (\(path)): build it (swift build) or pass --worker-binary", exitCode: 2)
        }
        return path
    }

    /// Fails early, with what to do, when the cgroup tree cannot take a group.
    static func checkWritable(_ manager: CgroupManager) throws {
        let probe = try manager.create(name: "probe-\(getpid())", size: try LambdaSize(memoryMB: 128), hostCores: 1)
        manager.remove(probe)
    }
}

/// The worker token: FANBENCH_TOKEN, else --token-file, else one generated and kept 0600 under the state folder.
enum TokenStore {
    static func load(file: String?, stateDirectory: String) throws -> String {
        if let env = ProcessInfo.processInfo.environment["FANBENCH_TOKEN"], !env.isEmpty { return env }
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8), !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw FanbenchError("cannot read a token from --token-file \(file): check the path, or set FANBENCH_TOKEN", exitCode: 2)
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let path = stateDirectory + "/token"
        if let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty { return text.trimmingCharacters(in: .whitespacesAndNewlines) }
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw FanbenchError("cannot create the token file \(path): \(String(cString: strerror(errno)))") }
        _ = token.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        return token
    }
}
