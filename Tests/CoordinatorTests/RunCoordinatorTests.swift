import FanbenchBase
import FanbenchCoordinator
import FanbenchProtocol
import Logging
import Synchronization
import Testing

/// `RunCoordinator`'s decisions, driven message by message on an injected clock, with workers
/// that are in-memory links: no S3, no sockets.
@Suite struct RunCoordinatorTests {
    /// A worker's side of the link: every message the coordinator sent it, and whether it was closed.
    final class Link: WorkerLink {
        private let state = Mutex((sent: [Message](), closed: false))
        var sent: [Message] { state.withLock { $0.sent } }
        var closed: Bool { state.withLock { $0.closed } }
        var assigned: [String] { sent.compactMap { if case .assign(let a) = $0 { return a.invocationId } else { return nil } } }
        func send(_ message: Message) async throws { state.withLock { $0.sent.append(message) } }
        func send(_ messages: [Message]) async throws { state.withLock { $0.sent += messages } }
        func close() { state.withLock { $0.closed = true } }
    }

    /// A clock the test moves.
    final class Clock: Sendable {
        private let ns = Mutex<UInt64>(1_000_000_000)
        var now: UInt64 { ns.withLock { $0 } }
        func advance(seconds: Double) { ns.withLock { $0 += UInt64(seconds * 1e9) } }
    }

    final class Counted: Sendable {
        let results = Mutex([String]())
        let counters = Mutex([[Int]]())
    }

    let clock = Clock()
    let counted = Counted()

    func coordinator(sizes: [Int] = [1024], invocations: Int = 2, maxAttempts: Int = 3) throws -> RunCoordinator {
        let plan = try RunPlan.make(sizes: try sizes.map { try LambdaSize(memoryMB: $0) }, strategies: [.serial],
                                    invocations: invocations, keys: ["a", "b"], shardSize: nil)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var events = RunCoordinator.Events()
        let counted = self.counted
        events.result = { spec, _, _, _ in counted.results.withLock { $0.append(spec.id) } }
        events.counters = { index, failed, reassigned in counted.counters.withLock { $0.append([index, failed, reassigned]) } }
        let clock = self.clock
        let target = TargetSpec(endpoint: "http://s3", bucket: "b", region: "us-east-1", pathStyle: true)
        return RunCoordinator(plan: plan, maxAttempts: maxAttempts, logger: logger, events: events, now: { clock.now }) { spec in
            Assign(invocationId: spec.id, op: "get-object-acl", strategy: "serial", concurrency: 1, keys: spec.keys, list: nil, target: target)
        }
    }

    func result(_ id: String) -> Message {
        .result(InvocationResult(invocationId: id, durationMs: 10, calls: 2, errors: [:], retries: 0,
                                 histogram: HistogramSnapshot(counts: [[1000, 2]]), maxMemoryBytes: 1 << 20, cpuMs: 1, throttledMs: 0))
    }

    let limits = WorkerLimits(cpu: 0.5789, memoryBytes: 1 << 30, cgroup: "v1")

    @Test func heldDispatchStartsNothingUntilReleased() async throws {
        let c = try coordinator()
        await c.holdDispatch()
        let w1 = Link(), w2 = Link()
        #expect(await c.register("w1", sizeMB: 1024, limits: limits, singleUse: false, link: w1) == nil)
        #expect(await c.register("w2", sizeMB: 1024, limits: limits, singleUse: false, link: w2) == nil)
        #expect(w1.assigned.isEmpty && w2.assigned.isEmpty)
        await c.releaseDispatch()
        #expect(w1.assigned.count == 1 && w2.assigned.count == 1)
        #expect(Set(w1.assigned + w2.assigned).count == 2)
    }

    @Test func refusesAWorkerOfAnUnplannedSizeOrADuplicateID() async throws {
        let c = try coordinator()
        #expect(await c.register("w1", sizeMB: 512, limits: limits, singleUse: false, link: Link())?.contains("512 MB") == true)
        #expect(await c.register("w1", sizeMB: 1024, limits: limits, singleUse: false, link: Link()) == nil)
        #expect(await c.register("w1", sizeMB: 1024, limits: limits, singleUse: false, link: Link())?.contains("already connected") == true)
    }

    @Test func aSilentWorkerIsDroppedAndItsInvocationRequeued() async throws {
        let c = try coordinator(invocations: 1)
        let w1 = Link(), w2 = Link()
        _ = await c.register("w1", sizeMB: 1024, limits: limits, singleUse: false, link: w1)
        let id = try #require(w1.assigned.first)
        clock.advance(seconds: 10)
        _ = await c.receive(.progress(Progress(invocationId: id, callsDone: 1)), from: "w1")
        clock.advance(seconds: 10)
        await c.checkSilence(silence: .seconds(15))
        #expect(!w1.closed, "heard from 10 s ago: not silent yet")
        _ = await c.register("w2", sizeMB: 1024, limits: limits, singleUse: false, link: w2)
        #expect(w2.assigned.isEmpty, "nothing left to give")
        clock.advance(seconds: 6)
        await c.checkSilence(silence: .seconds(15))
        #expect(w1.closed)
        #expect(w2.assigned == [id], "re-queued on the other worker")
        #expect(counted.counters.withLock { $0 }.last == [0, 0, 1])
        // The dropped worker's late result is not counted; the new assignee's is, once.
        _ = await c.receive(result(id), from: "w1")
        #expect(counted.results.withLock { $0 }.isEmpty)
        _ = await c.receive(result(id), from: "w2")
        _ = await c.receive(result(id), from: "w2")
        #expect(counted.results.withLock { $0 } == [id])
        #expect(await c.isDone)
        #expect(await c.aggregates[0].invocations == 1)
    }

    @Test func aResultForAnotherWorkersInvocationIsDropped() async throws {
        let c = try coordinator()
        let w1 = Link(), w2 = Link()
        _ = await c.register("w1", sizeMB: 1024, limits: limits, singleUse: false, link: w1)
        _ = await c.register("w2", sizeMB: 1024, limits: limits, singleUse: false, link: w2)
        let a1 = try #require(w1.assigned.first)
        _ = await c.receive(result(a1), from: "w2")
        #expect(counted.results.withLock { $0 }.isEmpty)
        _ = await c.receive(result(a1), from: "w1")
        #expect(counted.results.withLock { $0 } == [a1])
    }

    @Test func failuresAreRetriedThenAbandonedWithTheirReason() async throws {
        let c = try coordinator(invocations: 1, maxAttempts: 2)
        let w1 = Link()
        _ = await c.register("w1", sizeMB: 1024, limits: limits, singleUse: false, link: w1)
        let id = try #require(w1.assigned.first)
        _ = await c.receive(.failed(Failed(invocationId: id, reason: "boom 1")), from: "w1")
        #expect(w1.assigned == [id, id], "tried again")
        _ = await c.receive(.failed(Failed(invocationId: id, reason: "boom 2")), from: "w1")
        #expect(await c.isDone)
        let abandoned = await c.abandonments
        #expect(abandoned.count == 1 && abandoned[0].reason.contains("boom 2"))
        #expect(await c.aggregates[0].failed == 1)
    }

    @Test func aStoppingWorkerGetsNothingMoreAndItsInvocationDoesNotLoseAnAttempt() async throws {
        let c = try coordinator(invocations: 1, maxAttempts: 1)
        let w1 = Link(), w2 = Link()
        _ = await c.register("w1", sizeMB: 1024, limits: limits, singleUse: false, link: w1)
        _ = await c.register("w2", sizeMB: 1024, limits: limits, singleUse: false, link: w2)
        let id = try #require(w1.assigned.first)
        _ = await c.receive(.failed(Failed(invocationId: id, reason: "worker stopping", retire: true)), from: "w1")
        #expect(w1.assigned == [id], "the stopping worker is not given it back")
        #expect(w2.assigned == [id], "re-queued at once, even with one attempt allowed")
        _ = await c.receive(result(id), from: "w2")
        #expect(await c.isDone)
        let aggregate = await c.aggregates[0]
        #expect(aggregate.reassigned == 1 && aggregate.failed == 0)
    }

    @Test func drainingStartsNothingNew() async throws {
        let c = try coordinator(invocations: 2)
        let w1 = Link()
        _ = await c.register("w1", sizeMB: 1024, limits: limits, singleUse: false, link: w1)
        let first = try #require(w1.assigned.first)
        await c.drain()
        #expect(await c.running == 1)
        _ = await c.receive(result(first), from: "w1")
        #expect(w1.assigned == [first], "no second assignment while draining")
        #expect(await c.running == 0)
        #expect(await !c.isDone)
    }

    @Test func waitUntilWakesOnTheChangeThatMakesItTrue() async throws {
        let c = try coordinator(invocations: 1)
        let w1 = Link()
        _ = await c.register("w1", sizeMB: 1024, limits: limits, singleUse: false, link: w1)
        let id = try #require(w1.assigned.first)
        async let done: Void = c.waitUntil { $0.isDone }
        _ = await c.receive(.progress(Progress(invocationId: id, callsDone: 1)), from: "w1")
        _ = await c.receive(result(id), from: "w1")
        try await done
        #expect(await c.isDone)
    }

    @Test func waitUntilEndsWhenCancelled() async throws {
        let c = try coordinator()
        let waiter = Task { try await c.waitUntil { $0.isDone } }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }
}
