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

    func validated() throws -> (Pricing, Double) {
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
        return (p, balanceWeight)
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
            let (prices, weight) = try pricing.validated()
            let store = try database.openExisting(stateDirectory: global.stateDirectory)
            var report = try store.report(run)
            report.derive(pricing: prices, balanceWeight: weight)
            try ReportOutput.write(try format.render(report), to: out)
            if let out { FileHandle.standardError.write(Data("fanbench: wrote \(format.rawValue) report of run \(report.runId) to \(out)\n".utf8)) }
        }
    }
}

/// `fanbench compare A B`.
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Per configuration, how run B's mean, p99 and cost differ from run A's, and whether it is beyond the noise.")
    @Argument(help: "Run A (id or latest).") var runA: String
    @Argument(help: "Run B (id or latest).") var runB: String
    @OptionGroup var global: GlobalOptions
    @OptionGroup var database: DatabaseOptions
    @Option(help: "table, markdown or json.") var format: ComparisonFormat = .table
    @OptionGroup var pricing: PricingOptions

    func run() async throws {
        try await reportingErrors {
            let (prices, weight) = try pricing.validated()
            let store = try database.openExisting(stateDirectory: global.stateDirectory)
            var a = try store.report(runA), b = try store.report(runB)
            a.derive(pricing: prices, balanceWeight: weight)
            b.derive(pricing: prices, balanceWeight: weight)
            let comparison = RunComparison.compare(a, b)
            switch format {
            case .table: try ReportOutput.write(comparison.render(), to: nil)
            case .markdown: try ReportOutput.write(comparison.render(markdown: true), to: nil)
            case .json: try ReportOutput.write(String(decoding: try JSONCoding.encoder(pretty: true).encode(comparison), as: UTF8.self) + "\n", to: nil)
            }
        }
    }
}

/// `compare --format`.
enum ComparisonFormat: String, CaseIterable, ExpressibleByArgument {
    case table, markdown, json
}

extension ReportFormat: ExpressibleByArgument {}
