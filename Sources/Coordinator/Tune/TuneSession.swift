import FanbenchBase
import FanbenchReport
import FanbenchStore
import Foundation
import NIOConcurrencyHelpers

/// `fanbench tune`: for each size, the `TuneSearch` over `strategy:N`, each point a stored run of
/// that one configuration (sizes one after another, so they do not share the host's cores).
package struct TuneSession: Sendable {
    package var base: RunSession.Request
    package var family: String
    package var goal: TuneResult.Goal
    package var maxConcurrency: Int
    package var notice: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("fanbench: \($0)\n".utf8)) }

    package init(base: RunSession.Request, family: String, goal: TuneResult.Goal, maxConcurrency: Int) {
        self.base = base
        self.family = family
        self.goal = goal
        self.maxConcurrency = maxConcurrency
    }

    /// The strategy family a search varies: async or threads (a function takes no concurrency from fanbench).
    package static func strategy(_ family: String, _ n: Int) throws(FanbenchError) -> Strategy {
        switch family {
        case "async": return .async(n)
        case "threads": return .threads(n)
        default:
            throw FanbenchError.badInput("tune searches the concurrency of async or threads, not '\(family)' (serial has none; a function's own concurrency is its code's): pass --strategy async or --strategy threads")
        }
    }

    package func run(sizes: [LambdaSize]) async throws -> TuneResult {
        _ = try Self.strategy(family, 1)
        guard (1...1024).contains(maxConcurrency) else { throw FanbenchError.badInput("--max-concurrency must be 1 to 1024") }
        let id = "tune-" + RunSession.makeRunID()
        var result = TuneResult(id: id, startedAt: Date(), strategy: family, goal: goal, maxConcurrency: maxConcurrency,
                                invocationsPerPoint: base.invocations ?? 5)
        result.trim = base.analysis.trim > 0 ? base.analysis.trim : nil
        var search = TuneSearch(goal: goal, maxConcurrency: maxConcurrency)
        search.balanceWeight = base.analysis.balanceWeight
        let store = try RunStore(path: base.databasePath ?? base.stateDirectory + "/fanbench.db")
        let family = self.family, notice = self.notice, base = self.base
        let targetBox = Box<RunReport.Target>()
        for size in sizes.sorted(by: { $0.memoryMB < $1.memoryMB }) {
            let found = try await search.run(memoryMb: size.memoryMB, label: family) { n in
                var r = base
                r.sizes = [size]
                r.strategies = [try Self.strategy(family, n)]
                r.functions = []
                r.jsonPath = nil
                r.htmlPath = nil
                var session = RunSession(r)
                session.output = { _ in }
                let report = try await session.run()
                guard let config = report.configs.first, config.invocations.count > 0 else {
                    throw FanbenchError("the run \(report.runId) of \(size.memoryMB) MB \(family):\(n) finished no invocation: see fanbench report \(report.runId)")
                }
                targetBox.value = report.target
                notice(String(format: "tune: %d MB %@:%d → %.1f ms mean (run %@)", size.memoryMB, family, n, config.invocations.robustMeanMs, report.runId))
                return (config, report.runId)
            }
            result.sizes.append(found)
        }
        result.target = targetBox.value
        try store.saveTune(result)
        return result
    }
}

/// A value set from inside a @Sendable closure.
final class Box<T: Sendable>: Sendable {
    private let storage = NIOLockedValueBox<T?>(nil)
    var value: T? {
        get { storage.withLockedValue { $0 } }
        set { storage.withLockedValue { $0 = newValue } }
    }
}
