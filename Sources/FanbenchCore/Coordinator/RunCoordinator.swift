import FanbenchProtocol
import Logging
import NIOCore

/// The live side of a run: connected workers, the scheduler, and the aggregates results
/// merge into. Connections report to it; it sends assignments back.
public actor RunCoordinator {
    struct Connection {
        var stream: MessageStream
        var channel: any Channel
        var limits: WorkerLimits
        var sizeMB: Int
    }

    public struct Snapshot: Sendable {
        public var done: Int
        public var total: Int
        public var workers: Int
        public var errors: Int
        public var current: String
    }

    private var scheduler: Scheduler
    private let plan: RunPlan
    private let assignTemplate: @Sendable (InvocationSpec) -> Assign
    private var connections: [String: Connection] = [:]
    public private(set) var aggregates: [ConfigAggregate]
    private let logger: Logger
    private let onResult: @Sendable (InvocationSpec, InvocationResult, WorkerLimits, String) -> Void
    private let onCounters: @Sendable (_ config: Int, _ failed: Int, _ reassigned: Int) -> Void
    private var lastStarted = ""
    /// Workers that joined while dispatch is held (external runs wait for all expected workers).
    private var held: [(id: String, sizeMB: Int, singleUse: Bool)]?

    public init(plan: RunPlan, maxAttempts: Int = 3, logger: Logger,
                assign: @escaping @Sendable (InvocationSpec) -> Assign,
                onResult: @escaping @Sendable (InvocationSpec, InvocationResult, WorkerLimits, String) -> Void = { _, _, _, _ in },
                onCounters: @escaping @Sendable (Int, Int, Int) -> Void = { _, _, _ in }) {
        self.plan = plan
        scheduler = Scheduler(plan: plan, maxAttempts: maxAttempts)
        aggregates = plan.configs.map(ConfigAggregate.init(config:))
        assignTemplate = assign
        self.logger = logger
        self.onResult = onResult
        self.onCounters = onCounters
    }

    public var isDone: Bool { scheduler.isDone }
    public func remaining(sizeMB: Int) -> Int { scheduler.remaining(sizeMB: sizeMB) }
    public var plannedSizes: Set<Int> { Set(plan.configs.map(\.size.memoryMB)) }
    public var workerCount: Int { connections.count }

    public func snapshot() -> Snapshot {
        Snapshot(done: scheduler.completed.count + scheduler.abandoned.count, total: scheduler.total, workers: connections.count,
                 errors: aggregates.reduce(0) { $0 + $1.calls.errorCount }, current: lastStarted)
    }

    /// A worker passed the handshake. Returns a reason to refuse it, or nil.
    func register(_ id: String, sizeMB: Int, limits: WorkerLimits, singleUse: Bool, stream: MessageStream, channel: any Channel) async -> String? {
        guard connections[id] == nil else { return "a worker with id \(id) is already connected" }
        guard plannedSizes.contains(sizeMB) else {
            return "no configuration of this run needs \(sizeMB) MB (planned: \(plannedSizes.sorted().map(String.init).joined(separator: ", ")))"
        }
        connections[id] = Connection(stream: stream, channel: channel, limits: limits, sizeMB: sizeMB)
        try? await stream.send(.welcome(Welcome(workerId: id)))
        logger.info("worker joined", metadata: ["worker": "\(id)", "size_mb": "\(sizeMB)", "cgroup": "\(limits.cgroup)"])
        if held != nil {
            held!.append((id, sizeMB, singleUse))
        } else {
            await apply(scheduler.workerJoined(id, sizeMB: sizeMB, singleUse: singleUse, now: monotonicNanoseconds()))
        }
        return nil
    }

    /// Workers that join from now on wait for `releaseDispatch()` (so that no size starts
    /// while others are still arriving, which would skew both).
    public func holdDispatch() {
        if held == nil { held = [] }
    }

    /// Starts dispatching to every worker that joined while held.
    public func releaseDispatch() async {
        guard let waiting = held else { return }
        held = nil
        let now = monotonicNanoseconds()
        for w in waiting where connections[w.id] != nil {
            await apply(scheduler.workerJoined(w.id, sizeMB: w.sizeMB, singleUse: w.singleUse, now: now))
        }
    }

    /// A message from a registered worker. Returns an error reason when the worker broke the protocol.
    func receive(_ message: Message, from id: String) async -> String? {
        let now = monotonicNanoseconds()
        scheduler.heard(from: id, now: now)
        switch message {
        case .progress:
            return nil
        case .result(let result):
            let (accept, actions) = scheduler.resultArrived(result.invocationId, from: id, now: now)
            if accept, let spec = scheduler.specs[result.invocationId], let limits = connections[id]?.limits {
                aggregates[spec.config.index].add(result, limits: limits)
                onResult(spec, result, limits, id)
            } else {
                logger.debug("dropped a result not assigned to this worker", metadata: ["worker": "\(id)", "invocation": "\(result.invocationId)"])
            }
            await apply(actions)
            return nil
        case .failed(let failed):
            logger.warning("invocation failed on a worker", metadata: ["worker": "\(id)", "invocation": "\(failed.invocationId)", "reason": "\(failed.reason)"])
            await apply(scheduler.invocationFailed(failed.invocationId, from: id, reason: failed.reason, now: now))
            return nil
        default:
            return "unexpected \(message.type) from a worker"
        }
    }

    /// The worker's connection ended.
    func lost(_ id: String) async {
        guard connections.removeValue(forKey: id) != nil else { return }
        if held != nil {
            held!.removeAll { $0.id == id }
            logger.info("worker left before the run started", metadata: ["worker": "\(id)"])
            return
        }
        logger.info("worker left", metadata: ["worker": "\(id)"])
        await apply(scheduler.workerLost(id))
    }

    /// Drops busy workers that went silent; call periodically.
    public func checkSilence(silence: Duration) async {
        let ns = UInt64(silence.components.seconds) * 1_000_000_000 + UInt64(silence.components.attoseconds / 1_000_000_000)
        await apply(scheduler.checkSilence(now: monotonicNanoseconds(), silence: ns))
    }

    /// Tells every worker to stop.
    public func shutdownWorkers() async {
        for c in connections.values { try? await c.stream.send(.shutdown) }
    }

    private func apply(_ actions: [Scheduler.Action]) async {
        for action in actions {
            switch action {
            case .assign(let invocation, let worker):
                guard let spec = scheduler.specs[invocation], let c = connections[worker] else { continue }
                lastStarted = "\(spec.config.size.memoryMB) MB \(spec.config.strategy)"
                do {
                    try await c.stream.send(.assign(assignTemplate(spec)))
                } catch {
                    await lost(worker)
                }
            case .dropWorker(let worker, let reason):
                logger.warning("dropping worker", metadata: ["worker": "\(worker)", "reason": "\(reason)"])
                connections[worker]?.channel.close(promise: nil)
                connections.removeValue(forKey: worker)
            case .abandon(let invocation, let reason):
                logger.error("invocation abandoned", metadata: ["invocation": "\(invocation)", "reason": "\(reason)"])
                if let spec = scheduler.specs[invocation] { aggregates[spec.config.index].failed += 1 }
            }
        }
        var changed = Set<Int>()
        for action in actions {
            if case .abandon(let invocation, _) = action, let spec = scheduler.specs[invocation] { changed.insert(spec.config.index) }
        }
        for (index, n) in scheduler.reassigned where aggregates[index].reassigned != n {
            logger.warning("re-queued an invocation of a lost worker", metadata: [
                "config": "\(aggregates[index].config.size.memoryMB) MB \(aggregates[index].config.strategy)",
                "reassigned": "\(n)"])
            aggregates[index].reassigned = n
            changed.insert(index)
        }
        for index in changed.sorted() { onCounters(index, aggregates[index].failed, aggregates[index].reassigned) }
    }
}
