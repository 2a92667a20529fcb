import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import FanbenchCoordinator
import FanbenchReport
import FanbenchStore
import Foundation

/// `fanbench calibrate`: fit an emulation profile to real-Lambda figures.
struct CalibrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Fit an emulation profile (network and CPU) to real-Lambda figures by running the reference's workload on the local target.",
        discussion: """
            Runs the reference's columns (the seed blog's three handlers by default, through plans/seed-python.yaml) \
            on the fitted cells under candidate profiles — a compass search over the Lambda vCPU's CPU-probe score, \
            the CPU a function thread's block costs, the RTT median, the requests a second one instance's path \
            passes, its lognormal spread, a new connection's round trips and the tail rate — every candidate \
            a real, stored run; stops before the budget would be overrun, then checks the best with more invocations \
            on the fitted and the held-out cells. Writes the profile (with its fit) for `fanbench run --profile` and \
            a plan's profile:. The reference: the fidelity form (shared/fidelity/blog-2020.json) or a fanbench report \
            (run --json, e.g. from --workers lambda). A reference whose means are over many invocations of one instance \
            (the blog's 100, one after another: --reference-invocations 100, or the file's invocations_per_instance) \
            has each run's first invocation after init weigh 1 in that many, as it did there. With --evaluate, runs nothing: holds stored runs against the \
            reference, cell by cell (each run's deviation, their mean and range, how many runs had it inside its bound).
            """)
    @Option(help: ArgumentHelp("Real-Lambda figures: the fidelity JSON form or a fanbench report.", valueName: "file")) var reference: String?
    @Option(help: ArgumentHelp("How many invocations of one instance each of the reference's means is over (the seed blog's: 100); a run's first invocation on an instance then weighs 1 in N, as it did in the reference (default: the file's invocations_per_instance, else each run's plain mean).", valueName: "n"))
    var referenceInvocations: Int?
    @Option(help: "The cells (MB) to fit on, comma-separated (default: the reference's fit_cells, else all).") var cells: SizeList?
    @Option(help: ArgumentHelp("Cells only checked after the fit, comma-separated, or none (default: the reference's held_out_cells).", valueName: "mb,…|none")) var check: String?
    @Option(help: "Minutes the whole calibration may take, the check included.") var budget: Double = 30
    @Option(help: "The plan whose functions and target the reference's columns run with.") var plan: String = "plans/seed-python.yaml"
    @Option(help: ArgumentHelp("Where the search starts: a built-in profile or a profile file.", valueName: "name|file")) var start: String = "lambda-same-region"
    @Option(help: "Invocations per configuration while searching.") var searchInvocations: Int = 3
    @Option(help: "Invocations per configuration in the final check.") var checkInvocations: Int = 5
    @Option(help: ArgumentHelp("The profile file to write (default: <state-dir>/profiles/<reference>.yaml).", valueName: "file")) var out: String?
    @Flag(help: "Only measure and print this host's CPU probe score (and add it to the host's figure).") var probe = false
    @Option(help: ArgumentHelp("Run nothing: hold these stored runs (ids or latest, comma-separated, at most 10) against the reference.", valueName: "run,…"))
    var evaluate: String?
    @Option(help: ArgumentHelp("With --evaluate: the bounds a cell is held to, % (fitted, held out).", valueName: "fitted,held")) var bounds: String = "15,20"
    @OptionGroup var global: GlobalOptions
    @Option(help: "The fanbench-worker binary (default: next to fanbench).") var workerBinary: String?
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try await reportingErrors {
            if probe {
                let m = HostProbe.figure(stateDirectory: global.stateDirectory)
                say(String(format: "CPU probe: %.2f M bytecodes per CPU second (rounds: %@)", m.latest ?? m.score, m.rounds.map { String(format: "%.1f", $0) }.joined(separator: " ")))
                say(String(format: "this host's figure: %.2f, the mean of its last %d without the highest and lowest (%@/cpu-probe.json); runs scale quotas by it", m.score, m.samples ?? 1, global.stateDirectory))
                return
            }
            guard let reference else { throw FanbenchError.badInput("--reference FILE is required: real-Lambda figures (e.g. ../shared/fidelity/blog-2020.json, or a fanbench report)") }
            var ref = try CalibrationReference.load(path: reference)
            if let n = referenceInvocations {
                ref.invocationsPerInstance = try CalibrationReference.invocationsPerInstance(Double(n), source: "--reference-invocations")
            }
            let fit = cells?.sizes.map(\.memoryMB) ?? ref.fitCells ?? ref.sizes
            try ref.checkCells(fit, flag: "--cells")
            if let evaluate {
                try evaluateRuns(evaluate, reference: ref, fitted: Set(fit))
                return
            }
            var held: [Int] = []
            if let check, check != "none" {
                held = try LambdaSize.parseList(check).map(\.memoryMB)
                try ref.checkCells(held, flag: "--check")
            } else if check == nil {
                held = (ref.heldOutCells ?? []).filter { !fit.contains($0) }
            }
            guard budget > 0, budget.isFinite else { throw FanbenchError.badInput("--budget must be a number of minutes above 0") }
            guard (1...100).contains(searchInvocations), (1...100).contains(checkInvocations) else {
                throw FanbenchError.badInput("--search-invocations and --check-invocations must be 1 to 100")
            }
            guard let startProfile = try EmulationProfile.resolve(start) else {
                throw FanbenchError.badInput("--start none has nothing to fit: start from lambda-same-region or a profile file")
            }
            guard FileManager.default.fileExists(atPath: plan) else {
                throw FanbenchError.badInput("the plan \(plan) does not exist: give --plan, the plan whose functions run the reference's columns (plans/seed-python.yaml for the blog)")
            }
            var base = RunSession.Request()
            base.planFile = plan
            base.stateDirectory = global.stateDirectory
            base.workerBinary = workerBinary
            base.databasePath = database.path(stateDirectory: global.stateDirectory)
            var options = Calibration.Options(reference: ref, fitCells: fit, checkCells: held, budget: .seconds(budget * 60), start: startProfile, base: base)
            options.searchInvocations = searchInvocations
            options.checkInvocations = checkInvocations
            let calibration = Calibration(options: options)
            let path = out ?? global.stateDirectory + "/profiles/" + ((reference as NSString).lastPathComponent as NSString).deletingPathExtension + ".yaml"
            // Refused now, not after the runs: a folder that cannot take the file (the budget is
            // checked first thing in `run`, before any run too).
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            guard FileManager.default.isWritableFile(atPath: dir.isEmpty ? "." : dir) else {
                throw FanbenchError.badInput("cannot write the profile to \(path): its folder is missing or not writable; give --out")
            }
            let outcome = try await calibration.run()
            var profile = outcome.profile
            profile.name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            let comment = "fanbench calibrate --reference \(reference) (\(Date().formatted(.iso8601))): fitted on \(fit.map(String.init).joined(separator: ", ")) MB"
                + (held.isEmpty ? "" : ", checked on \(held.map(String.init).joined(separator: ", ")) MB") + "\nprofile hash \(profile.hash)"
            try ReportOutput.write(profile.yaml(comment: comment, fit: calibration.fitYAML(outcome)), to: path)
            say(Calibration.table(outcome.cells))
            let fitted = outcome.cells.filter(\.fitted).map { abs($0.deviation) }.max() ?? 0
            let heldOut = outcome.cells.filter { !$0.fitted }.map { abs($0.deviation) }.max()
            say(String(format: "worst: fitted ±%.1f%%", fitted * 100) + (heldOut.map { String(format: ", held out ±%.1f%%", $0 * 100) } ?? "")
                + String(format: "; %d evaluation(s) in %.1f min", outcome.evaluations.count, Double(outcome.elapsed.components.seconds) / 60))
            say("profile \(profile.name) #\(profile.hash) written to \(path): fanbench run --profile \(path)")
        }
    }

    /// `--evaluate`: the stored runs against the reference; nothing is run.
    func evaluateRuns(_ list: String, reference: CalibrationReference, fitted: Set<Int>) throws {
        let ids = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !ids.isEmpty, !ids.contains(where: \.isEmpty), ids.count <= 10 else {
            throw FanbenchError.badInput("--evaluate takes 1 to 10 run ids (or latest), comma-separated, not '\(list)'")
        }
        let parts = bounds.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let f = parts[0], let h = parts[1], f > 0, h > 0, f.isFinite, h.isFinite else {
            throw FanbenchError.badInput("--bounds takes two percentages above 0, fitted then held out (e.g. 15,20), not '\(bounds)'")
        }
        let store = try database.openExisting(stateDirectory: global.stateDirectory)
        let reports = try ids.map { try store.report($0) }
        let check = try ReferenceCheck(reference: reference, reports: reports, fitted: fitted,
                                       bounds: .init(fitted: f / 100, heldOut: h / 100))
        say(check.table)
    }
}
