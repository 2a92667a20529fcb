import FanbenchBase
import FanbenchLocalTarget
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOConcurrencyHelpers

/// Runs the workers of a local run: one size at a time, as many workers of that size as fit in
/// the CPU budget (at least one; a size bigger than the budget runs alone and is reported as
/// oversubscribed), each in its own capped cgroup before it runs any code of its own. Workers
/// that die are replaced (bounded). Every child and cgroup is removed on every exit path.
package final class LocalLauncher: Sendable {
    package struct Options: Sendable {
        package var workerBinary: String
        package var coordinatorAddress: String
        package var token: String
        /// Environment for workers (S3 credentials, as a Lambda's role gives them).
        package var environment: [String: String]
        package var logDirectory: String
        package var runID: String
        /// Sum of running workers' CPU caps, in cores.
        package var cpuBudget: Double
        package var hostCores: Int
        package var workersPerSize: Int
        /// nil: no caps (--allow-uncapped).
        package var cgroups: CgroupManager?
        package var maxRespawns = 5
        /// A fresh worker per invocation (`--cold`).
        package var cold = false
        /// Quotas × this: the profile's Lambda vCPU over this host's core (`CPUProbe`).
        package var cpuScale: Double = 1
        /// Above one vCPU of quota, a handler's process held to one vCPU (cgroup v1).
        package var pacesHandlers = false
        /// The init phase's quota × this (`InitCPUBoost` in the worker); 1: the size's share.
        package var initCPUMultiplier: Double = 1
        /// CPU µs a function's quota is charged per block of one of its threads (a profile's `block_cost_us`).
        package var blockCostMicros: Double = 0
        /// At most this many blocks charged per ms of the function's CPU (a profile's `blocks_per_cpu_ms`; 0: all).
        package var blocksPerCPUMs: Double = 0
        /// The CFS period quotas are expressed over, µs (a profile's `cpu.period_ms`).
        package var cfsPeriodMicros = LambdaSize.cfsPeriodMicros
        /// Where a live CPU scale publishes its factor (`LiveCPUScale`); nil: quotas fixed. v1 only.
        package var cpuFactorFile: String?
        /// The CA file workers trust on a TLS control channel; nil: plaintext.
        package var tlsCA: String?
        /// Each new worker's own S3 endpoint (a proxy listener of its own, so its requests queue
        /// on its own instance path), released once the worker is reaped; nil: the assignment's.
        package var workerEndpoint: (@Sendable (LambdaSize) throws -> WorkerEndpoint)?

        package init(workerBinary: String, coordinatorAddress: String, token: String, environment: [String: String],
                    logDirectory: String, runID: String, cpuBudget: Double, hostCores: Int, workersPerSize: Int, cgroups: CgroupManager?, cold: Bool = false, cpuScale: Double = 1, pacesHandlers: Bool = false, initCPUMultiplier: Double = 1, tlsCA: String? = nil,
                    workerEndpoint: (@Sendable (LambdaSize) throws -> WorkerEndpoint)? = nil) {
            self.workerEndpoint = workerEndpoint
            self.tlsCA = tlsCA
            self.workerBinary = workerBinary
            self.coordinatorAddress = coordinatorAddress
            self.token = token
            self.environment = environment
            self.logDirectory = logDirectory
            self.runID = runID
            self.cpuBudget = cpuBudget
            self.hostCores = hostCores
            self.workersPerSize = workersPerSize
            self.cgroups = cgroups
            self.cold = cold
            self.cpuScale = cpuScale
            self.pacesHandlers = pacesHandlers
            self.initCPUMultiplier = initCPUMultiplier
        }
    }

    /// A worker's own S3 endpoint and how to give it back.
    package struct WorkerEndpoint: Sendable {
        package var url: String
        package var release: @Sendable () -> Void
        package init(url: String, release: @Sendable @escaping () -> Void) {
            self.url = url
            self.release = release
        }
    }

    struct Child: Sendable {
        var pid: pid_t
        var group: CgroupManager.Group?
        var workerID: String
        var sizeMB: Int
        /// Signalled once the child is reaped and its cgroup removed.
        var reaped: DispatchSemaphore
    }

    enum Event: Sendable {
        /// A child exited; `clean` when with status 0.
        case exited(Child, clean: Bool)
        /// The coordinator has nothing left for this size.
        case sizeDone(Int)
    }

    package let options: Options
    /// Every child until it is reaped and its cgroup removed, by pid: whether it has exited
    /// (not yet reaped, so its pid is still its own), and whether `stopAll` stopped it.
    private let children = NIOLockedValueBox<[pid_t: (child: Child, exited: Bool, stopped: Bool)]>([:])
    private let counter = NIOLockedValueBox(0)
    /// Sizes that ran with more CPU than the budget allowed.
    package let oversubscribed = NIOLockedValueBox<[Int]>([])
    /// The last line each exited worker wrote to its log, by worker id (why it died).
    package let lastWords = NIOLockedValueBox<[String: String]>([:])
    private let logger: Logger
    private let (events, eventSink) = AsyncStream.makeStream(of: Event.self)

    package init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Workers of one size that fit the budget together.
    package static func workersThatFit(size: LambdaSize, budget: Double, wanted: Int) -> Int {
        max(1, min(wanted, Int((budget / size.cpu).rounded(.down))))
    }

    /// Runs every size's phase in turn until the coordinator has nothing left for it. Waits on
    /// events (a child's exit, the size finishing), never on a timer.
    package func run(sizes: [LambdaSize], coordinator: RunCoordinator) async throws {
        defer { stopAll() }
        var iterator = events.makeAsyncIterator()
        for size in sizes {
            let n = Self.workersThatFit(size: size, budget: options.cpuBudget / options.cpuScale, wanted: options.workersPerSize)
            if size.cpu * options.cpuScale > options.cpuBudget { oversubscribed.withLockedValue { $0.append(size.memoryMB) } }
            for _ in 0..<n { try spawn(size) }
            let mb = size.memoryMB
            let sink = eventSink
            try await withThrowingTaskGroup(of: Void.self) { watch in
                watch.addTask {
                    try await coordinator.waitUntil { $0.remaining(sizeMB: mb) == 0 }
                    sink.yield(.sizeDone(mb))
                }
                var respawns = 0
                phase: while let event = await iterator.next() {
                    switch event {
                    case .sizeDone(let done) where done == mb:
                        break phase
                    case .sizeDone:
                        continue
                    case .exited(let dead, let clean):
                        // A clean exit closed the worker's connection: its end (after every line the
                        // worker sent, a cold worker's result included) tells the coordinator. Saying
                        // "lost" here could come first and re-queue an invocation whose result is
                        // still being read.
                        if !clean { await coordinator.lost(dead.workerID) }
                        // A worker of an earlier phase that exited late is not this phase's to replace.
                        guard dead.sizeMB == mb, await coordinator.remaining(sizeMB: mb) > 0 else { continue }
                        if options.cold && clean {
                            // A cold worker serves one invocation and exits: start the next one.
                            try spawn(size)
                            continue
                        }
                        respawns += 1
                        let lastLine = lastWords.withLockedValue { $0[dead.workerID] }
                        guard respawns <= options.maxRespawns else {
                            throw RunError.workersKeepDying(sizeMB: mb, deaths: respawns, lastLine: lastLine, logs: options.logDirectory)
                        }
                        logger.warning("worker died; starting a replacement", metadata: ["worker": "\(dead.workerID)", "last_line": "\(lastLine ?? "")"])
                        try spawn(size)
                    }
                }
                try Task.checkCancellation()
                watch.cancelAll()
            }
            stopAll()
        }
    }

    /// PIDs of running workers (tests kill one to prove re-queueing).
    package var runningPIDs: [pid_t] { children.withLockedValue { $0.values.filter { !$0.exited }.map(\.child.pid).sorted() } }

    private func spawn(_ size: LambdaSize) throws {
        let n = counter.withLockedValue { v -> Int in v += 1; return v }
        let workerID = "\(options.runID)-\(size.memoryMB)mb-\(n)"
        let group = try options.cgroups?.create(name: "\(options.runID)-w\(n)", size: size, hostCores: options.hostCores, cpuScale: options.cpuScale, periodMicros: options.cfsPeriodMicros)
        var env = options.environment
        env["FANBENCH_TOKEN"] = options.token
        env["FANBENCH_SPAWN_NS"] = String(monotonicNanoseconds())
        // A profile's vCPU slower than a host core, at a size whose quota is above one vCPU: the
        // handler alone would run at the host core's speed, so its process is paced to one vCPU.
        // Both this and the init boost are the worker's writes to its own v1 cpu group.
        let v1 = group != nil && options.cgroups?.version == .v1
        if v1, options.pacesHandlers, options.cpuScale < 1, size.cpu > 1 {
            env["FANBENCH_VCPU_QUOTA_US"] = String(Int((options.cpuScale * Double(options.cfsPeriodMicros)).rounded()))
        }
        if v1, options.initCPUMultiplier > 1 { env["FANBENCH_INIT_CPU_MULTIPLIER"] = String(options.initCPUMultiplier) }
        if v1, let file = options.cpuFactorFile { env["FANBENCH_CPU_FACTOR_FILE"] = file }
        // The worker shares its group's quota with its function: v1 or v2 alike.
        if group != nil, options.blockCostMicros > 0 {
            env["FANBENCH_BLOCK_COST_US"] = String(options.blockCostMicros)
            if options.blocksPerCPUMs > 0 { env["FANBENCH_BLOCKS_PER_CPU_MS"] = String(options.blocksPerCPUMs) }
        }
        let endpoint: WorkerEndpoint?
        do { endpoint = try options.workerEndpoint?(size) } catch {
            if let group { options.cgroups?.remove(group) }
            throw error
        }
        if let endpoint { env["FANBENCH_S3_ENDPOINT"] = endpoint.url }
        let (exe, args) = CgroupManager.joinAndExec(group, executable: options.workerBinary, arguments: [
            "--coordinator", options.coordinatorAddress, "--size-mb", String(size.memoryMB), "--worker-id", workerID,
            "--log-dir", options.logDirectory + "/functions/" + workerID,
        ] + (options.cold ? ["--once"] : []) + (options.tlsCA.map { ["--tls-ca", $0] } ?? []))
        let logPath = options.logDirectory + "/\(workerID).log"
        let pid: pid_t
        do {
            pid = try ProcessLauncher.spawn(executable: exe, arguments: args, logPath: logPath, environment: env)
        } catch {
            if let group { options.cgroups?.remove(group) }
            endpoint?.release()
            throw error
        }
        let child = Child(pid: pid, group: group, workerID: workerID, sizeMB: size.memoryMB, reaped: DispatchSemaphore(value: 0))
        children.withLockedValue { $0[pid] = (child, false, false) }
        // One thread per child blocks in waitpid: its exit is an event, not something polled.
        // The cgroup is removed there too, off every lock (removal waits for the kernel).
        let thread = Thread { [self] in
            // Wait for the exit without reaping, so the pid cannot be reused while `stopAll` may
            // still signal it; leave the list first, then reap.
            ProcessLauncher.waitUntilExited(pid)
            let stopped = children.withLockedValue { list -> Bool in
                list[pid]?.exited = true
                return list[pid]?.stopped ?? true
            }
            let status = ProcessLauncher.waitForExit(pid)
            if let group { options.cgroups?.remove(group) }
            endpoint?.release()
            if let line = ProcessLauncher.lastLine(ofFile: logPath) { lastWords.withLockedValue { $0[workerID] = line } }
            children.withLockedValue { _ = $0.removeValue(forKey: pid) }
            child.reaped.signal()
            if !stopped { eventSink.yield(.exited(child, clean: status == 0)) }
        }
        thread.stackSize = 256 * 1024
        thread.start()
    }

    /// Kills every worker and waits until each is reaped and its cgroup removed; safe to call
    /// more than once, from any path.
    package func stopAll() {
        // Signalled under the lock: a child its thread has seen exit is not signalled, and its
        // thread cannot reap it (freeing the pid) before taking the same lock.
        let all = children.withLockedValue { list -> [Child] in
            for (pid, entry) in list {
                list[pid]?.stopped = true
                if !entry.exited { kill(pid, SIGKILL) }
            }
            return list.values.map(\.child)
        }
        // Every child, exited or not, until it is reaped and its cgroup gone.
        for c in all { _ = c.reaped.wait(timeout: .now() + .seconds(10)) }
        options.cgroups?.removeBaseIfEmpty()
    }
}
