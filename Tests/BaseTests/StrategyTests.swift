@testable import FanbenchBase
import Testing

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
