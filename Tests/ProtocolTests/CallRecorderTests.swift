import FanbenchProtocol
import Testing

@Suite struct CallRecorderTests {
    @Test func mergesHistogramsNotAverages() {
        var fast = CallRecorder()
        for _ in 0..<99 { fast.record(nanoseconds: 1_000_000, retries: 0) }
        var slow = CallRecorder()
        slow.record(nanoseconds: 500_000_000, retries: 2, errorCode: "SlowDown")
        var all = CallRecorder()
        all.merge(fast)
        all.merge(slow)
        #expect(all.calls == 100)
        #expect(all.retries == 2)
        #expect(all.errors == ["SlowDown": 1])
        #expect(all.errorCount == 1)
        // The merged p50 is the fast calls' 1 ms; an average of the two sides' p50s would be ~250 ms.
        #expect(abs(all.percentileMs(50) - 1.0) < 0.01)
        #expect(abs(all.percentileMs(100) - 500) < 1)
    }

    @Test func emptyRecorderReportsZero() {
        #expect(CallRecorder().percentileMs(99) == 0)
    }
}

@Suite struct CallRecorderBoundsTests {
    @Test func manyDistinctErrorCodesFoldIntoOther() {
        var r = CallRecorder()
        for i in 0..<1000 { r.record(nanoseconds: 1000, retries: 0, errorCode: "Code\(i)" + String(repeating: "x", count: 500)) }
        #expect(r.errors.count == CallRecorder.maxErrorCodes)
        #expect(r.errorCount == 1000, "nothing lost, only folded")
        #expect(r.errors.keys.allSatisfy { $0.utf8.count <= CallRecorder.maxErrorCodeBytes })
        #expect(r.errors["Other"] == 1000 - (CallRecorder.maxErrorCodes - 1))
    }
}
