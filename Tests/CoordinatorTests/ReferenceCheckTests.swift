import FanbenchBase
@testable import FanbenchCoordinator
import FanbenchProtocol
import FanbenchReport
import Foundation
import Testing

/// `fanbench calibrate --evaluate`: stored runs against a reference, over reports made here
/// (the store's round trip of a report is RunStoreTests'; the command's, CalibrateIntegrationTests').
@Suite struct ReferenceCheckTests {
    static let reference = try! CalibrationReference.parse(Data("""
        {"cells": {"128": {"serial": 1000, "threads": 2000}, "1024": {"serial": 500, "threads": 400}},
         "fit_cells": [128], "held_out_cells": [1024]}
        """.utf8), path: "ref.json")

    /// A run of the blog's functions: `cells` maps (MB, function) to the invocations' durations; `failed` fails one.
    static func report(_ id: String, _ cells: [(Int, String, [Double])], failed: Set<String> = [], invocations: Int = 2, cold: Bool = false) -> RunReport {
        var configs: [RunReport.Config] = []
        for (i, (mb, function, durations)) in cells.enumerated() {
            let size = try! LambdaSize(memoryMB: mb)
            var a = ConfigAggregate(config: ConfigSpec(index: i, size: size, strategy: .function(function)))
            for (k, ms) in durations.enumerated() {
                var result = InvocationResult(invocationId: "\(id)-\(i)-\(k)", durationMs: ms, calls: 100, errors: [:], retries: 0,
                                              histogram: HistogramSnapshot(counts: [[16_000, 100]]), maxMemoryBytes: 1 << 20, cpuMs: 1, throttledMs: 0)
                if k == 0, failed.contains("\(mb)/\(function)") { result.functionError = .init(type: "Runtime.ExitError", message: "exit 1") }
                a.add(result, limits: WorkerLimits(cpu: size.cpu, memoryBytes: size.memoryBytes, cgroup: "v1"))
            }
            var c = RunReport.config(from: a)
            c.function = function
            configs.append(c)
        }
        var r = RunReport(runId: id, fanbenchVersion: "t", status: "complete", startedAt: Date(), finishedAt: nil, host: .init(cores: 2, cgroup: "v1"),
                          target: .init(endpoint: "e", bucket: "b", prefix: nil, op: "get-object-acl", emulation: nil),
                          plan: .init(sizes: [128, 1024], strategies: [], invocations: invocations, listing: "invocation", workers: "local", cold: cold, oversubscribedSizes: []),
                          configs: configs)
        r.derive()
        return r
    }

    @Test func eachCellHasEveryRunsDeviationTheirMeanAndRangeAndHowManyRunsHadItInside() throws {
        let a = Self.report("run-a", [(128, "boto3-serial", [1100, 1100]), (128, "boto3-threads", [1500, 1500]), (1024, "boto3-serial", [550, 550])])
        let b = Self.report("run-b", [(128, "boto3-serial", [1300, 1300]), (128, "boto3-threads", [1900, 1900]), (1024, "boto3-serial", [590, 590])])
        let check = try ReferenceCheck(reference: Self.reference, reports: [a, b], fitted: [128])
        // 1024 MB threads was in neither run: no row.
        #expect(check.rows.map { "\($0.memoryMb) \($0.column)" } == ["128 serial", "128 threads", "1024 serial"])
        let serial = try #require(check.rows.first)
        #expect(serial.deviations.map { ($0 * 1000).rounded() / 10 } == [10, 30])
        // Fitted ±15%: 128 serial +10 (in) and +30 (out); threads −25, −5; held out ±20%: 1024 serial +10, +18.
        #expect(check.insideByRun.map(\.inside) == [2, 2] && check.insideByRun.map(\.of) == [3, 3])
        let table = check.table
        #expect(table.contains("+10.0%") && table.contains("+30.0%") && table.contains("+20.0%"))  // serial's mean
        #expect(table.contains("+10.0% … +30.0%"))
        #expect(table.contains("inside (±15% fitted, ±20% held out): run 1 run-a 2 of 3; run 2 run-b 2 of 3"))
        let lines = table.split(separator: "\n")
        #expect(lines.contains { $0.contains("1024") && $0.contains("held out") && $0.hasSuffix("2 of 2") })
        #expect(lines.contains { $0.contains("128") && $0.contains("serial") && $0.hasSuffix("1 of 2") })
        // Wider bounds let more in.
        let loose = try ReferenceCheck(reference: Self.reference, reports: [a, b], fitted: [128], bounds: .init(fitted: 0.31, heldOut: 0.31))
        #expect(loose.insideByRun.map(\.inside) == [3, 3])
    }

    @Test func aCellWithFailedInvocationsIsShownAsSuchAndNotCounted() throws {
        let a = Self.report("run-a", [(128, "boto3-serial", [1000, 1000]), (128, "boto3-threads", [2000, 2000])], failed: ["128/boto3-threads"])
        let check = try ReferenceCheck(reference: Self.reference, reports: [a], fitted: [128])
        #expect(check.rows[1].entries == [.failed(1)] && check.rows[1].deviations.isEmpty)
        #expect(check.insideByRun.map(\.of) == [1])
        #expect(check.table.contains("1 failed"))
    }

    @Test func aRunWithNoneOfTheReferencesCellsIsOneClearRefusal() throws {
        let good = Self.report("run-a", [(128, "boto3-serial", [1000])])
        let other = Self.report("run-x", [(512, "boto3-serial", [1000]), (128, "someone-else", [10])])
        #expect {
            _ = try ReferenceCheck(reference: Self.reference, reports: [good, other], fitted: [128])
        } throws: { error in
            let message = (error as? FanbenchError)?.message ?? ""
            return message.hasPrefix("run run-x measured none of the reference's cells (it ran function:boto3-serial, function:someone-else at 128, 512 MB")
                && message.contains("give runs of the reference's workload") && !message.contains("\n")
        }
    }

    // MARK: - Weighing a run's first invocation as the reference did

    /// The blog's means are over 100 invocations of one instance; a run of 5 has the first after
    /// init at 1 in 5. Held to a reference that says so, the first weighs 1 in 100.
    @Test func aReferenceOverManyInvocationsAnInstanceWeighsTheRunsFirstInvocationAsItDid() throws {
        var ref = Self.reference
        let run = Self.report("run-a", [(128, "boto3-threads", [6000, 2000, 2000, 2000, 2000])], invocations: 5)
        // Plain: 2800 against 2000, +40%: out of the fitted ±15%.
        let plain = try ReferenceCheck(reference: ref, reports: [run], fitted: [128])
        #expect(plain.rows[0].deviations.map { ($0 * 1000).rounded() / 10 } == [40])
        #expect(plain.table.contains("plain means (the reference does not say how many invocations an instance"))
        // A fanbench report as the reference ran the same plan: plain means, and the table says why.
        var report = ref
        report.isReport = true
        #expect(try ReferenceCheck(reference: report, reports: [run], fitted: [128]).table.contains("plain means (the reference is a fanbench report"))
        ref.invocationsPerInstance = 100
        let weighed = try ReferenceCheck(reference: ref, reports: [run], fitted: [128])
        // (6000 + 99 × 2000) ÷ 100 = 2040: +2%.
        #expect(weighed.rows[0].deviations.map { ($0 * 1000).rounded() / 10 } == [2])
        #expect(weighed.insideByRun.map(\.inside) == [1])
        #expect(weighed.table.contains("each run's mean weighs an instance's first invocation as 1 in 100, as the reference's did"))
        // A reference over as many invocations as the run: the plain mean.
        #expect(ReferenceCheck.referenceMean(run, config: 0, perInstance: 5) == 2800)
        // A cold plan's invocations are all firsts: left as they are.
        let cold = Self.report("run-c", [(128, "boto3-threads", [6000, 2000])], cold: true)
        #expect(ReferenceCheck.referenceMean(cold, config: 0, perInstance: 100) == 4000)
        // One invocation only: it is the first, and all there is.
        let one = Self.report("run-o", [(128, "boto3-threads", [6000])], invocations: 1)
        #expect(ReferenceCheck.referenceMean(one, config: 0, perInstance: 100) == 6000)
    }

    /// Two instances (workers) in one configuration: each one's earliest attempt is a first, found
    /// in the timeline; samples are in the order attempts ended.
    @Test func eachWorkersFirstAttemptInTheTimelineIsAFirstInvocation() throws {
        var run = Self.report("run-t", [(128, "boto3-threads", [6000, 5000, 2000, 1000])], invocations: 2)
        // Ended in the samples' order: w1's first (6000), w2's first (5000), then w2's and w1's second.
        run.timeline = [
            .init(invocation: "c0-r0-s0", worker: "w1", config: 0, startMs: 0, endMs: 6000, outcome: "ok"),
            .init(invocation: "c0-r0-s1", worker: "w2", config: 0, startMs: 100, endMs: 6100, outcome: "requeued"),
            .init(invocation: "c0-r0-s1", worker: "w2", config: 0, startMs: 1500, endMs: 6500, outcome: "ok"),
            .init(invocation: "c0-r1-s1", worker: "w2", config: 0, startMs: 6500, endMs: 8500, outcome: "ok"),
            .init(invocation: "c0-r1-s0", worker: "w1", config: 0, startMs: 7600, endMs: 8600, outcome: "ok"),
        ]
        // Firsts 6000 and 5000 (mean 5500), the rest 2000 and 1000 (1500): (5500 + 9 × 1500) ÷ 10.
        #expect(ReferenceCheck.referenceMean(run, config: 0, perInstance: 10) == 1900)
        // A timeline that does not account for every sample, and more samples than rounds: no way to tell.
        run.timeline?.removeLast()
        #expect(ReferenceCheck.referenceMean(run, config: 0, perInstance: 10) == 3500)
    }
}
