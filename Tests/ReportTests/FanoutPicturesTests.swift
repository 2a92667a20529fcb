import FanbenchBase
import FanbenchProtocol
@testable import FanbenchReport
import Foundation
import Testing

@Suite struct FanoutPicturesTests {
    static func aggregate(_ durations: [Double], spans: (Int) -> [[UInt32]]?) -> ConfigAggregate {
        let size = try! LambdaSize(memoryMB: 1024)
        var a = ConfigAggregate(config: ConfigSpec(index: 0, size: size, strategy: .async(2)))
        for (i, ms) in durations.enumerated() {
            var r = SampleReport.result("inv-\(i)", ms: ms)
            r.callSpansUs = spans(i)
            a.add(r, limits: WorkerLimits(cpu: size.cpu, memoryBytes: size.memoryBytes, cgroup: "v1"))
        }
        return a
    }

    @Test func theSlowestAndTheMedianInvocationsAreDrawn() {
        let a = Self.aggregate([100, 300, 120, 110, 900]) { i in [[0, 10_000], [UInt32(i) * 1000, 50_000]] }
        let w = RunReport.config(from: a).waterfalls ?? []
        #expect(w.map(\.which) == ["slowest", "median"])
        #expect(w[0].invocation == "inv-4" && w[1].invocation == "inv-2")
        #expect(w[1].callsMs == [[0, 10], [2, 50]])
    }

    @Test func spansThatMakeNoSenseAreDroppedNotDrawn() {
        let bad: [[[UInt32]]] = [[[5, 1]], [[1, 2, 3]], [[0, 9_000_000]], Array(repeating: [0, 1], count: CallRecorder.maxSpans + 1)]
        let a = Self.aggregate([100, 100, 100, 100]) { bad[$0] }
        #expect(a.spans.isEmpty && RunReport.config(from: a).waterfalls == nil)
    }

    @Test func theRecorderKeepsTheFirstThousandCallsAsOffsets() {
        var r = CallRecorder()
        for i in 0..<1500 { r.record(startNs: 1_000_000 + UInt64(i) * 1000, endNs: 3_000_000 + UInt64(i) * 1000, retries: 0) }
        var other = CallRecorder()
        other.record(startNs: 500_000, endNs: 600_000, retries: 0)
        other.merge(r)
        let offsets = other.spanOffsetsUs(from: 400_000)
        #expect(other.calls == 1501 && offsets.count == 1000)
        #expect(offsets[0] == [100, 200] && offsets[1] == [600, 2600])
    }

    @Test func theRecorderKnowsTheFirstStartAndTheLastEndOfEveryCall() {
        var a = CallRecorder()
        a.record(startNs: 5_000, endNs: 9_000, retries: 0)
        var b = CallRecorder()
        b.record(startNs: 2_000, endNs: 4_000, retries: 0)
        b.record(startNs: 6_000, endNs: 12_000, retries: 0)
        a.merge(b)
        #expect(a.firstStartNs == 2_000 && a.lastEndNs == 12_000)
        #expect(CallRecorder().firstStartNs == nil)
    }

    @Test func workerOverheadIsReportedAsPercentilesAndAbsurdFiguresAreNotBelieved() throws {
        let overheads: [[UInt32]?] = [[200, 50], [400, 70], [300, 60], nil, [1, 2, 3], [ConfigAggregate.maxOverheadUs + 1, 1]]
        let a = Self.aggregate(Array(repeating: 100, count: overheads.count)) { _ in nil }
        var b = ConfigAggregate(config: a.config)
        for (i, o) in overheads.enumerated() {
            var r = SampleReport.result("inv-\(i)", ms: 100)
            r.workerOverheadUs = o
            b.add(r, limits: WorkerLimits(cpu: a.config.size.cpu, memoryBytes: a.config.size.memoryBytes, cgroup: "v1"))
        }
        let o = try #require(RunReport.config(from: b).workerOverhead)
        #expect(o.invocations == 3 && o.startP50Ms == 0.3 && o.startP99Ms == 0.4 && o.finishP50Ms == 0.06)
        #expect(RunReport.config(from: a).workerOverhead == nil)
        let table = ReportTables.detailSection(SampleReport.make([(1024, .async(2), [100])]))
        #expect(!table.rows[0].contains("worker in p50/p99"), "no column when no configuration reported it")
    }

    @Test func theHeadlineSaysHowLongTheListingTookAndWhenDispatchStarted() throws {
        var r = SampleReport.make([(1024, .serial, [100])])
        #expect(!ReportTables.headline(r).contains { $0.hasPrefix("listed ") })
        r.plan.listingS = 21.04
        r.plan.firstAssignS = 1.434
        let line = try #require(ReportTables.headline(r).first { $0.hasPrefix("listed ") })
        #expect(line.hasSuffix("in 21.04 s; first assignment 1.43 s after the last page"), "\(line)")
        let back = try ReportFile.decode(try r.jsonData(), from: "r.json")
        #expect(back.plan.listingS == 21.04 && back.plan.firstAssignS == 1.434)
    }

    @Test func theTimelineHasALanePerWorkerAndMarksWhatWasRequeued() throws {
        var r = SampleReport.make([(128, .serial, [100]), (1024, .async(16), [50])])
        r.timeline = [
            .init(invocation: "a", worker: "w-128-1", config: 0, startMs: 0, endMs: 400, outcome: "requeued"),
            .init(invocation: "a", worker: "w-128-2", config: 0, startMs: 410, endMs: 510, outcome: "ok"),
            .init(invocation: "b", worker: "w-1024-1", config: 1, startMs: 5, endMs: 55, outcome: "ok"),
        ]
        let svg = try #require(FanoutCharts.timeline(r))
        #expect(svg.components(separatedBy: "<rect ").count - 1 == 3 + 2, "three bars and two legend keys")
        #expect(svg.components(separatedBy: "stroke=\"#d00\"").count - 1 == 1)
        #expect(svg.contains("w-128-2") && svg.contains("128 MB serial · a on w-128-1: 0 → 400 ms (400 ms) · requeued"))
        let html = HTMLReport.render(r)
        #expect(html.contains("Invocation timeline"))
        let back = try ReportFile.decode(try r.jsonData(), from: "r.json")
        #expect(back.timeline == r.timeline)
    }
}
