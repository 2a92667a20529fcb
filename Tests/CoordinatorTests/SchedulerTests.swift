import FanbenchBase
import FanbenchCoordinator
import FanbenchProtocol
import FanbenchReport
import Testing

@Suite struct RunPlanTests {
    let keys = (0..<10).map { "k\($0)" }

    @Test func shardsAreContiguousAndComplete() {
        let shards = RunPlan.shards(keys, size: 4)
        #expect(shards.map(\.count) == [4, 4, 2])
        #expect(shards.flatMap { $0 } == keys)
        #expect(RunPlan.shards(keys, size: nil) == [keys])
        #expect(RunPlan.shards(keys, size: 50) == [keys])
    }

    @Test func planIsSizesTimesStrategiesTimesInvocationsTimesShards() throws {
        let sizes = [try LambdaSize(memoryMB: 128), try LambdaSize(memoryMB: 1024)]
        let plan = try RunPlan.make(sizes: sizes, strategies: [.serial, .async(8)], invocations: 3, keys: keys, shardSize: 4)
        #expect(plan.configs.count == 4)
        #expect(plan.shardsPerRepetition == 3)
        #expect(plan.invocations.count == 4 * 3 * 3)
        #expect(Set(plan.invocations.map(\.id)).count == plan.invocations.count)
        // Every configuration sees every key exactly `invocations` times.
        for config in plan.configs {
            let calls = plan.invocations.filter { $0.config == config }.flatMap { $0.keys ?? [] }
            #expect(calls.count == 30)
        }
    }

    @Test func seedModeListsPerInvocationAndRefusesShards() throws {
        let plan = try RunPlan.make(sizes: [try LambdaSize(memoryMB: 512)], strategies: [.serial], invocations: 2, keys: nil, shardSize: nil)
        #expect(plan.invocations.allSatisfy { $0.keys == nil })
        #expect(throws: FanbenchError.self) {
            try RunPlan.make(sizes: [try LambdaSize(memoryMB: 512)], strategies: [.serial], invocations: 2, keys: nil, shardSize: 10)
        }
        #expect(throws: FanbenchError.self) { try RunPlan.make(sizes: [], strategies: [.serial], invocations: 1, keys: keys, shardSize: nil) }
        #expect(throws: FanbenchError.self) { try RunPlan.make(sizes: LambdaSize.seedSizes, strategies: [.serial], invocations: 0, keys: keys, shardSize: nil) }
    }
}

@Suite struct SchedulerTests {
    func plan(invocations: Int = 2) throws -> RunPlan {
        try RunPlan.make(sizes: [try LambdaSize(memoryMB: 128), try LambdaSize(memoryMB: 1024)], strategies: [.serial],
                         invocations: invocations, keys: ["a", "b"], shardSize: nil)
    }

    func assigned(_ actions: [Scheduler.Action]) -> [(String, String)] {
        actions.compactMap { if case .assign(let i, let w) = $0 { return (i, w) } else { return nil } }
    }

    @Test func dispatchesOnlyToWorkersOfTheRightSize() throws {
        var s = Scheduler(plan: try plan())
        let a = assigned(s.workerJoined("w1024", sizeMB: 1024, now: 0))
        #expect(a.count == 1)
        #expect(s.specs[a[0].0]?.config.size.memoryMB == 1024)
        #expect(s.remaining(sizeMB: 128) == 2)
        #expect(s.remaining(sizeMB: 1024) == 2)
    }

    @Test func resultsCompleteOnceAndFromTheAssigneeOnly() throws {
        var s = Scheduler(plan: try plan(invocations: 1))
        let (inv, _) = assigned(s.workerJoined("w", sizeMB: 128, now: 0))[0]
        #expect(s.resultArrived(inv, from: "intruder", now: 1).accept == false)
        #expect(s.resultArrived(inv, from: "w", now: 1).accept == true)
        #expect(s.resultArrived(inv, from: "w", now: 2).accept == false)
        #expect(s.remaining(sizeMB: 128) == 0)
        #expect(!s.isDone)
        let (inv2, _) = assigned(s.workerJoined("x", sizeMB: 1024, now: 3))[0]
        _ = s.resultArrived(inv2, from: "x", now: 4)
        #expect(s.isDone)
    }

    @Test func lostWorkersWorkIsRequeuedOnAnotherAndCounted() throws {
        var s = Scheduler(plan: try plan(invocations: 1))
        let (inv, _) = assigned(s.workerJoined("w1", sizeMB: 128, now: 0))[0]
        #expect(s.workerLost("w1").isEmpty)
        let again = assigned(s.workerJoined("w2", sizeMB: 128, now: 5))
        #expect(again.map(\.0) == [inv])
        #expect(s.reassigned[0] == 1)
        // The dead worker's late result must not count.
        #expect(s.resultArrived(inv, from: "w1", now: 6).accept == false)
        #expect(s.resultArrived(inv, from: "w2", now: 6).accept == true)
    }

    @Test func attemptsAreBounded() throws {
        var s = Scheduler(plan: try plan(invocations: 1), maxAttempts: 2)
        let (inv, _) = assigned(s.workerJoined("a", sizeMB: 128, now: 0))[0]
        _ = s.workerLost("a")
        _ = s.workerJoined("b", sizeMB: 128, now: 1)
        let actions = s.workerLost("b")
        #expect(actions.contains(.abandon(invocationID: inv, reason: s.abandoned[inv]!)))
        #expect(s.remaining(sizeMB: 128) == 0)
    }

    @Test func silentBusyWorkersAreDropped() throws {
        var s = Scheduler(plan: try plan(invocations: 1))
        _ = s.workerJoined("quiet", sizeMB: 128, now: 0)
        _ = s.workerJoined("idle", sizeMB: 1024, now: 0)
        s.heard(from: "idle", now: 0)
        #expect(s.checkSilence(now: 5_000_000_000, silence: 10_000_000_000).isEmpty)
        s.heard(from: "idle", now: 9)
        let actions = s.checkSilence(now: 11_000_000_000, silence: 10_000_000_000)
        let dropped = actions.compactMap { if case .dropWorker(let w, _) = $0 { return w } else { return nil } }
        #expect(dropped.sorted() == ["idle", "quiet"])  // both were busy (each got its size's invocation)
        #expect(s.workerCount == 0)
    }

    @Test func aSizeWhoseWorkersAreAllLostIsWaitedForThenItsInvocationsAbandoned() throws {
        var s = Scheduler(plan: try plan(invocations: 3), maxAttempts: 5)
        let s1 = UInt64(1_000_000_000)
        let (first, _) = assigned(s.workerJoined("only", sizeMB: 128, now: 0))[0]
        _ = s.resultArrived(first, from: "only", now: 1)
        _ = s.workerLost("only")
        // 1024 MB never had a worker (a later phase): never given up. 128 MB is waited for.
        #expect(s.checkUnserved(now: 2 * s1, timeout: 10 * s1).isEmpty)
        #expect(s.checkUnserved(now: 11 * s1, timeout: 10 * s1).isEmpty, "timed from when the last worker was seen gone")
        let abandoned = s.checkUnserved(now: 12 * s1 + 1, timeout: 10 * s1).compactMap { a -> String? in
            if case .abandon(let id, let reason) = a, reason.contains("no 128 MB worker for 10 s") { return id }
            return nil
        }
        #expect(abandoned.count == 2, "both waiting 128 MB invocations, each with the reason")
        #expect(s.remaining(sizeMB: 128) == 0 && s.remaining(sizeMB: 1024) == 3)
        // A replacement in time resets the clock.
        var t = Scheduler(plan: try plan(invocations: 2))
        _ = t.workerJoined("a", sizeMB: 128, now: 0)
        _ = t.workerLost("a")
        _ = t.checkUnserved(now: 1, timeout: 10 * s1)
        _ = t.workerJoined("b", sizeMB: 128, now: 5 * s1)
        _ = t.workerLost("b")
        #expect(t.checkUnserved(now: 12 * s1, timeout: 10 * s1).isEmpty)
    }

    @Test func singleUseWorkersAreRetiredAfterTheirResult() throws {
        var s = Scheduler(plan: try plan(invocations: 2))
        let (inv, _) = assigned(s.workerJoined("cold", sizeMB: 128, singleUse: true, now: 0))[0]
        let (accept, next) = s.resultArrived(inv, from: "cold", now: 1)
        #expect(accept)
        #expect(assigned(next).isEmpty, "a cold worker must not be sent a second invocation")
        #expect(s.workerCount == 0)
        #expect(s.reassigned.isEmpty)
    }

    @Test func aFailureAloneOnItsSizeIsRetriedOnTheSameWorker() throws {
        var s = Scheduler(plan: try plan(invocations: 1))
        let (inv, _) = assigned(s.workerJoined("w", sizeMB: 128, now: 0))[0]
        let next = assigned(s.invocationFailed(inv, from: "w", reason: "boom", now: 1))
        #expect(next.map(\.0) == [inv], "no other worker of its size: the same one tries again")
    }

    @Test func aFailureGoesToAnotherWorkerWhenThereIsOne() throws {
        var s = Scheduler(plan: try plan(invocations: 2))
        let first = assigned(s.workerJoined("a", sizeMB: 128, now: 0))[0].0
        let second = assigned(s.workerJoined("b", sizeMB: 128, now: 0))[0].0
        #expect(assigned(s.invocationFailed(first, from: "a", reason: "boom on a", now: 1)).isEmpty, "a does not take it straight back")
        let (accept, next) = s.resultArrived(second, from: "b", now: 2)
        #expect(accept)
        #expect(assigned(next).map(\.0) == [first] && assigned(next).map(\.1) == ["b"], "tried again on b")
    }

    @Test func aWorkerThatFailedOneInvocationTakesTheNextOne() throws {
        var s = Scheduler(plan: try plan(invocations: 3))
        let x = assigned(s.workerJoined("a", sizeMB: 128, now: 0))[0].0
        _ = assigned(s.workerJoined("b", sizeMB: 128, now: 0))
        let next = assigned(s.invocationFailed(x, from: "a", reason: "boom on a", now: 1))
        #expect(next.count == 1 && next[0].1 == "a" && next[0].0 != x, "a works on the third invocation; the failed one waits for b")
    }

    @Test func anAssignmentStartsItsWorkersSilenceClock() throws {
        var s = Scheduler(plan: try plan(invocations: 2))
        let a1 = assigned(s.workerJoined("a", sizeMB: 128, now: 0))[0].0
        _ = s.resultArrived(a1, from: "a", now: 1_000_000_000)      // a finishes and takes the second invocation
        let b = assigned(s.workerJoined("b", sizeMB: 128, now: 1_000_000_000))
        #expect(b.isEmpty)
        // 100 s later b is still idle (nothing to do); a is heard from; then a is lost and b is assigned its work.
        s.heard(from: "a", now: 100_000_000_000)
        #expect(s.workerLost("a").isEmpty == false)
        #expect(s.checkSilence(now: 101_000_000_000, silence: 15_000_000_000).isEmpty,
                "b was idle for 100 s, not silent while busy: its clock starts at the assignment")
    }

    @Test func lossesWhileDrainingAreInterruptionsNotLosses() throws {
        var s = Scheduler(plan: try plan(invocations: 1), maxAttempts: 1)
        let (inv, _) = assigned(s.workerJoined("w", sizeMB: 128, now: 0))[0]
        s.drain()
        #expect(s.workerLost("w").isEmpty, "nothing abandoned, nothing re-dispatched")
        #expect(s.abandoned.isEmpty && s.reassigned.isEmpty)
        #expect(s.remaining(sizeMB: 128) == 1 && s.running == 0)
        _ = inv
    }
}

@Suite struct LambdaSizeTests {
    @Test func cpuAndCoresFollowTheModel() throws {
        let s128 = try LambdaSize(memoryMB: 128)
        #expect(abs(s128.cpu - 128.0 / 1769) < 1e-12)
        #expect(s128.cfsQuotaMicros == 7236)
        #expect(try LambdaSize(memoryMB: 1769).cfsQuotaMicros == 100_000)
        #expect(try LambdaSize(memoryMB: 3008).lambdaCores == 2)
        #expect(try LambdaSize(memoryMB: 3009).lambdaCores == 3)
        #expect(try LambdaSize(memoryMB: 10240).lambdaCores == 6)
        #expect(try LambdaSize(memoryMB: 10240).cores(hostCores: 2) == 2)
        #expect(s128.memoryBytes == 134_217_728)
        #expect(throws: FanbenchError.self) { try LambdaSize(memoryMB: 64) }
        #expect(try LambdaSize.parseList("1024, 128,128").map(\.memoryMB) == [128, 1024])
        #expect(throws: FanbenchError.self) { try LambdaSize.parseList("128,big") }
    }
}

@Suite struct ConfigAggregateTests {
    @Test func mergesResultsAndJudgesEnforcement() throws {
        let size = try LambdaSize(memoryMB: 128)
        var a = ConfigAggregate(config: ConfigSpec(index: 0, size: size, strategy: .serial))
        var r1 = CallRecorder()
        for _ in 0..<9 { r1.record(nanoseconds: 2_000_000, retries: 0) }
        var r2 = CallRecorder()
        r2.record(nanoseconds: 90_000_000, retries: 1, errorCode: "SlowDown")
        let limits = WorkerLimits(cpu: size.cpu * 1.005, memoryBytes: size.memoryBytes, cores: 2, cgroup: "v1")
        a.add(InvocationResult(invocationId: "1", durationMs: 100, calls: r1.calls, errors: r1.errors, retries: r1.retries,
                               histogram: r1.snapshot(), maxMemoryBytes: 10, cpuMs: 5, throttledMs: 1), limits: limits)
        a.add(InvocationResult(invocationId: "2", durationMs: 300, calls: r2.calls, errors: r2.errors, retries: r2.retries,
                               histogram: r2.snapshot(), maxMemoryBytes: 20, cpuMs: 5, throttledMs: 0), limits: limits)
        #expect(a.invocations == 2)
        #expect(a.meanMs == 200)
        #expect(a.calls.calls == 10)
        #expect(a.calls.errors == ["SlowDown": 1])
        #expect(a.calls.retries == 1)
        #expect(abs(a.calls.percentileMs(50) - 2) < 0.01)
        #expect(abs(a.calls.percentileMs(100) - 90) < 0.1)
        #expect(a.maxMemoryBytes == 20)
        #expect(a.cpuMsPerCall == 1)
        #expect(a.enforced)
        a.add(InvocationResult(invocationId: "3", durationMs: 1, calls: 0, errors: [:], retries: 0, histogram: HistogramSnapshot(counts: []),
                               maxMemoryBytes: 0, cpuMs: 0, throttledMs: 0), limits: .none)
        #expect(!a.enforced, "an uncapped result must never pass as capped")
        #expect(Stats.percentile([5, 1, 3, 2, 4], 50) == 3)
        #expect(Stats.percentile([5, 1, 3, 2, 4], 100) == 5)
    }
}

@Suite struct CPUBudgetTests {
    @Test func workersFitTheBudgetButAtLeastOneRuns() throws {
        let budget = 1.5
        #expect(LocalLauncher.workersThatFit(size: try LambdaSize(memoryMB: 128), budget: budget, wanted: 100) == 20)
        #expect(LocalLauncher.workersThatFit(size: try LambdaSize(memoryMB: 128), budget: budget, wanted: 3) == 3)
        #expect(LocalLauncher.workersThatFit(size: try LambdaSize(memoryMB: 1024), budget: budget, wanted: 4) == 2)
        // A size bigger than the whole budget still runs, alone (reported as oversubscribed).
        #expect(LocalLauncher.workersThatFit(size: try LambdaSize(memoryMB: 3008), budget: budget, wanted: 4) == 1)
    }
}
