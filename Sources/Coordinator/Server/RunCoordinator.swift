import FanbenchBase
import FanbenchProtocol
import FanbenchReport
import Logging

/// The live side of a run: connected workers, the scheduler, and the aggregates results merge
/// into. Connections report to it; it sends assignments back through each worker's
/// `WorkerLink`. Decisions are the `Scheduler`'s; this actor applies them. The clock is
/// injected, and waiting is event-driven: every change wakes `waitUntil`.
package actor RunCoordinator {
    struct Connection {
        var link: any WorkerLink
        var limits: WorkerLimits
        var sizeMB: Int
        /// The longest line the worker takes (it said so in its hello).
        var maxLineBytes: Int
        /// Which connection of this id it is (a worker that rejoins under its id is a new one).
        var generation: Int
    }

    package struct Snapshot: Sendable {
        package var done: Int
        package var total: Int
        package var workers: Int
        package var errors: Int
        package var current: String
    }

    /// What the run reports as it happens (the recorder writes these to the store, off this actor).
    package struct Events: Sendable {
        /// Each counted result, with the limits and id of the worker that ran it.
        package var result: @Sendable (InvocationSpec, InvocationResult, WorkerLimits, String) -> Void = { _, _, _, _ in }
        /// A configuration's failed (abandoned) or re-assigned count changed.
        package var counters: @Sendable (_ config: Int, _ failed: Int, _ reassigned: Int) -> Void = { _, _, _ in }
        /// An attempt ended (counted, failed or re-queued): the timeline.
        package var attempt: @Sendable (RunReport.Attempt) -> Void = { _ in }
        package init() {}
    }

    private var scheduler: Scheduler
    private let plan: RunPlan
    private let assignTemplate: @Sendable (InvocationSpec) -> Assign
    private var connections: [String: Connection] = [:]
    package private(set) var aggregates: [ConfigAggregate]
    private let logger: Logger
    private let events: Events
    private let now: @Sendable () -> UInt64
    private var lastStarted = ""
    /// Workers that joined while dispatch is held (external runs wait for all expected workers).
    private var held: [(id: String, sizeMB: Int, singleUse: Bool)]?
    /// Why each abandoned invocation was given up, in the order they were.
    package private(set) var abandonments: [(invocation: String, reason: String, worker: String?)] = []
    /// Results refused because they could not be true or were not the sender's to give.
    package private(set) var refusedResults = 0
    /// The worker each invocation was last sent to.
    private var lastAssignee: [String: String] = [:]
    /// What each worker last said was wrong (an `error` it sent before going), for loss reasons.
    private var lastWords: [String: String] = [:]
    private var observers: [Int: AsyncStream<Void>.Continuation] = [:]
    private var connectionsMade = 0
    private var nextObserver = 0
    /// When the coordinator was made: the timeline's zero.
    private let origin: UInt64
    /// Re-assignments a resumed run had made before (the scheduler counts this run's).
    private let reassignedBefore: [Int: Int]
    private let timelineOffsetMs: Double
    /// Attempts under way: invocation → (worker, configuration, start ns).
    private var open: [String: (worker: String, config: Int, start: UInt64)] = [:]
    /// When the first assignment was sent (the clock's ns).
    package private(set) var firstAssignedNs: UInt64?
    /// Ended attempts, in the order they ended (the first `RunReport.maxTimelineAttempts`).
    package private(set) var attempts: [RunReport.Attempt] = []

    /// - Parameters:
    ///   - counters: each configuration's abandoned and re-assigned counts so far (a resumed run's).
    ///   - timelineOffsetMs: where the timeline goes on (a resumed run's ends there).
    package init(plan: RunPlan, maxAttempts: Int = 3, logger: Logger, events: Events = Events(), cpuScale: Double = 1,
                 counters: [Int: (failed: Int, reassigned: Int)] = [:], timelineOffsetMs: Double = 0,
                 now: @escaping @Sendable () -> UInt64 = monotonicNanoseconds,
                 assign: @escaping @Sendable (InvocationSpec) -> Assign) {
        self.plan = plan
        scheduler = Scheduler(plan: plan, maxAttempts: maxAttempts)
        aggregates = plan.configs.map { config in
            var a = ConfigAggregate(config: config)
            a.cpuScale = cpuScale
            a.failed = counters[config.index]?.failed ?? 0
            a.reassigned = counters[config.index]?.reassigned ?? 0
            return a
        }
        reassignedBefore = counters.mapValues(\.reassigned)
        self.timelineOffsetMs = timelineOffsetMs
        assignTemplate = assign
        self.logger = logger
        self.events = events
        self.now = now
        origin = now()
    }

    private func endAttempt(_ invocation: String, outcome: String, worker: String? = nil) {
        guard let a = open[invocation], worker == nil || a.worker == worker else { return }
        open.removeValue(forKey: invocation)
        let ms = { (t: UInt64) in Double(t &- min(t, self.origin)) / 1e6 + self.timelineOffsetMs }
        let attempt = RunReport.Attempt(invocation: invocation, worker: a.worker, config: a.config, startMs: ms(a.start), endMs: ms(now()), outcome: outcome)
        if attempts.count < RunReport.maxTimelineAttempts { attempts.append(attempt) }
        events.attempt(attempt)
    }

    private func endAttempts(of worker: String) {
        for (invocation, a) in open where a.worker == worker { endAttempt(invocation, outcome: "requeued") }
    }

    package var isDone: Bool { scheduler.isDone }
    /// The assignment an invocation is sent as.
    package nonisolated func assignment(for spec: InvocationSpec) -> Assign { assignTemplate(spec) }
    package var running: Int { scheduler.running }
    package func remaining(sizeMB: Int) -> Int { scheduler.remaining(sizeMB: sizeMB) }
    package var plannedSizes: Set<Int> { Set(plan.configs.map(\.size.memoryMB)) }
    package var workerCount: Int { connections.count }

    package func snapshot() -> Snapshot {
        Snapshot(done: scheduler.completed.count + scheduler.abandoned.count, total: scheduler.total, workers: connections.count,
                 errors: aggregates.reduce(0) { $0 + $1.calls.errorCount }, current: lastStarted)
    }

    /// Returns once `condition` holds, re-checking it after every change of the run; throws
    /// `CancellationError` when the waiting task is cancelled.
    package func waitUntil(_ condition: @Sendable (isolated RunCoordinator) -> Bool) async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = nextObserver
        nextObserver += 1
        observers[id] = continuation
        defer { observers.removeValue(forKey: id) }
        if condition(self) { return }
        for await _ in stream {
            if condition(self) { return }
        }
        try Task.checkCancellation()
    }

    private func changed() {
        for o in observers.values { o.yield() }
    }

    /// A worker passed the handshake. Returns a reason to refuse it, or nil.
    package func register(_ id: String, sizeMB: Int, limits: WorkerLimits, singleUse: Bool, maxLineBytes: Int = defaultMaxLineBytes,
                          link: any WorkerLink) async -> String? {
        guard connections[id] == nil else { return "a worker with id \(id) is already connected" }
        guard plannedSizes.contains(sizeMB) else {
            return "no configuration of this run needs \(sizeMB) MB (planned: \(plannedSizes.sorted().map(String.init).joined(separator: ", ")))"
        }
        connectionsMade += 1
        connections[id] = Connection(link: link, limits: limits, sizeMB: sizeMB, maxLineBytes: maxLineBytes, generation: connectionsMade)
        try? await link.send(.welcome(Welcome(workerId: id)))
        // While the welcome was being sent the worker may already have gone (its `lost` came in).
        guard connections[id] != nil else { return nil }
        logger.info("worker joined", metadata: ["worker": "\(id)", "size_mb": "\(sizeMB)", "cgroup": "\(limits.cgroup)"])
        if held != nil {
            held!.append((id, sizeMB, singleUse))
        } else {
            await apply(scheduler.workerJoined(id, sizeMB: sizeMB, singleUse: singleUse, now: now()))
        }
        changed()
        return nil
    }

    /// Workers that join from now on wait for `releaseDispatch()` (so that no size starts
    /// while others are still arriving, which would skew both).
    package func holdDispatch() {
        if held == nil { held = [] }
    }

    /// Starts dispatching to every worker that joined while held.
    package func releaseDispatch() async {
        guard let waiting = held else { return }
        held = nil
        let t = now()
        for w in waiting where connections[w.id] != nil {
            await apply(scheduler.workerJoined(w.id, sizeMB: w.sizeMB, singleUse: w.singleUse, now: t))
        }
        changed()
    }

    /// Stops dispatching: running invocations may finish, nothing new starts (Ctrl-C).
    package func drain() {
        scheduler.drain()
        changed()
    }

    /// A message from a registered worker. Returns an error reason when the worker broke the protocol.
    package func receive(_ message: Message, from id: String) async -> String? {
        let t = now()
        scheduler.heard(from: id, now: t)
        defer { changed() }
        switch message {
        case .progress:
            return nil
        case .result(let result):
            // Only the worker an invocation is assigned to may complete it, once, with figures
            // that can be true. Anything else drops the worker (the caller closes it) and its
            // invocation goes back to the queue when the connection ends: no aggregate moves.
            guard scheduler.isAssigned(result.invocationId, to: id), let spec = scheduler.specs[result.invocationId],
                  let limits = connections[id]?.limits else {
                let what = scheduler.completed.contains(result.invocationId) ? "a second result for invocation" : "a result for invocation"
                return refusedResult("\(what) \(result.invocationId.prefix(80)), which is not assigned to this worker", from: id)
            }
            let assign = assignTemplate(spec)
            let openMs = Double(t &- min(t, open[result.invocationId]?.start ?? origin)) / 1e6
            if let problem = ResultCheck.problem(with: result, keys: spec.keys?.count, builtIn: assign.function == nil,
                                                 maxAttempts: assign.retry.maxAttempts, openMs: openMs, limits: limits) {
                return refusedResult("the result for \(result.invocationId) cannot be true: \(problem)", from: id)
            }
            let (_, actions) = scheduler.resultArrived(result.invocationId, from: id, now: t)
            endAttempt(result.invocationId, outcome: "ok", worker: id)
            aggregates[spec.config.index].add(result, limits: limits)
            events.result(spec, result, limits, id)
            await apply(actions)
            return nil
        case .error(let e):
            // The worker found something wrong with what we sent and is going; keep why.
            lastWords[id] = String(e.reason.prefix(500))
            logger.warning("a worker reported an error", metadata: ["worker": "\(id)", "reason": "\(e.reason)"])
            return nil
        case .failed(let failed):
            let retire = failed.retire ?? false
            if retire {
                logger.info("worker stopping; re-queueing its invocation", metadata: ["worker": "\(id)", "invocation": "\(failed.invocationId)"])
            } else {
                logger.warning("invocation failed on a worker", metadata: ["worker": "\(id)", "invocation": "\(failed.invocationId)", "reason": "\(failed.reason)"])
            }
            if scheduler.isAssigned(failed.invocationId, to: id) { endAttempt(failed.invocationId, outcome: retire ? "requeued" : "failed", worker: id) }
            await apply(scheduler.invocationFailed(failed.invocationId, from: id, reason: failed.reason, retire: retire, now: t))
            return nil
        default:
            return "unexpected \(message.type) from a worker"
        }
    }

    private func refusedResult(_ reason: String, from id: String) -> String {
        refusedResults += 1
        logger.warning("refused a worker's result; dropping the worker", metadata: ["worker": "\(id)", "reason": "\(reason)"])
        return reason
    }

    /// The worker's connection ended.
    package func lost(_ id: String) async {
        guard connections.removeValue(forKey: id) != nil else { return }
        defer { changed() }
        if held != nil {
            held!.removeAll { $0.id == id }
            logger.info("worker left before the run started", metadata: ["worker": "\(id)"])
            return
        }
        logger.info("worker left", metadata: ["worker": "\(id)"])
        endAttempts(of: id)
        await apply(scheduler.workerLost(id, why: lastWords[id]))
    }

    /// Drops busy workers that went silent and, with `replacementTimeout`, gives up the waiting
    /// invocations of a size whose every worker is gone for that long; call periodically.
    package func checkSilence(silence: Duration, replacementTimeout: Duration? = nil) async {
        await apply(scheduler.checkSilence(now: now(), silence: UInt64(max(0, silence.nanoseconds))))
        if let replacementTimeout, held == nil {
            await apply(scheduler.checkUnserved(now: now(), timeout: UInt64(max(0, replacementTimeout.nanoseconds))))
        }
        changed()
    }

    /// Tells every worker to stop.
    package func shutdownWorkers() async {
        for c in connections.values { try? await c.link.send(.shutdown) }
    }

    private func apply(_ actions: [Scheduler.Action]) async {
        for action in actions {
            switch action {
            case .assign(let invocation, let worker):
                // After an earlier send's await the worker may be gone, or back under its id with
                // other work: send only what the scheduler still has on it.
                guard let spec = scheduler.specs[invocation], let c = connections[worker],
                      scheduler.isAssigned(invocation, to: worker) else { continue }
                lastStarted = "\(spec.config.size.memoryMB) MB \(spec.config.strategy)"
                lastAssignee[invocation] = worker
                open[invocation] = (worker, spec.config.index, now())
                if firstAssignedNs == nil { firstAssignedNs = open[invocation]?.start }
                do {
                    // Keys that do not fit the worker's line limit follow in chunks that do.
                    try await c.link.send(AssignmentFraming.messages(for: assignTemplate(spec), maxLineBytes: c.maxLineBytes))
                    // Its silence is counted from when the whole assignment was out.
                    scheduler.heard(from: worker, now: now())
                } catch {
                    if connections[worker]?.generation == c.generation { await lost(worker) }
                }
            case .dropWorker(let worker, let reason):
                logger.warning("dropping worker", metadata: ["worker": "\(worker)", "reason": "\(reason)"])
                endAttempts(of: worker)
                connections[worker]?.link.close()
                connections.removeValue(forKey: worker)
            case .abandon(let invocation, let reason):
                logger.error("invocation abandoned", metadata: ["invocation": "\(invocation)", "reason": "\(reason)"])
                abandonments.append((invocation, reason, lastAssignee[invocation]))
                if let spec = scheduler.specs[invocation] { aggregates[spec.config.index].failed += 1 }
            }
        }
        var changedConfigs = Set<Int>()
        for action in actions {
            if case .abandon(let invocation, _) = action, let spec = scheduler.specs[invocation] { changedConfigs.insert(spec.config.index) }
        }
        for (index, new) in scheduler.reassigned where aggregates[index].reassigned != new + reassignedBefore[index, default: 0] {
            let n = new + reassignedBefore[index, default: 0]
            logger.warning("re-queued an invocation of a lost worker", metadata: [
                "config": "\(aggregates[index].config.size.memoryMB) MB \(aggregates[index].config.strategy)",
                "reassigned": "\(n)"])
            aggregates[index].reassigned = n
            changedConfigs.insert(index)
        }
        for index in changedConfigs.sorted() { events.counters(index, aggregates[index].failed, aggregates[index].reassigned) }
    }
}
