import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import FanbenchCoordinator
import FanbenchReport
import Foundation

/// `fanbench tune`: the best concurrency per size.
struct TuneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Find, per memory size, the concurrency (async:N or threads:N) that minimises mean duration, cost or both.",
        discussion: """
            Doubles N from 1 until a step is not a significant improvement (the compare test), or N reaches \
            the keys an invocation calls or --max-concurrency, then tries the midpoints around the best. Every \
            point is a stored run. Prints the curve per size, the best N and the knee (the smallest N the best \
            is not significantly better than). A plan's tune: block sets strategy, goal and max_concurrency.
            """)
    @Argument(help: "A plan file (YAML): its target, sizes, invocations and tune: block; flags override it.") var plan: String?
    @OptionGroup var global: GlobalOptions
    @OptionGroup var s3: S3Options
    @OptionGroup var keys: KeySelectionOptions
    @Option(help: "Lambda memory sizes, MB, comma-separated (default: the plan's, else 128,1024).") var sizes: SizeList?
    @Option(help: "The strategy whose concurrency is searched: async (default) or threads.") var strategy: String?
    @Option(help: "duration (default), cost or balanced (--balance-weight).") var goal: TuneResult.Goal?
    @Option(help: "The largest concurrency tried (default 256; never more than the keys an invocation calls).") var maxConcurrency: Int?
    @Option(help: "Invocations per point (default 5).") var invocations: Int?
    @Flag(help: "Run local workers without caps when cgroups cannot be written (results marked enforced: false).") var allowUncapped = false
    @Option(help: "The fanbench-worker binary (default: next to fanbench).") var workerBinary: String?
    @Option(help: "Write the result as JSON (schema fanbench.tune/v1) to this file.") var json: String?
    @Option(help: "Write the curves as a self-contained HTML page to this file.") var html: String?
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var pricing: PricingOptions

    func run() async throws {
        try await reportingErrors {
            let file = try plan.map { path throws(PlanError) in try PlanFile.load(path: path) }
            var r = RunSession.Request()
            r.planFile = plan
            r.stateDirectory = global.stateDirectory
            r.s3 = s3.settings
            keys.apply(to: &r)
            r.invocations = invocations
            r.allowUncapped = allowUncapped
            r.workerBinary = workerBinary
            r.databasePath = database.path(stateDirectory: global.stateDirectory)
            r.analysis = try pricing.validated()
            let family = strategy ?? file?.tune?.strategy ?? "async"
            let goalText = file?.tune?.goal
            guard let goal = goal ?? (goalText.map { TuneResult.Goal(rawValue: $0) } ?? .duration) else {
                throw FanbenchError.badInput("the plan's tune.goal '\(goalText!)' is not one of duration, cost, balanced")
            }
            let defaultSizes = [try LambdaSize(memoryMB: 128), try LambdaSize(memoryMB: 1024)]
            let sizes = self.sizes?.sizes ?? file?.sizes ?? defaultSizes
            let session = TuneSession(base: r, family: family, goal: goal, maxConcurrency: maxConcurrency ?? file?.tune?.maxConcurrency ?? 256)
            let result = try await session.run(sizes: sizes)
            try ReportOutput.write(result.render() + "stored as \(result.id) in \(r.databasePath!) (each point is a run: fanbench report RUN)\n", to: nil)
            if let json {
                try ReportOutput.write(String(decoding: try JSONCoding.encoder(pretty: true).encode(result), as: UTF8.self) + "\n", to: json)
            }
            if let html { try ReportOutput.write(result.html(), to: html) }
        }
    }
}

extension TuneResult.Goal: ExpressibleByArgument {}
