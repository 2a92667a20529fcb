import Testing
@testable import FanbenchCore

@Suite struct StrategyTests {
    @Test func parsesTheThreeStrategies() throws {
        #expect(try Strategy(parsing: "serial") == .serial)
        #expect(try Strategy(parsing: "threads:16") == .threads(16))
        #expect(try Strategy(parsing: "ASYNC:32") == .async(32))
        #expect(Strategy.threads(16).description == "threads:16")
        #expect(Strategy.async(8).name == "async")
        #expect(Strategy.serial.concurrency == 1)
    }

    @Test(arguments: ["threads", "async:0", "async:2000", "serial:3", "pool:4", "", "threads:x"])
    func refusesWithUsage(text: String) {
        do {
            _ = try Strategy(parsing: text)
            Issue.record("accepted '\(text)'")
        } catch {
            #expect(error.message.contains("serial, threads:N or async:N"))
            #expect(error.exitCode == 2)
        }
    }
}

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

@Suite struct SeederTests {
    @Test func keysArePaddedAndSortable() {
        #expect(Seeder.key(42, count: 100, prefix: "p/") == "p/obj-000042")
        #expect(Seeder.key(5, count: 10_000_000, prefix: "") == "obj-0000005")
        let keys = (0..<1500).map { Seeder.key($0, count: 1500, prefix: "") }
        #expect(keys == keys.sorted())
    }
}
