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
