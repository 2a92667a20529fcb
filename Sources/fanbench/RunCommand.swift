import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import FanbenchCoordinator
import FanbenchProtocol
import Foundation

/// `fanbench run`: the fan-out benchmark.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Fan a bucket's keys out to Lambda-capped workers for each memory size × strategy; print the pivot and details.")
    @Argument(help: "A plan file (YAML, e.g. plans/seed.yaml); flags override what it says.") var plan: String?
    @OptionGroup var global: GlobalOptions
    @OptionGroup var s3: S3Options
    @OptionGroup var keys: KeySelectionOptions
    @Option(help: "Lambda memory sizes, MB, comma-separated (default 128,512,1024,1536,2048,3008).") var sizes: SizeList?
    @Option(help: "Strategies, comma-separated: serial, threads:N (libcurl threads), async:N (SwiftNIO, N in flight); default serial,threads:16,async:16.") var strategies: StrategyList?
    @Option(name: .customLong("function"), help: ArgumentHelp(
        "A Lambda handler to run as a column beside the strategies, NAME=COMMAND (e.g. 'boto3=python3 -m awslambdaric app.handler'), its code in the current folder, 30 s timeout; repeatable. A plan's functions: sets code, env and timeouts.",
        valueName: "name=command"))
    var functions: [String] = []
    @Option(help: "Invocations per configuration, each covering every shard once (default 5).") var invocations: Int?
    @Option(help: "Keys per invocation (default: the whole listing, as in the seed).") var shardSize: Int?
    @Option(help: "Who lists: coordinator (once; default) or invocation (each invocation lists, as the seed's handler).") var listing: ListingMode?
    @Flag(help: "Cold starts: a fresh worker per invocation, its init duration recorded (local workers).") var cold = false
    @Option(help: "local (spawn capped workers here), external (workers dial in) or lambda (Invoke functions PREFIX-<MB>).") var workers: RunSession.WorkerMode = .local
    @Option(help: "With --workers lambda: invoke PREFIX-<MB> for each size (fanbench lambda deploy --name-prefix PREFIX makes them).") var functionPrefix: String?
    @Option(help: "With --workers lambda: Invokes in flight at once, over all sizes.") var maxConcurrency: Int = 10
    @Option(help: ArgumentHelp("With --workers lambda: a Lambda API other than AWS's, e.g. fanbench lambda serve's (env AWS_ENDPOINT_URL_LAMBDA).", valueName: "url")) var lambdaEndpoint: String?
    @Option(help: "Listen address for workers (external default 0.0.0.0:7100; local uses a free loopback port).") var listen: HostPort?
    @Option(help: "External workers to wait for.") var expect: Int?
    @Option(help: "Seconds to wait for external workers: for the first ones, and for replacements when every worker of a size is lost (its waiting invocations are then abandoned, with the reason).") var waitTimeout: Int = 300
    @Option(help: ArgumentHelp("The endpoint is an emulated network you set up yourself (e.g. fanbench proxy in compose): lambda-same-region, or an RTT in ms; stated in every report and used for the network-limit ideal.", valueName: "profile|rtt-ms")) var emulation: String?
    @Option(help: ArgumentHelp("The local target's emulation: lambda-same-region (the calibrated default), none, or a profile file from fanbench calibrate (over the plan's profile:).", valueName: "name|file")) var profile: String?
    @Option(help: "Seconds a busy worker may stay silent before it is dropped and its invocation re-queued.") var workerSilence: Int = 15
    @Option(help: "After Ctrl-C (or SIGTERM), seconds the running invocations get to finish; a second Ctrl-C stops at once.") var grace: Int = 30
    @Option(help: "Local workers per size, within the CPU budget.") var workersPerSize: Int = 1
    @Option(help: "Sum of local workers' CPU caps, in cores (default: host cores − 0.5 for the target and coordinator).") var cpuBudget: Double?
    @Flag(help: "Run local workers without caps when cgroups cannot be written (results marked enforced: false).") var allowUncapped = false
    @Option(help: ArgumentHelp("File holding the worker token (env FANBENCH_TOKEN; default: generated under the state folder).", valueName: "file")) var tokenFile: String?
    @Option(help: ArgumentHelp("TLS on the control channel: the coordinator's certificate chain, PEM (workers then need --tls-ca).", valueName: "file")) var tlsCert: String?
    @Option(help: ArgumentHelp("The private key of --tls-cert, PEM; refused when every user can read it.", valueName: "file")) var tlsKey: String?
    @Option(help: ArgumentHelp("With --tls-cert: the CA local workers trust (default: --tls-cert itself, self-signed).", valueName: "file")) var tlsCA: String?
    @Option(help: "The fanbench-worker binary (default: next to fanbench).") var workerBinary: String?
    @Option(help: "Write the report as JSON (schema fanbench.report/v1) to this file.") var json: String?
    @Option(help: "Write the report as a self-contained HTML page with charts to this file.") var html: String?
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var pricing: PricingOptions
    @Flag(help: "Log worker joins and protocol events.") var verbose = false

    func run() async throws {
        try await reportingErrors {
            var r = RunSession.Request()
            r.planFile = plan
            r.stateDirectory = global.stateDirectory
            r.s3 = s3.settings
            keys.apply(to: &r)
            r.sizes = sizes?.sizes
            r.strategies = strategies?.strategies
            r.functions = try functions.map(Self.function)
            r.invocations = invocations
            r.shardSize = shardSize
            r.listing = listing
            r.cold = cold
            r.workers = workers
            r.listen = listen
            r.expect = expect
            r.waitTimeout = .seconds(waitTimeout)
            r.emulation = emulation
            r.profile = profile
            r.workerSilenceSeconds = workerSilence
            r.grace = .seconds(max(0, grace))
            r.workersPerSize = workersPerSize
            r.cpuBudget = cpuBudget
            r.allowUncapped = allowUncapped
            r.tokenFile = tokenFile
            r.tlsCert = tlsCert
            r.tlsKey = tlsKey
            r.tlsCA = tlsCA
            r.workerBinary = workerBinary
            r.jsonPath = json
            r.htmlPath = html
            r.databasePath = database.path(stateDirectory: global.stateDirectory)
            r.analysis = try pricing.validated()
            r.verbose = verbose
            r.functionPrefix = functionPrefix
            r.maxConcurrency = maxConcurrency
            r.lambdaEndpoint = lambdaEndpoint
            try await RunSession(r).run()
        }
    }
}

extension RunCommand {
    /// `--function NAME=COMMAND`: the command split on spaces, the code the current folder.
    static func function(_ text: String) throws -> FunctionDefinition {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        let command = parts.count == 2 ? parts[1].split(separator: " ").map(String.init) : []
        guard parts.count == 2, Strategy.isValidFunctionName(parts[0]), !command.isEmpty else {
            throw FanbenchError.badInput("--function '\(text)' must be NAME=COMMAND, the name 1 to 64 letters, digits, '-', '_' or '.', e.g. --function 'boto3=python3 -m awslambdaric app.handler'")
        }
        return FunctionDefinition(name: parts[0], command: command, code: FileManager.default.currentDirectoryPath)
    }
}

extension ListingMode: ExpressibleByArgument {}
extension RunSession.WorkerMode: ExpressibleByArgument {}

/// Which keys a run calls, and how: shared by `run` and `tune`.
struct KeySelectionOptions: ParsableArguments {
    @Option(help: "Bucket whose keys to call (default with the local target: fanbench-seed, filled with the blog's 100 objects).") var bucket: String?
    @Option(help: "Only keys under this prefix.") var prefix: String?
    @Option(help: "Per-key call: get-object-acl (default), head-object or get-object.") var op: ObjectOperation?

    func apply(to r: inout RunSession.Request) {
        r.bucket = bucket
        r.prefix = prefix
        r.operation = op
    }
}

/// `--sizes 128,512,1024`.
struct SizeList: ExpressibleByArgument {
    var sizes: [LambdaSize]
    init?(argument: String) {
        guard let parsed = try? LambdaSize.parseList(argument) else { return nil }
        sizes = parsed
    }
}

/// `--strategies serial,threads:16,async:16`.
struct StrategyList: ExpressibleByArgument {
    var strategies: [Strategy]
    init?(argument: String) {
        var list: [Strategy] = []
        for part in argument.split(separator: ",") {
            guard let s = try? Strategy(parsing: String(part)) else { return nil }
            list.append(s)
        }
        guard !list.isEmpty else { return nil }
        strategies = list
    }
}
