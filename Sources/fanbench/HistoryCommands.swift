import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import FanbenchCoordinator
import FanbenchReport
import FanbenchStore
import Foundation

/// Where runs are kept: --db, else FANBENCH_DB, else fanbench.db in the state folder.
struct DatabaseOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The run database, SQLite (env FANBENCH_DB; default: fanbench.db in the state folder).", valueName: "file"))
    var db: String?

    func path(stateDirectory: String) -> String {
        db ?? ProcessInfo.processInfo.environment["FANBENCH_DB"] ?? stateDirectory + "/fanbench.db"
    }

    /// Opens an existing database; reading commands never create one by mistake.
    func openExisting(stateDirectory: String) throws -> RunStore {
        let path = path(stateDirectory: stateDirectory)
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError.noDatabase(path)
        }
        return try RunStore(path: path)
    }
}

/// Prices and the balance between speed and cost, for every command that derives cost.
struct PricingOptions: ParsableArguments {
    @Option(help: "x86 price, USD per GB-second (default 0.0000166667).") var priceX86: Double?
    @Option(help: "arm64 price, USD per GB-second (default 0.0000133334).") var priceArm64: Double?
    @Option(help: "Request fee, USD per million invocations (default 0.20).") var requestPrice: Double?
    @Option(help: "Balanced recommendation: 0 = speed only, 1 = cost only (default 0.5).") var balanceWeight: Double = 0.5
    @Option(help: ArgumentHelp("Robust means: drop this fraction of invocations from each end (0 ≤ F < 0.5; power-tuning's discardTopBottom; default 0). Reports show the trimmed and the plain mean; recommendations and costs use the trimmed.", valueName: "fraction"))
    var trim: Double = 0

    func validated() throws -> RunReport.Analysis {
        var p = Pricing()
        if let v = priceX86 { p.x86UsdPerGbSecond = v }
        if let v = priceArm64 { p.arm64UsdPerGbSecond = v }
        if let v = requestPrice { p.usdPerMillionRequests = v }
        guard [p.x86UsdPerGbSecond, p.arm64UsdPerGbSecond, p.usdPerMillionRequests].allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw FanbenchError("prices must be zero or more: check --price-x86, --price-arm64 and --request-price", exitCode: 2)
        }
        guard (0...1).contains(balanceWeight) else {
            throw FanbenchError("--balance-weight \(balanceWeight) is outside 0…1: 0 weighs speed only, 1 cost only", exitCode: 2)
        }
        guard trim >= 0, trim < 0.5 else {
            throw FanbenchError("--trim \(trim) is outside 0 ≤ F < 0.5: it is the fraction dropped from each end (0.1 drops the fastest and slowest 10%)", exitCode: 2)
        }
        return RunReport.Analysis(pricing: p, balanceWeight: balanceWeight, trim: trim)
    }
}

/// `fanbench runs`: one line per stored run.
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List the stored runs, oldest first.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try await reportingErrors {
            let store = try database.openExisting(stateDirectory: global.stateDirectory)
            let runs = try store.runs()
            guard !runs.isEmpty else {
                say("no runs in \(store.path) yet: `fanbench run` adds one")
                return
            }
            var rows: [[String]] = [["id", "started (UTC)", "target", "op", "configs", "invocations", "status"]]
            let f = DateFormatter()
            f.dateFormat = "yyyy-MM-dd HH:mm:ss"
            f.timeZone = TimeZone(identifier: "UTC")
            for r in runs {
                rows.append([r.id, f.string(from: r.startedAt), "\(r.endpoint)/\(r.bucket)" + (r.emulated ? " (emulated)" : ""), r.op,
                             String(r.configs), "\(r.invocations)/\(r.plannedInvocations)", r.status])
            }
            FileHandle.standardOutput.write(Data(ReportTables.render(rows).utf8))
        }
    }
}

/// `fanbench report`: a stored run in any format.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Show a stored run: table, markdown, json (as run --json wrote it), csv (a row per configuration) or html (charts).")
    @Argument(help: "Run id, or latest.") var run: String = "latest"
    @OptionGroup var global: GlobalOptions
    @OptionGroup var database: DatabaseOptions
    @Option(help: "table, markdown, json, csv or html.") var format: ReportFormat = .table
    @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file")) var out: String?
    @OptionGroup var pricing: PricingOptions

    func run() async throws {
        try await reportingErrors {
            let analysis = try pricing.validated()
            let store = try database.openExisting(stateDirectory: global.stateDirectory)
            var report = try store.report(run)
            report.derive(analysis)
            try ReportOutput.write(try format.render(report), to: out)
            if let out { FileHandle.standardError.write(Data("fanbench: wrote \(format.rawValue) report of run \(report.runId) to \(out)\n".utf8)) }
        }
    }
}

/// `fanbench compare A B`, and the CI gate.
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Per configuration, how run B's mean, p99 and cost differ from run A's, and whether it is beyond the noise.",
        discussion: """
            A and B are stored run ids (or latest) or JSON reports (run --json). In CI:
              fanbench compare --baseline base.json new.json --fail-if-slower 10
            exits 1 when a configuration of B is significantly slower than the baseline's by more than 10% \
            (one-sided test per configuration, Holm-corrected over all of them).
            """)
    @Argument(help: "Run A (id, latest, or a JSON report); with --baseline, the one run to check (B).") var runA: String
    @Argument(help: "Run B (id, latest, or a JSON report).") var runB: String?
    @Option(help: ArgumentHelp("A JSON report to compare against (A), so a CI job needs no database.", valueName: "file")) var baseline: String?
    @Option(help: ArgumentHelp("Exit 1 when a configuration of B is significantly slower than A's by more than PCT percent.", valueName: "pct")) var failIfSlower: Double?
    @Option(help: "What --fail-if-slower tests: mean (default), p99 or cost.") var metric: RegressionGate.Metric = .mean
    @OptionGroup var global: GlobalOptions
    @OptionGroup var database: DatabaseOptions
    @Option(help: "table, markdown or json.") var format: ComparisonFormat = .table
    @OptionGroup var pricing: PricingOptions

    func run() async throws {
        try await reportingErrors {
            let analysis = try pricing.validated()
            if let pct = failIfSlower, !(pct >= 0 && pct.isFinite) {
                throw FanbenchError("--fail-if-slower \(pct) must be a percentage of 0 or more, e.g. --fail-if-slower 10", exitCode: 2)
            }
            let (nameA, nameB): (String, String)
            if let baseline {
                guard runB == nil else {
                    throw FanbenchError("with --baseline \(baseline) give one run to check, not two (got \(runA) and \(runB!))", exitCode: 2)
                }
                (nameA, nameB) = (baseline, runA)
            } else {
                guard let runB else {
                    throw FanbenchError("compare needs two runs, A and B (ids, latest, or JSON reports), or --baseline FILE and one run", exitCode: 2)
                }
                (nameA, nameB) = (runA, runB)
            }
            var store: RunStore?
            func load(_ name: String) throws -> RunReport {
                if ReportFile.looksLikeFile(name) { return try ReportFile.read(name) }
                if store == nil { store = try database.openExisting(stateDirectory: global.stateDirectory) }
                return try store!.report(name)
            }
            var a = try load(nameA), b = try load(nameB)
            a.derive(analysis)
            b.derive(analysis)
            let comparison = RunComparison.compare(a, b)
            let gate = failIfSlower.map { RegressionGate.evaluate(a, b, metric: metric, thresholdPct: $0) }
            switch format {
            case .table: try ReportOutput.write(comparison.render() + (gate.map { "\n" + $0.render() } ?? ""), to: nil)
            case .markdown: try ReportOutput.write(comparison.render(markdown: true) + (gate.map { "\n" + $0.render() } ?? ""), to: nil)
            case .json:
                struct Both: Encodable { var comparison: RunComparison; var gate: RegressionGate? }
                let data = gate == nil ? try JSONCoding.encoder(pretty: true).encode(comparison)
                    : try JSONCoding.encoder(pretty: true).encode(Both(comparison: comparison, gate: gate))
                try ReportOutput.write(String(decoding: data, as: UTF8.self) + "\n", to: nil)
            }
            if gate?.failed == true { throw ExitCode(1) }
        }
    }
}

/// `compare --format`.
enum ComparisonFormat: String, CaseIterable, ExpressibleByArgument {
    case table, markdown, json
}

extension ReportFormat: ExpressibleByArgument {}
extension RegressionGate.Metric: ExpressibleByArgument {}
