import FanbenchProtocol
import FanbenchS3
import Foundation
import Logging
import NIOPosix

/// `fanbench run`: list the bucket, plan size × strategy × invocations, dispatch shards to
/// Lambda-capped workers (spawned locally or dialling in), merge their results, report.
public enum FanoutRun {
    public enum Workers: Sendable {
        /// Spawn workers here, each in a capped cgroup (nil manager: uncapped, --allow-uncapped).
        case local(cgroups: CgroupManager?, cpuBudget: Double, perSize: Int, workerBinary: String)
        /// Wait for `expect` workers to dial in (compose, Kubernetes).
        case external(expect: Int, waitTimeout: Duration)
    }

    public struct Options: Sendable {
        public var runID: String
        public var bucket: String
        public var prefix: String?
        public var operation: ObjectOperation = .getObjectAcl
        public var sizes: [LambdaSize] = LambdaSize.seedSizes
        public var strategies: [Strategy] = FanoutRun.defaultStrategies
        public var invocations = 5
        public var shardSize: Int?
        public var listing: ListingMode = .coordinator
        public var workers: Workers
        public var listenHost = "127.0.0.1"
        public var listenPort = 0
        public var token: String
        public var logDirectory: String
        public var heartbeatSilence: Duration = .seconds(15)
        public var maxAttempts = 3
        public var maxLineBytes = defaultMaxLineBytes
        /// A fresh worker per invocation, with its init duration recorded (local workers only).
        public var cold = false
        /// The network the endpoint emulates, when it is the local target's proxy.
        public var emulation: RunReport.Emulation?

        public init(runID: String, bucket: String, workers: Workers, token: String, logDirectory: String) {
            self.runID = runID
            self.bucket = bucket
            self.workers = workers
            self.token = token
            self.logDirectory = logDirectory
        }
    }

    /// The seed's three strategies; 16 threads or calls in flight (the blog's executor and
    /// aioboto3 ran at most ~16–100 concurrent calls for 100 keys on 1–2 vCPUs).
    public static let defaultStrategies: [Strategy] = [.serial, .threads(16), .async(16)]

    /// What the run is called while it happens and after.
    public struct Hooks: Sendable {
        public var listening: @Sendable (String) -> Void = { _ in }
        public var progress: @Sendable (RunCoordinator.Snapshot) -> Void = { _ in }
        public var launcher: @Sendable (LocalLauncher) -> Void = { _ in }
        /// The run is planned: its header (no configurations yet) and its plan.
        public var started: @Sendable (RunReport, RunPlan) -> Void = { _, _ in }
        /// Each counted result, as it arrives, with the limits and id of the worker that ran it.
        public var result: @Sendable (InvocationSpec, InvocationResult, WorkerLimits, String) -> Void = { _, _, _, _ in }
        /// A configuration's failed (abandoned) or re-assigned count changed.
        public var counters: @Sendable (_ config: Int, _ failed: Int, _ reassigned: Int) -> Void = { _, _, _ in }
        public init() {}
    }

    public static func execute(s3: S3ClientConfiguration, options: Options, logger: Logger, hooks: Hooks = Hooks()) async throws -> RunReport {
        let startedAt = Date()
        var keys: [String]?
        if options.listing == .coordinator {
            let listing = try await S3Client.withClient(configuration: s3, transport: .curl, maxConnections: 1) {
                try await $0.listAll(bucket: options.bucket, prefix: options.prefix)
            }
            keys = listing.objects.map(\.key)
            if keys!.isEmpty {
                throw FanbenchError("bucket '\(options.bucket)' has no keys\(options.prefix.map { " under '\($0)'" } ?? ""): fill it with `fanbench seed --bucket \(options.bucket) --objects 100`")
            }
        }
        let plan = try RunPlan.make(sizes: options.sizes, strategies: options.strategies, invocations: options.invocations,
                                    keys: keys, shardSize: options.shardSize)
        let target = TargetSpec(endpoint: s3.endpoint.description, bucket: options.bucket, region: s3.region,
                                pathStyle: s3.addressing == .path, caBundle: s3.caBundlePath)
        let op = options.operation
        let prefix = options.prefix
        let timeouts = Timeouts(connectMs: s3.connectTimeout.roundedUpMilliseconds, requestMs: s3.requestTimeout.roundedUpMilliseconds)
        let retry = RetrySpec(maxAttempts: s3.retry.maxAttempts)
        let coordinator = RunCoordinator(plan: plan, maxAttempts: options.maxAttempts, logger: logger, assign: { spec in
            Assign(invocationId: spec.id, op: op.rawValue, strategy: spec.config.strategy.name,
                   concurrency: spec.config.strategy.concurrency, keys: spec.keys,
                   list: spec.keys == nil ? ListSpec(prefix: prefix) : nil, target: target, timeouts: timeouts, retry: retry)
        }, onResult: hooks.result, onCounters: hooks.counters)

        let workersText: String
        switch options.workers {
        case .local(let cgroups, _, _, _): workersText = "local (\(cgroups?.version.rawValue ?? "uncapped"))"
        case .external(let expect, _): workersText = "external (\(expect))"
        }
        let header = RunReport(
            runId: options.runID, fanbenchVersion: fanbenchVersion, status: "running", startedAt: startedAt, finishedAt: nil,
            host: .init(cores: ProcessInfo.processInfo.activeProcessorCount, cgroup: CgroupManager.detect()?.rawValue ?? "none"),
            target: .init(endpoint: target.endpoint, bucket: options.bucket, prefix: options.prefix, op: op.rawValue, emulation: options.emulation),
            plan: .init(sizes: options.sizes.map(\.memoryMB), strategies: options.strategies.map(\.description),
                        invocations: options.invocations, shardSize: options.shardSize, listing: options.listing.rawValue,
                        keys: keys?.count, workers: workersText, cold: options.cold, oversubscribedSizes: []),
            configs: [])
        hooks.started(header, plan)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            return try await serveRun(plan: plan, header: header, coordinator: coordinator, group: group,
                                      s3: s3, options: options, logger: logger, hooks: hooks)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private static func serveRun(plan: RunPlan, header: RunReport, coordinator: RunCoordinator,
                                 group: MultiThreadedEventLoopGroup, s3: S3ClientConfiguration, options: Options,
                                 logger: Logger, hooks: Hooks) async throws -> RunReport {
        let server = CoordinatorServer(token: options.token, maxLineBytes: options.maxLineBytes, logger: logger)
        let listener = try await server.bind(host: options.listenHost, port: options.listenPort, group: group)
        let port = listener.channel.localAddress?.port ?? options.listenPort
        let address = "\(options.listenHost):\(port)"
        hooks.listening(address)

        var oversubscribed: [Int] = []
        if case .external = options.workers { await coordinator.holdDispatch() }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await server.serve(listener, coordinator: coordinator) }
            tasks.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(1))
                    await coordinator.checkSilence(silence: options.heartbeatSilence)
                    hooks.progress(await coordinator.snapshot())
                }
            }
            switch options.workers {
            case .local(let cgroups, let budget, let perSize, let binary):
                let launcher = LocalLauncher(options: .init(
                    workerBinary: binary, coordinatorAddress: address, token: options.token,
                    environment: workerEnvironment(s3), logDirectory: options.logDirectory, runID: options.runID,
                    cpuBudget: budget, hostCores: ProcessInfo.processInfo.activeProcessorCount, workersPerSize: perSize,
                    cgroups: cgroups, cold: options.cold), logger: logger)
                hooks.launcher(launcher)
                try await launcher.run(sizes: plan.configs.map(\.size).uniqueSorted(), coordinator: coordinator)
                oversubscribed = launcher.oversubscribed.withLockedValue { $0 }
            case .external(let expect, let waitTimeout):
                // Polls (not stored continuations) so that a timeout or Ctrl-C ends the wait.
                // Nothing is dispatched until every expected worker is in.
                let deadline = ContinuousClock.now + waitTimeout
                while await coordinator.workerCount < expect {
                    guard ContinuousClock.now < deadline else {
                        let n = await coordinator.workerCount
                        throw FanbenchError("only \(n) of \(expect) workers dialled in to \(address) within \(waitTimeout): start more with `fanbench-worker --coordinator HOST:\(port) --size-mb N`, or lower --expect")
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                await coordinator.releaseDispatch()
            }
            while await !coordinator.isDone { try await Task.sleep(for: .milliseconds(20)) }
            await coordinator.shutdownWorkers()
            tasks.cancelAll()
        }
        if !oversubscribed.isEmpty {
            logger.warning("sizes ran above the CPU budget", metadata: ["sizes_mb": "\(oversubscribed)"])
        }
        hooks.progress(await coordinator.snapshot())
        try? await group.shutdownGracefully()
        var report = header
        report.status = "complete"
        report.finishedAt = Date()
        report.plan.oversubscribedSizes = oversubscribed
        report.configs = await coordinator.aggregates.map(RunReport.config(from:))
        return report
    }

    /// What a local worker needs to reach S3 as the coordinator does: credentials in its environment.
    static func workerEnvironment(_ s3: S3ClientConfiguration) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["AWS_ACCESS_KEY_ID"] = s3.credentials.accessKeyID
        env["AWS_SECRET_ACCESS_KEY"] = s3.credentials.secretAccessKey
        env["AWS_SESSION_TOKEN"] = s3.credentials.sessionToken
        env["AWS_REGION"] = s3.region
        return env
    }
}

public let fanbenchVersion = "0.1.0"

extension Array where Element == LambdaSize {
    func uniqueSorted() -> [LambdaSize] { Array(Set(self)).sorted() }
}
