import FanbenchBase
import FanbenchLambda
import FanbenchLocalTarget
import FanbenchProtocol
import FanbenchReport
import FanbenchS3
import FanbenchStore
import Foundation
import FanbenchProxy
import Logging
import NIOConcurrencyHelpers

/// `fanbench run` from start to finish: the plan file and the flags over it, the local target
/// when no endpoint is named, the workers, the store, the run, and the report in every format
/// asked for. The command line only fills a `Request`.
package struct RunSession {
    /// What the command line asks for; nil means "the plan file's, else the default".
    package struct Request: Sendable {
        package var planFile: String?
        package var stateDirectory = ".fanbench"
        package var s3 = S3Settings()
        package var bucket: String?
        package var prefix: String?
        package var operation: ObjectOperation?
        package var sizes: [LambdaSize]?
        package var strategies: [Strategy]?
        /// `--function NAME=COMMAND`: functions over the plan's, each added to the strategies.
        package var functions: [FunctionDefinition] = []
        package var invocations: Int?
        package var shardSize: Int?
        package var listing: ListingMode?
        package var cold = false
        package var workers = WorkerMode.local
        package var listen: HostPort?
        package var expect: Int?
        package var waitTimeout: Duration = .seconds(300)
        package var emulation: String?
        /// `--profile`: a built-in's name or a profile file (over the plan's `profile:`).
        package var profile: String?
        /// A profile in hand (`fanbench calibrate`'s candidates), over both.
        package var profileOverride: EmulationProfile?
        package var workerSilenceSeconds = 15
        package var workersPerSize = 1
        package var cpuBudget: Double?
        package var allowUncapped = false
        package var tokenFile: String?
        /// TLS on the control channel: the coordinator's certificate chain and key (PEM), and
        /// the CA its local workers trust (default: the certificate itself, self-signed).
        package var tlsCert: String?
        package var tlsKey: String?
        package var tlsCA: String?
        package var workerBinary: String?
        package var jsonPath: String?
        package var htmlPath: String?
        package var databasePath: String?
        package var analysis = RunReport.Analysis()
        package var grace: Duration = .seconds(30)
        package var verbose = false
        /// `--workers lambda`: the functions `PREFIX-<MB>`, Invokes in flight, and a Lambda API other than AWS's.
        package var functionPrefix: String?
        package var maxConcurrency = 10
        package var lambdaEndpoint: String?
        /// A CPU probe already taken (calibrate's, once per fit); nil: measured at run start.
        package var cpuProbe: CPUProbe.Measurement?
        /// `fanbench resume`: the run to continue (its stored outcomes and recipe).
        package var resume: Resume?
        package init() {}
    }

    /// A run to continue under its own id: what it stored, and how it was asked for.
    package struct Resume: Sendable {
        package var unfinished: RunStore.Unfinished
        package var recipe: RunRecipe
        package init(unfinished: RunStore.Unfinished, recipe: RunRecipe) {
            self.unfinished = unfinished
            self.recipe = recipe
        }
    }

    /// The control channel's TLS from `--tls-cert/--tls-key/--tls-ca`, checked before anything
    /// runs; nil without them.
    static func controlTLS(_ r: Request) throws(FanbenchError) -> (side: ControlTLS.Side, workerCA: String)? {
        switch (r.tlsCert, r.tlsKey) {
        case (nil, nil):
            if r.tlsCA != nil { throw .badInput("--tls-ca names the CA local workers trust on a TLS control channel: give --tls-cert and --tls-key too") }
            return nil
        case (let cert?, let key?):
            if r.workers == .lambda { throw .badInput("--tls-cert is for the control channel of local and external workers: --workers lambda has none (Lambda's Invoke API is HTTPS already)") }
            // Absolute: local workers may start elsewhere.
            return (try ControlTLS.server(certificate: cert, key: key), URL(fileURLWithPath: r.tlsCA ?? cert).path)
        default:
            throw .badInput("--tls-cert and --tls-key go together: give the coordinator's certificate and its private key")
        }
    }

    package enum WorkerMode: String, Sendable, CaseIterable {
        case local, external, lambda
    }

    package let request: Request
    /// Where the results and progress go (standard output and error on the command line).
    package var output: @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
    package var notice: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("fanbench: \($0)\n".utf8)) }

    package init(_ request: Request) { self.request = request }

    /// Runs it; throws a `FanbenchError` with exit status 130 when a signal stopped it (what
    /// finished is kept as an incomplete run).
    @discardableResult
    package func run() async throws -> RunReport {
        let scoped = ScopedProxy()
        do {
            let report = try await run(scoped)
            await scoped.stop()
            return report
        } catch {
            await scoped.stop()
            throw error
        }
    }

    private func run(_ scoped: ScopedProxy) async throws -> RunReport {
        let r = request
        var logger = Logger(label: "fanbench")
        logger.logLevel = r.verbose ? .info : .warning
        // Before anything is reached: a certificate that cannot serve is bad input, not a late failure.
        let tls = try Self.controlTLS(r)
        let file = try r.planFile.map { path throws(PlanError) in try PlanFile.load(path: path) }
        var s3 = r.s3
        if s3.endpoint == nil, !s3.namesEndpoint(), let endpoint = file?.endpoint { s3.endpoint = endpoint }
        if s3.region == nil { s3.region = file?.region }
        // The plan file's values were parsed and checked as it was read; flags win over them.
        let operation = r.operation ?? file?.op ?? .getObjectAcl
        let listing = r.listing ?? file?.listing ?? .coordinator
        let sizes = r.sizes ?? file?.sizes ?? LambdaSize.seedSizes
        var strategies = r.strategies ?? file?.strategies ?? FanoutRun.defaultStrategies
        var functions = file?.functions ?? [:]
        for f in r.functions {
            functions[f.name] = f
            if !strategies.contains(.function(f.name)) { strategies.append(.function(f.name)) }
        }
        // Checked before the target starts: a misnamed function costs nothing.
        try FanoutRun.checkFunctions(strategies, defined: functions)
        let prefix = r.prefix ?? file?.prefix
        let cold = r.cold || (file?.cold ?? false)

        var emulation: RunReport.Emulation?
        var bucket = r.bucket ?? (s3.namesEndpoint() ? file?.bucket : nil)
        /// The local target's client configuration, when its endpoint is not the one it records.
        var localConfig: S3ClientConfiguration?
        /// The profile in force and this host's CPU probe (the report's figures, the quota scale).
        var profiled: (profile: EmulationProfile, probe: CPUProbe.Measurement, tls: Bool)?
        /// Each local worker's own proxy listener, when the profile limits an instance's requests.
        var workerEndpoint: (@Sendable (LambdaSize) throws -> LocalLauncher.WorkerEndpoint)?
        if s3.namesEndpoint(), r.profileOverride != nil || r.profile != nil {
            throw FanbenchError.badInput("--profile shapes the local target's network and CPU; with an endpoint named, put `fanbench proxy` in front of it and declare that with --emulation")
        }
        if !s3.namesEndpoint() {
            // No endpoint named: the local target, started (and the seed's bucket filled) when needed.
            // The profile asked for; else the running target's own (none when it was started so).
            let target = LocalTarget(stateDirectory: r.stateDirectory)
            let running = target.runningState()
            let spec = r.profile ?? file?.profile ?? running?.profile ?? EmulationProfile.lambdaSameRegion.name
            let profile = try r.profileOverride ?? EmulationProfile.resolve(spec)
            let state: LocalTarget.State
            if let running {
                state = running
            } else {
                notice("no endpoint given; starting the local target (SeaweedFS behind the \(profile?.name ?? "no") emulation)")
                var o = LocalTarget.Options()
                o.profile = profile == nil ? .none : .lambdaSameRegion
                state = try await target.up(o).state
            }
            if let profile {
                // The target's own proxy when it emulates this network; else one for this run. A
                // per-instance request rate needs the run's own: each local worker gets a listener
                // of its own there, so workers' requests never queue on each other's path.
                if state.proxyPid == nil || state.proxyNetwork != profile.network.summary || profile.network.instanceRequestsPerSecond != nil {
                    guard let port = state.ports["s3"] else { throw FanbenchError("the local target's state names no S3 port: run `fanbench target down` and start again") }
                    let proxy = LatencyProxy(options: .init(upstreamHost: "127.0.0.1", upstreamPort: port, profile: profile.network, httpAware: !state.tls), logger: logger)
                    let service = try await proxy.service(HostPort(host: "127.0.0.1", port: 0))
                    scoped.set(service)
                    var config = try target.clientConfiguration(state, direct: true)
                    config.endpoint = try S3Endpoint(parsing: "\(state.tls ? "https" : "http")://127.0.0.1:\(service.port)")
                    localConfig = config
                    if profile.network.instanceRequestsPerSecond != nil {
                        let scheme = state.tls ? "https" : "http"
                        let network = profile.network
                        workerEndpoint = { size in
                            let listener = try service.listenerForOneInstance(requestsPerSecond: network.instanceRequestsPerSecond(vcpus: size.cpu))
                            return .init(url: "\(scheme)://127.0.0.1:\(listener.port)", release: { listener.close() })
                        }
                    }
                }
                profiled = (profile, r.cpuProbe ?? HostProbe.figure(stateDirectory: r.stateDirectory), state.tls)
            } else if state.proxyPid != nil {
                localConfig = try target.clientConfiguration(state, direct: true)
            }
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
        if let declared = r.emulation {
            emulation = try RunReport.Emulation.declared(declared, endpoint: s3.endpoint ?? "")
        }
        guard let bucket else {
            throw FanbenchError.badInput("--bucket is required with an endpoint: name the bucket whose keys to call")
        }
        // Both go into every assignment line: keep them within what S3 itself allows.
        if let prefix, prefix.utf8.count > 1024 {
            throw FanbenchError.badInput("the prefix is \(prefix.utf8.count) bytes; S3 keys (and so prefixes) are at most 1,024: shorten --prefix or the plan's target.prefix")
        }
        guard bucket.utf8.count <= 255 else {
            throw FanbenchError.badInput("the bucket name is \(bucket.utf8.count) bytes; S3 allows at most 63 (255 for legacy names): check --bucket")
        }
        guard r.workerSilenceSeconds >= 3 else {
            throw FanbenchError.badInput("--worker-silence \(r.workerSilenceSeconds) is too short: workers send a heartbeat every second; use 3 or more")
        }
        let config = try localConfig ?? s3.clientConfiguration(stateDirectory: r.stateDirectory)
        let workers = try workers(s3: config, region: s3.region)
        var cpuScale = 1.0
        if let profiled {
            let capped = workers.localCgroups
            cpuScale = capped != nil ? profiled.profile.cpuScale(hostScore: profiled.probe.score) : 1
            emulation = profiled.profile.reportEmulation(tls: profiled.tls, probe: profiled.probe, applied: capped != nil,
                                                         pacingAvailable: capped?.version == .v1)
            emulation?.caCertificates = config.caBundlePath.flatMap { TrustStore.certificateCount(inBundle: TrustStore.forFunctions(caBundle: $0)) }
        }
        // The target as the run knows it: its endpoint, or the local target by its S3 port (a
        // run's own proxy listens on a new port each time).
        let targetIdentity = s3.namesEndpoint() ? config.endpoint.description
            : "the local target on port \(LocalTarget(stateDirectory: r.stateDirectory).runningState()?.ports["s3"].map(String.init) ?? "?") (\(URL(fileURLWithPath: r.stateDirectory).standardizedFileURL.path))"
        var recipe = try RunRecipe(r)
        recipe.target = targetIdentity
        if let resume = r.resume {
            recipe = resume.recipe
            try Self.check(resume, target: targetIdentity, emulation: emulation)
        }
        let store = try RunStore(path: r.databasePath ?? r.stateDirectory + "/fanbench.db")
        let runID = r.resume?.unfinished.runID ?? Self.makeRunID()
        let logDirectory = r.stateDirectory + "/runs/" + runID
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let token = try TokenStore.load(file: r.tokenFile, stateDirectory: r.stateDirectory)

        var options = FanoutRun.Options(runID: runID, bucket: bucket, workers: workers, token: token, logDirectory: logDirectory)
        options.prefix = prefix
        options.operation = operation
        options.sizes = Array(Set(sizes)).sorted()
        options.strategies = strategies
        options.functions = functions
        options.invocations = r.invocations ?? file?.invocations ?? 5
        options.shardSize = r.shardSize ?? file?.shardSize
        options.listing = listing
        options.listen = r.listen ?? HostPort(host: r.workers == .external ? "0.0.0.0" : "127.0.0.1", port: r.workers == .external ? 7100 : 0)
        options.cold = cold
        options.emulation = emulation
        options.cpuScale = cpuScale
        options.pacesHandlers = profiled?.profile.pacesHandlers ?? false
        options.initCPUMultiplier = profiled?.profile.initCPUMultiplier ?? 1
        options.blockCostMicros = profiled?.profile.blockCostMicros ?? 0   // charged only by workers in a capped group of their own
        options.blocksPerCPUMs = profiled?.profile.blocksPerCPUMs ?? 0
        options.cfsPeriodMicros = profiled?.profile.cfsPeriodMicros ?? LambdaSize.cfsPeriodMicros
        options.workerEndpoint = workerEndpoint
        options.heartbeatSilence = .seconds(r.workerSilenceSeconds)
        options.tls = tls?.side
        options.workerTLSCA = tls?.workerCA
        options.handleSignals = true
        options.grace = r.grace
        if let resume = r.resume {
            let u = resume.unfinished
            options.resume = .init(done: u.done, keysDigest: resume.recipe.keysDigest, counters: u.counters,
                                   timelineOffsetMs: u.timelineEndMs > 0 ? u.timelineEndMs + 1 : 0)
            // What the killed coordinator's workers left: their cgroups (and any handler still in them).
            workers.localCgroups?.removeGroups(prefix: runID + "-w")
        }
        if cold, r.workers != .local {
            throw FanbenchError.badInput("--cold needs --workers local: external workers and Lambda's are started by their platform (Lambda's REPORT lines give their Init Duration when they start cold)")
        }

        let progress = ProgressLine()
        let recorder = RunRecorder(store: store, runID: runID)
        if case .lambda(let lambda) = workers {
            notice("invoking \(lambda.functionPrefix)-<MB> at \(lambda.client.endpoint.absoluteString)\(lambda.realLambda ? " (real AWS Lambda: this is billed)" : ""), up to \(lambda.maxConcurrency) in flight")
        }
        var hooks = FanoutRun.Hooks()
        let external = r.workers == .external
        let notice = self.notice
        hooks.listening = { address in if external { notice("waiting for workers at \(address)") } }
        hooks.progress = { progress.update($0) }
        let resuming = r.resume != nil
        hooks.started = { [recipe] header, plan in
            if resuming {
                recorder.reopen()
            } else {
                var recipe = recipe
                recipe.keysDigest = plan.keysDigest
                recorder.begin(header, configs: plan.configs, plannedInvocations: plan.invocations.count, recipe: recipe.json)
            }
        }
        hooks.events.result = { spec, result, limits, worker in recorder.record(configIndex: spec.config.index, result, limits, worker) }
        hooks.events.counters = { index, failed, reassigned in recorder.counters(index, failed, reassigned) }
        hooks.events.attempt = { recorder.attempt($0) }
        hooks.abandoned = { list in
            for (index, a) in list { recorder.abandoned(configIndex: index, invocation: a.invocation, reason: a.reason) }
        }
        hooks.interrupted = {
            progress.finish()
            notice("interrupted: no new invocations; waiting up to \(r.grace) for the running ones (Ctrl-C again to stop now)")
        }
        // A live CPU scale: the coordinator's sampler publishes a factor local v1 workers follow.
        let live: LiveCPUScale?
        if let profile = profiled?.profile, profile.liveBeta > 0, workers.localCgroups?.version == .v1 {
            let scale = LiveCPUScale(options: .init(beta: profile.liveBeta, factorFile: logDirectory + "/cpu-factor",
                                                    seriesFile: logDirectory + "/cpu-live.tsv", stateDirectory: r.stateDirectory))
            try scale.start()
            live = scale
            options.cpuFactorFile = logDirectory + "/cpu-factor"
        } else {
            if let profile = profiled?.profile, profile.liveBeta > 0, workers.localCgroups != nil {
                notice("the profile's cpu.live_beta needs cgroup v1 (the workers write their own quotas); this run's quotas stay fixed")
            }
            live = nil
        }
        // Stopped once, on every way out; its summary goes into the report and the stored run.
        let stopLive: @Sendable () -> RunReport.Emulation? = { [emulation] in
            guard var e = emulation, let summary = live?.stop() else { return nil }
            e.cpu?.live = summary
            return e
        }
        let outcome: FanoutRun.Outcome
        do {
            outcome = try await FanoutRun.execute(s3: config, options: options, logger: logger, hooks: hooks)
        } catch {
            progress.finish()
            recorder.finish(status: "failed", error: FanbenchError.from(error).message, emulation: stopLive())
            throw error
        }
        progress.finish()
        let ended = stopLive()
        guard case .finished(var report) = outcome else {
            recorder.finish(status: "incomplete", emulation: ended)
            let kept = recorder.began ? "; what had finished is kept as incomplete run \(runID) (fanbench report \(runID) --db \(store.path))" : ""
            throw FanbenchError("interrupted: workers stopped and their cgroups removed\(kept)", exitCode: ExitStatus.interrupted)
        }
        if let ended { report.target.emulation = ended }
        recorder.finish(status: "complete", plan: report.plan, finishedAt: report.finishedAt, emulation: ended)
        if resuming {
            // One run: everything it stored, before and after the interruption, as `fanbench report` shows it.
            guard recorder.failures == 0 else {
                throw FanbenchError("\(recorder.failures) write(s) to the run database \(store.path) failed while resuming run \(runID): its report would miss them; free the disk, then run fanbench resume \(runID) again")
            }
            report = try store.report(runID)
        }
        report.derive(r.analysis)
        // The tables first: a file that cannot be written must not cost the printed results
        // (the run is in the database either way).
        output("")
        output(ReportTables.text(report))
        output("stored as run \(report.runId) in \(store.path)" + (recorder.failures > 0 ? " (\(recorder.failures) write(s) to it failed: see the warnings above)" : ""))
        if let json = r.jsonPath {
            try ReportOutput.write(String(decoding: try report.jsonData(), as: UTF8.self), to: json)
            output("report: \(json)")
        }
        if !report.functionErrorSummaries.isEmpty {
            notice("\(report.functionErrorSummaries.count) function configuration(s) had failed invocations (FUNCTION ERRORS above): the handlers' output and REPORT lines are in \(logDirectory)/functions/WORKER/NAME.log")
        }
        if let html = r.htmlPath {
            try ReportOutput.write(HTMLReport.render(report), to: html)
            output("html report: \(html)")
        }
        // Everything is written; a run that lost invocations still must not look like a success.
        if let lost = report.lostSummary {
            throw FanbenchError(lost + "; see the worker logs in \(logDirectory)", exitCode: ExitStatus.invocationsLost)
        }
        return report
    }

    /// Whether a run can be continued here: the same target, the same emulation profile.
    static func check(_ resume: Resume, target: String, emulation: RunReport.Emulation?) throws(FanbenchError) {
        let id = resume.unfinished.runID
        if let was = resume.recipe.target, was != target {
            throw .badInput("run \(id) ran against \(was); the target now is \(target): resume it against the same target, or start a new run")
        }
        let before = resume.unfinished.emulationJSON.flatMap { try? JSONCoding.decoder().decode(RunReport.Emulation.self, from: Data($0.utf8)) }
        let was = before.map { "\($0.profile)\($0.profileHash.map { " #\($0)" } ?? "")" } ?? "none"
        let now = emulation.map { "\($0.profile)\($0.profileHash.map { " #\($0)" } ?? "")" } ?? "none"
        if was != now {
            throw .badInput("run \(id) ran under the emulation \(was); this one would be \(now): resume it with the same profile, or start a new run")
        }
    }

    /// `region`: the flag's or the plan's (Lambda's functions are in the bucket's region unless told otherwise).
    private func workers(s3: S3ClientConfiguration, region: String?) throws -> FanoutRun.Workers {
        let r = request
        switch r.workers {
        case .lambda:
            guard let prefix = r.functionPrefix else {
                throw FanbenchError.badInput("--workers lambda needs --function-prefix P: the functions P-<MB> to invoke (fanbench lambda deploy --name-prefix P makes them)")
            }
            try LambdaDeployer.checkPrefix(prefix)
            guard (1...1000).contains(r.maxConcurrency) else { throw FanbenchError.badInput("--max-concurrency must be 1 to 1000") }
            let lambda = try LambdaSettings(endpoint: r.lambdaEndpoint, region: region).client(fallback: s3.credentials)
            var options = LambdaFleet.Options(client: lambda.client, functionPrefix: prefix, realLambda: lambda.real)
            options.maxConcurrency = r.maxConcurrency
            return .lambda(options)
        case .local:
            let manager = try Self.cgroupManager(allowUncapped: r.allowUncapped)
            let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
            return .local(cgroups: manager, cpuBudget: r.cpuBudget ?? max(0.5, cores - 0.5), perSize: max(1, r.workersPerSize),
                          workerBinary: try r.workerBinary ?? Self.siblingWorkerBinary())
        case .external:
            guard let expect = r.expect, expect >= 1 else {
                throw FanbenchError.badInput("--workers external needs --expect N (how many workers will dial in)")
            }
            return .external(expect: expect, waitTimeout: r.waitTimeout)
        }
    }

    /// The host's cgroups, checked writable; nil (uncapped) only when allowed.
    package static func cgroupManager(allowUncapped: Bool) throws -> CgroupManager? {
        var manager: CgroupManager?
        if let version = CgroupManager.detect(), access("/sys/fs/cgroup", W_OK) == 0 || version == .v1 {
            manager = CgroupManager(version: version)
            if !allowUncapped { try checkWritable(manager!) }
            else if (try? checkWritable(manager!)) == nil { manager = nil }
        } else if !allowUncapped {
            throw FanbenchError.badInput("no writable cgroup v1 or v2 hierarchy at /sys/fs/cgroup, so workers cannot be capped: run as root on a Linux host, or pass --allow-uncapped (results marked enforced: false)")
        }
        return manager
    }

    package static func makeRunID() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date()) + "-" + Hex.random(byteCount: 2)
    }

    package static func siblingWorkerBinary() throws -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let path = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("fanbench-worker").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw FanbenchError.badInput("fanbench-worker is not next to fanbench (\(path)): build it (swift build) or pass --worker-binary")
        }
        return path
    }

    /// Fails early, with what to do, when the cgroup tree cannot take a group.
    static func checkWritable(_ manager: CgroupManager) throws {
        let probe = try manager.create(name: "probe-\(getpid())", size: try LambdaSize(memoryMB: 128), hostCores: 1)
        manager.remove(probe)
    }
}

/// Writing a report where it was asked for.
package enum ReportOutput {
    /// Writes text to a file (whole, then renamed into place) or, with no path, to standard output.
    package static func write(_ text: String, to path: String?) throws {
        guard let path else {
            FileHandle.standardOutput.write(Data(text.utf8))
            return
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw FanbenchError.badInput("cannot write \(path): \(error.localizedDescription); check the folder exists and is writable")
        }
    }
}

/// A proxy started for one run (its profile differs from the local target's own): stopped
/// when the run ends, however it ends.
final class ScopedProxy: Sendable {
    private let service = NIOLockedValueBox<LatencyProxy.Service?>(nil)

    func set(_ s: LatencyProxy.Service) { service.withLockedValue { $0 = s } }

    func stop() async {
        if let s = service.withLockedValue({ v -> LatencyProxy.Service? in defer { v = nil }; return v }) { await s.stop() }
    }
}
