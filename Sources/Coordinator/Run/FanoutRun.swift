import FanbenchBase
import FanbenchProtocol
import FanbenchReport
import FanbenchS3
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import NIOConcurrencyHelpers
import UnixSignals

/// `fanbench run`: list the bucket, plan size × strategy × invocations, dispatch shards to
/// Lambda-capped workers (spawned locally or dialling in), merge their results, report.
/// The server and the run's driver are `Service`s in one `ServiceGroup`: the first SIGINT or
/// SIGTERM stops dispatching and lets running invocations finish (up to `grace`), a second one
/// ends the run at once; either way the run comes back as `interrupted`, with what finished.
package enum FanoutRun {
    package enum Workers: Sendable {
        /// Spawn workers here, each in a capped cgroup (nil manager: uncapped, --allow-uncapped).
        case local(cgroups: CgroupManager?, cpuBudget: Double, perSize: Int, workerBinary: String)
        /// Wait for `expect` workers to dial in (compose, Kubernetes).
        case external(expect: Int, waitTimeout: Duration)
        /// Invoke Lambda functions `PREFIX-<MB>` (real AWS Lambda, or a Lambda API such as `fanbench lambda serve`).
        case lambda(LambdaFleet.Options)

        /// The cgroups of workers fanbench itself caps (and so scales by a profile's CPU); nil otherwise.
        package var localCgroups: CgroupManager? {
            if case .local(let cgroups, _, _, _) = self { return cgroups }
            return nil
        }
    }

    package struct Options: Sendable {
        package var runID: String
        package var bucket: String
        package var prefix: String?
        package var operation: ObjectOperation = .getObjectAcl
        package var sizes: [LambdaSize] = LambdaSize.seedSizes
        package var strategies: [Strategy] = FanoutRun.defaultStrategies
        /// The definitions of the `function:NAME` strategies.
        package var functions: [String: FunctionDefinition] = [:]
        package var invocations = 5
        package var shardSize: Int?
        package var listing: ListingMode = .coordinator
        package var workers: Workers
        package var listen = HostPort(host: "127.0.0.1", port: 0)
        package var token: String
        package var logDirectory: String
        package var heartbeatSilence: Duration = .seconds(15)
        package var maxAttempts = 3
        package var maxLineBytes = defaultMaxLineBytes
        /// TLS required of every worker on the control channel, and the CA file local workers trust.
        package var tls: ControlTLS.Side?
        package var workerTLSCA: String?
        /// A fresh worker per invocation, with its init duration recorded (local workers only).
        package var cold = false
        /// The network the endpoint emulates, when it is the local target's proxy.
        package var emulation: RunReport.Emulation?
        /// Local workers' quotas × this (the profile's vCPU over this host's probe); 1: as sized
        /// (and for workers fanbench does not cap, whose reports it also checks against).
        package var cpuScale: Double = 1
        package var pacesHandlers = false
        package var initCPUMultiplier: Double = 1
        /// CPU µs a function's quota is charged per block of one of its threads (`BlockCharge`).
        package var blockCostMicros: Double = 0
        /// At most this many blocks charged per ms of a function's CPU (`BlockCharge`; 0: all).
        package var blocksPerCPUMs: Double = 0
        /// Where a live CPU scale publishes its factor for local v1 workers (nil: quotas fixed).
        package var cpuFactorFile: String?
        /// Local workers' CFS period, µs (a profile's `cpu.period_ms`).
        package var cfsPeriodMicros = LambdaSize.cfsPeriodMicros
        /// Local workers: each one's own S3 endpoint (`LocalLauncher.Options.workerEndpoint`).
        package var workerEndpoint: (@Sendable (LambdaSize) throws -> LocalLauncher.WorkerEndpoint)?
        /// `fanbench resume`: the invocations already done, the keys they were planned over, the
        /// counters so far and where the timeline goes on.
        package var resume: Resume?
        /// Shut down gracefully on SIGINT/SIGTERM (the command line); tests leave it off.
        package var handleSignals = false
        /// After the first signal, how long running invocations may take to finish.
        package var grace: Duration = .seconds(30)

        package init(runID: String, bucket: String, workers: Workers, token: String, logDirectory: String) {
            self.runID = runID
            self.bucket = bucket
            self.workers = workers
            self.token = token
            self.logDirectory = logDirectory
        }
    }

    /// The seed's three strategies; 16 threads or calls in flight (the blog's executor and
    /// aioboto3 ran at most ~16–100 concurrent calls for 100 keys on 1–2 vCPUs).
    package static let defaultStrategies: [Strategy] = [.serial, .threads(16), .async(16)]

    /// Every `function:NAME` strategy must name a defined function.
    package static func checkFunctions(_ strategies: [Strategy], defined functions: [String: FunctionDefinition]) throws(FanbenchError) {
        for name in strategies.compactMap(\.functionName) where functions[name] == nil {
            let known = functions.isEmpty ? "" : " (defined: \(functions.keys.sorted().joined(separator: ", ")))"
            throw FanbenchError.badInput("unknown function '\(name)' in the strategies\(known): define it under the plan's functions: or pass --function \(name)=COMMAND")
        }
    }

    /// What the run is called while it happens and after.
    package struct Hooks: Sendable {
        package var listening: @Sendable (String) -> Void = { _ in }
        package var progress: @Sendable (RunCoordinator.Snapshot) -> Void = { _ in }
        package var launcher: @Sendable (LocalLauncher) -> Void = { _ in }
        /// The run is planned: its header (no configurations yet) and its plan.
        package var started: @Sendable (RunReport, RunPlan) -> Void = { _, _ in }
        /// Results and counters as they arrive.
        package var events = RunCoordinator.Events()
        /// The run is over: the invocations it gave up, with why (written once, with the workers' last words).
        package var abandoned: @Sendable ([(config: Int, abandoned: RunReport.Abandoned)]) -> Void = { _ in }
        /// The first signal arrived: the run is draining.
        package var interrupted: @Sendable () -> Void = {}
        package init() {}
    }

    /// What a resumed run brings along.
    package struct Resume: Sendable {
        package var done: Set<String>
        package var keysDigest: String?
        package var counters: [Int: (failed: Int, reassigned: Int)]
        package var timelineOffsetMs: Double
        package init(done: Set<String>, keysDigest: String?, counters: [Int: (failed: Int, reassigned: Int)], timelineOffsetMs: Double) {
            self.done = done
            self.keysDigest = keysDigest
            self.counters = counters
            self.timelineOffsetMs = timelineOffsetMs
        }
    }

    /// How a run ended. Both carry the report of what finished.
    package enum Outcome: Sendable {
        case finished(RunReport)
        /// A signal stopped it; the report holds the invocations that had finished.
        case interrupted(RunReport)

        package var report: RunReport {
            switch self {
            case .finished(let r), .interrupted(let r): return r
            }
        }
    }

    package static func execute(s3: S3ClientConfiguration, options: Options, logger: Logger, hooks: Hooks = Hooks()) async throws -> Outcome {
        let startedAt = Date()
        var keys: [String]?
        let listingStarted = monotonicNanoseconds()
        var listingS: Double?
        if options.listing == .coordinator {
            let listing = try await S3Client.withClient(configuration: s3, transport: .curl, maxConnections: 1) {
                try await $0.listAll(bucket: options.bucket, prefix: options.prefix)
            }
            keys = listing.objects.map(\.key)
            listingS = Double(monotonicNanoseconds() - listingStarted) / 1e9
            if keys!.isEmpty {
                throw RunError.noKeys(bucket: options.bucket, prefix: options.prefix)
            }
        }
        try checkFunctions(options.strategies, defined: options.functions)
        let listed = monotonicNanoseconds()
        var plan = try RunPlan.make(sizes: options.sizes, strategies: options.strategies, invocations: options.invocations,
                                    keys: keys, shardSize: options.shardSize)
        plan.keysDigest = keys.map(RunRecipe.keysDigest)
        if let resume = options.resume {
            // The same keys, or the invocations' ids would name other shards.
            guard plan.keysDigest == resume.keysDigest else {
                throw FanbenchError.badInput("the keys of bucket \(options.bucket)\(options.prefix.map { " under \($0)" } ?? "") changed since run \(options.runID) started (\(keys?.count ?? 0) now): the rest of it would call other keys; start a new run")
            }
            plan.invocations.removeAll { resume.done.contains($0.id) }
        }
        let functions = options.functions
        let target = TargetSpec(endpoint: s3.endpoint.description, bucket: options.bucket, region: s3.region,
                                pathStyle: s3.addressing == .path, caBundle: s3.caBundlePath)
        let op = options.operation
        let prefix = options.prefix
        let timeouts = Timeouts(connectMs: s3.connectTimeout.roundedUpMilliseconds, requestMs: s3.requestTimeout.roundedUpMilliseconds)
        let retry = RetrySpec(maxAttempts: s3.retry.maxAttempts)
        let coordinator = RunCoordinator(plan: plan, maxAttempts: options.maxAttempts, logger: logger, events: hooks.events,
                                         cpuScale: options.cpuScale, counters: options.resume?.counters ?? [:],
                                         timelineOffsetMs: options.resume?.timelineOffsetMs ?? 0) { spec in
            Assign(invocationId: spec.id, op: op.rawValue, strategy: spec.config.strategy.name,
                   concurrency: spec.config.strategy.concurrency, keys: spec.keys,
                   list: spec.keys == nil ? ListSpec(prefix: prefix) : nil, target: target, timeouts: timeouts, retry: retry,
                   function: spec.config.strategy.functionName.flatMap { functions[$0] })
        }

        let workersText: String
        var backend: RunReport.Backend
        switch options.workers {
        case .local(let cgroups, _, _, _):
            workersText = "local (\(cgroups?.version.rawValue ?? "uncapped"))"
            backend = .init(kind: "local")
        case .external(let expect, _):
            workersText = "external (\(expect))"
            backend = .init(kind: "external")
        case .lambda(let lambda):
            workersText = "lambda (\(lambda.functionPrefix)-<MB>, \(lambda.maxConcurrency) in flight)"
            backend = .init(kind: "lambda", realLambda: lambda.realLambda, lambdaEndpoint: lambda.client.endpoint.absoluteString,
                            region: lambda.client.region, functionPrefix: lambda.functionPrefix)
            try checkPayloads(plan, assign: { coordinator.assignment(for: $0) })
        }
        var report = RunReport(
            runId: options.runID, fanbenchVersion: fanbenchVersion, status: "running", startedAt: startedAt, finishedAt: nil,
            host: .init(cores: ProcessInfo.processInfo.activeProcessorCount, cgroup: CgroupManager.detect()?.rawValue ?? "none"),
            target: .init(endpoint: target.endpoint, bucket: options.bucket, prefix: options.prefix, op: op.rawValue, emulation: options.emulation),
            plan: .init(sizes: options.sizes.map(\.memoryMB), strategies: options.strategies.map(\.description),
                        invocations: options.invocations, shardSize: options.shardSize, listing: options.listing.rawValue,
                        keys: keys?.count, workers: workersText, cold: options.cold, oversubscribedSizes: []),
            configs: [])
        report.plan.backend = backend
        let used = Set(options.strategies.compactMap(\.functionName))
        if !used.isEmpty {
            report.plan.functions = functions.values.filter { used.contains($0.name) }.sorted { $0.name < $1.name }.map {
                RunReport.Function(name: $0.name, command: $0.command, code: $0.code, timeoutS: $0.timeoutS, envKeys: $0.env.keys.sorted())
            }
        }
        hooks.started(report, plan)
        if options.resume != nil, plan.invocations.isEmpty {
            // Every invocation had its outcome stored; only the close was missing.
            report.status = "complete"
            report.finishedAt = Date()
            report.configs = await coordinator.aggregates.map(RunReport.config(from:))
            return .finished(report)
        }

        if case .external = options.workers { await coordinator.holdDispatch() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let driver: RunDriver
        var interrupted = false
        defer { if options.handleSignals { restoreDefaultStopSignals() } }
        do {
            var configuration = CoordinatorServer.Configuration(token: options.token)
            configuration.maxLineBytes = options.maxLineBytes
            configuration.tls = options.tls
            let server = try await CoordinatorServer.bind(options.listen, configuration: configuration, coordinator: coordinator,
                                                          group: group, logger: logger)
            let address = HostPort(host: options.listen.host, port: server.port)
            hooks.listening(address.description)
            driver = RunDriver(plan: plan, coordinator: coordinator, address: address, options: options, s3: s3,
                                   logger: logger, hooks: hooks)
            let services = ServiceGroup(configuration: .init(
                services: [
                    .init(service: server),
                    .init(service: driver, successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: options.handleSignals ? [.sigint, .sigterm] : [],
                logger: logger))
            do {
                try await services.run()
                interrupted = driver.state.interrupted
            } catch is RunDriver.Interrupted {
                interrupted = true
            }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
        let oversubscribed = driver.state.oversubscribed
        if !oversubscribed.isEmpty {
            logger.warning("sizes ran above the CPU budget", metadata: ["sizes_mb": "\(oversubscribed)"])
        }
        hooks.progress(await coordinator.snapshot())
        report.status = interrupted ? "incomplete" : "complete"
        report.finishedAt = Date()
        report.plan.oversubscribedSizes = oversubscribed
        report.plan.listingS = listingS
        report.plan.firstAssignS = await coordinator.firstAssignedNs.map { Double($0 &- min($0, listed)) / 1e9 }
        if let fleet = driver.state.fleet {
            report.plan.backend?.invokeThrottled = fleet.throttled
            report.plan.backend?.invokeServerErrors = fleet.serverErrors
        }
        report.configs = await coordinator.aggregates.map(RunReport.config(from:))
        let attempts = await coordinator.attempts
        report.timeline = attempts.isEmpty ? nil : attempts
        let specs = Dictionary(plan.invocations.map { ($0.id, $0.config) }, uniquingKeysWith: { a, _ in a })
        // A local worker's last log line says why it died (its process is reaped after its connection closed).
        let lastWords = driver.state.lastWords
        let abandoned = await coordinator.abandonments.compactMap { a -> (config: Int, abandoned: RunReport.Abandoned)? in
            guard let c = specs[a.invocation] else { return nil }
            let said = a.worker.flatMap { lastWords[$0] }.map { "; its last log line: \($0)" } ?? ""
            return (c.index, RunReport.Abandoned(invocation: a.invocation, memoryMb: c.size.memoryMB, strategy: c.strategy.description,
                                                 reason: a.reason + said))
        }
        report.abandoned = abandoned.isEmpty ? nil : abandoned.map(\.abandoned)
        hooks.abandoned(abandoned)
        return interrupted ? .interrupted(report) : .finished(report)
    }

    /// Lambda takes at most 6 MB in a synchronous Invoke: a shard whose event is larger stops the run before it starts.
    package static func checkPayloads(_ plan: RunPlan, assign: (InvocationSpec) -> Assign) throws(FanbenchError) {
        guard let largest = plan.invocations.max(by: { ($0.keys?.reduce(0) { $0 + $1.utf8.count + 3 } ?? 0) < ($1.keys?.reduce(0) { $0 + $1.utf8.count + 3 } ?? 0) }) else { return }
        let bytes = (try? JSONCoding.encoder().encode(FunctionEvent(assign(largest))).count) ?? 0
        if bytes > LambdaServe.maxPayloadBytes {
            throw FanbenchError.badInput("an invocation's event is \(bytes) bytes, over Lambda's 6 MB (\(LambdaServe.maxPayloadBytes) bytes) Invoke payload limit: lower --shard-size (it has \(largest.keys?.count ?? 0) keys)")
        }
    }

    /// What a local worker (or a `lambda serve` sandbox) needs to reach S3 as the coordinator
    /// does: credentials in its environment, never in its arguments.
    static func workerEnvironment(_ credentials: S3Credentials, region: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["AWS_ACCESS_KEY_ID"] = credentials.accessKeyID
        env["AWS_SECRET_ACCESS_KEY"] = credentials.secretAccessKey
        env["AWS_SESSION_TOKEN"] = credentials.sessionToken
        env["AWS_REGION"] = region
        return env
    }
}

/// The run itself as a `Service`: starts or awaits the workers, watches for silence, and returns
/// when every invocation is done — or, on graceful shutdown, drains: no new assignment, the
/// running ones get `grace` to finish, a second signal cuts that short.
struct RunDriver: Service {
    struct Interrupted: Error {}

    final class State: Sendable {
        private let box = NIOLockedValueBox((interrupted: false, oversubscribed: [Int](), lastWords: [String: String](), fleet: LambdaFleet?.none))
        var fleet: LambdaFleet? { box.withLockedValue { $0.fleet } }
        func setFleet(_ fleet: LambdaFleet) { box.withLockedValue { $0.fleet = fleet } }
        var interrupted: Bool { box.withLockedValue { $0.interrupted } }
        var oversubscribed: [Int] { box.withLockedValue { $0.oversubscribed } }
        var lastWords: [String: String] { box.withLockedValue { $0.lastWords } }
        func setInterrupted() { box.withLockedValue { $0.interrupted = true } }
        func setLauncherOutcome(oversubscribed: [Int], lastWords: [String: String]) {
            box.withLockedValue { $0.oversubscribed = oversubscribed; $0.lastWords = lastWords }
        }
    }

    let plan: RunPlan
    let coordinator: RunCoordinator
    let address: HostPort
    let options: FanoutRun.Options
    let s3: S3ClientConfiguration
    let logger: Logger
    let hooks: FanoutRun.Hooks
    let state = State()

    init(plan: RunPlan, coordinator: RunCoordinator, address: HostPort, options: FanoutRun.Options, s3: S3ClientConfiguration,
         logger: Logger, hooks: FanoutRun.Hooks) {
        self.plan = plan
        self.coordinator = coordinator
        self.address = address
        self.options = options
        self.s3 = s3
        self.logger = logger
        self.hooks = hooks
    }

    enum Ending: Sendable { case finished, shutdownRequested }

    func run() async throws {
        try await withThrowingTaskGroup(of: Ending.self) { tasks in
            tasks.addTask {
                try await drive()
                return .finished
            }
            tasks.addTask {
                try await gracefulShutdown()
                return .shutdownRequested
            }
            let first = try await tasks.next()
            if first == .shutdownRequested {
                state.setInterrupted()
                hooks.interrupted()
                try await drain()
            }
            tasks.cancelAll()
            while let _ = try? await tasks.next() {}
        }
        await coordinator.shutdownWorkers()
    }

    /// No new assignment; wait for the running invocations up to the grace period, or until a
    /// second signal.
    private func drain() async throws {
        await coordinator.drain()
        let grace = options.grace
        let handleSignals = options.handleSignals
        let coordinator = self.coordinator
        try await withThrowingTaskGroup(of: Bool.self) { waits in
            waits.addTask {
                try await coordinator.waitUntil { $0.running == 0 }
                return false
            }
            waits.addTask {
                try await Task.sleep(for: grace)
                return false
            }
            if handleSignals {
                waits.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { return true }
                    return false
                }
            }
            let secondSignal = try await waits.next() ?? false
            waits.cancelAll()
            if secondSignal { throw Interrupted() }
        }
    }

    private func drive() async throws {
        // External workers that are all lost for a size are waited for as long as the first ones
        // were; local ones are replaced by the launcher (which gives up on its own).
        let replacement: Duration? = if case .external(_, let wait) = options.workers { wait } else { nil }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                while true {
                    try await Task.sleep(for: .seconds(1))
                    await coordinator.checkSilence(silence: options.heartbeatSilence, replacementTimeout: replacement)
                    hooks.progress(await coordinator.snapshot())
                }
            }
            switch options.workers {
            case .local(let cgroups, let budget, let perSize, let binary):
                var launcherOptions = LocalLauncher.Options(
                    workerBinary: binary, coordinatorAddress: address.description, token: options.token,
                    environment: FanoutRun.workerEnvironment(s3.credentials, region: s3.region), logDirectory: options.logDirectory, runID: options.runID,
                    cpuBudget: budget, hostCores: ProcessInfo.processInfo.activeProcessorCount, workersPerSize: perSize,
                    cgroups: cgroups, cold: options.cold, cpuScale: options.cpuScale, pacesHandlers: options.pacesHandlers,
                    initCPUMultiplier: options.initCPUMultiplier, tlsCA: options.tls == nil ? nil : options.workerTLSCA,
                    workerEndpoint: options.workerEndpoint)
                launcherOptions.blockCostMicros = options.blockCostMicros
                launcherOptions.blocksPerCPUMs = options.blocksPerCPUMs
                launcherOptions.cfsPeriodMicros = options.cfsPeriodMicros
                launcherOptions.cpuFactorFile = options.cpuFactorFile
                let launcher = LocalLauncher(options: launcherOptions, logger: logger)
                hooks.launcher(launcher)
                defer {
                    state.setLauncherOutcome(oversubscribed: launcher.oversubscribed.withLockedValue { $0 },
                                             lastWords: launcher.lastWords.withLockedValue { $0 })
                }
                try await launcher.run(sizes: Array(Set(plan.configs.map(\.size))).sorted(), coordinator: coordinator)
            case .external(let expect, let waitTimeout):
                // Nothing is dispatched until every expected worker is in (held since before the server started).
                try await withThrowingTaskGroup(of: Void.self) { wait in
                    wait.addTask { try await coordinator.waitUntil { $0.workerCount >= expect } }
                    wait.addTask {
                        try await Task.sleep(for: waitTimeout)
                        let n = await coordinator.workerCount
                        throw RunError.workersMissing(found: n, expected: expect, address: address, waited: waitTimeout)
                    }
                    try await wait.next()
                    wait.cancelAll()
                }
                await coordinator.releaseDispatch()
            case .lambda(let lambda):
                let fleet = LambdaFleet(options: lambda, coordinator: coordinator, logger: logger)
                state.setFleet(fleet)
                await fleet.start(sizes: Array(Set(plan.configs.map(\.size))).sorted())
                // What retrying cannot mend stops the run (the results so far are kept).
                let done = try await withThrowingTaskGroup(of: String?.self) { wait in
                    wait.addTask {
                        try await coordinator.waitUntil { $0.isDone }
                        return nil
                    }
                    wait.addTask {
                        for await message in fleet.fatalErrors { return message }
                        return nil
                    }
                    let first = try await wait.next() ?? nil
                    wait.cancelAll()
                    return first
                }
                await fleet.shutdown()
                if let done { throw FanbenchError(done) }
            }
            try await coordinator.waitUntil { $0.isDone }
            tasks.cancelAll()
        }
    }
}
