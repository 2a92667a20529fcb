import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import FanbenchCoordinator
import FanbenchLambda
import FanbenchProtocol
import FanbenchS3
import Foundation
import Logging
import ServiceLifecycle

/// `fanbench lambda …`: the real-Lambda backend's tools — package the worker, deploy one function
/// per size, remove them, and serve the Invoke API locally to rehearse a run for free.
struct LambdaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lambda",
        abstract: "Run plans on AWS Lambda: package the worker, deploy PREFIX-<MB> per size, remove them, or serve the Invoke API locally.",
        subcommands: [Package.self, Deploy.self, Remove.self, Serve.self])

    struct Endpoint: ParsableArguments {
        @Option(help: ArgumentHelp("A Lambda API other than AWS's (env AWS_ENDPOINT_URL_LAMBDA), e.g. moto's or fanbench lambda serve's.", valueName: "url"))
        var lambdaEndpoint: String?
        @Option(help: ArgumentHelp("Region (env AWS_REGION, else the profile's, else us-east-1).", valueName: "region")) var region: String?

        func client() throws -> (client: LambdaClient, real: Bool) {
            try LambdaSettings(endpoint: lambdaEndpoint, region: region).client(fallback: nil)
        }
    }

    struct Package: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a provided.al2023 deployment zip: the worker as bootstrap, the libraries it links in lib/.")
        @Option(help: "The worker, built with --static-swift-stdlib (scripts/package-lambda builds it); default: fanbench-worker next to fanbench.") var worker: String?
        @Option(help: "x86_64 or arm64.") var arch: String = "x86_64"
        @Option(help: "The zip to write (default fanbench-lambda-ARCH.zip).") var output: String?

        func run() async throws {
            try await reportingErrors {
                guard let architecture = LambdaPackager.Architecture(rawValue: arch) else {
                    throw FanbenchError.badInput("--arch must be x86_64 or arm64")
                }
                let worker = try self.worker ?? RunSession.siblingWorkerBinary()
                let p = try LambdaPackager.make(worker: worker, output: output ?? "fanbench-lambda-\(arch).zip", architecture: architecture)
                print(String(format: "wrote %@: %.1f MB (bootstrap %.1f MB%@), CodeSha256 %@", p.path, Double(p.bytes) / 1_048_576,
                             Double(p.bootstrapBytes) / 1_048_576,
                             p.libraries.isEmpty ? "" : ", \(p.libraries.count) libraries in lib/: \(p.libraries.joined(separator: " "))", p.codeSha256))
                if let glibc = p.glibcNeeded {
                    let runtime = "\(LambdaPackager.runtimeGlibc.major).\(LambdaPackager.runtimeGlibc.minor)"
                    if LambdaPackager.runsOnRuntime(glibc: glibc) {
                        print("needs glibc \(glibc); provided.al2023 has \(runtime)")
                    } else {
                        FileHandle.standardError.write(Data("fanbench: warning: the bootstrap or its libraries need glibc \(glibc), newer than provided.al2023's \(runtime): Lambda will not start it; build the worker on a host with glibc \(runtime) or older (e.g. an Amazon Linux 2023 container) and package again\n".utf8))
                    }
                }
            }
        }
    }

    struct Deploy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or update one function per size, PREFIX-<MB>, from the package; changes only what differs and waits until each is Active.")
        @Option(help: "Functions are named PREFIX-<MB>.") var namePrefix: String
        @Option(help: "Memory sizes, MB, comma-separated (default 128,512,1024,1536,2048,3008).") var sizes: SizeList?
        @Option(help: "The execution role's ARN (it must let Lambda assume it and read your bucket).") var role: String
        @Option(help: "x86_64 or arm64.") var arch: String = "x86_64"
        @Option(help: "The package (default fanbench-lambda-ARCH.zip, from fanbench lambda package).") var zip: String?
        @Option(help: "Function timeout, seconds (1 to 900).") var timeout: Int = 300
        @Option(help: "Bucket the functions will call (set as FANBENCH_BUCKET; informational).") var bucket: String?
        @Option(help: ArgumentHelp("S3 endpoint the functions reach, when not AWS's (FANBENCH_S3_ENDPOINT).", valueName: "url")) var s3Endpoint: String?
        @Option(help: ArgumentHelp("Upload the package to this bucket (in the functions' region) and deploy it from there: needed over 50 MB zipped. S3 is reached as the AWS_* variables say.", valueName: "bucket")) var codeBucket: String?
        @OptionGroup var endpoint: Endpoint

        func run() async throws {
            try await reportingErrors {
                try LambdaDeployer.checkPrefix(namePrefix)
                try LambdaDeployer.checkRole(role)
                guard LambdaPackager.Architecture(rawValue: arch) != nil else { throw FanbenchError.badInput("--arch must be x86_64 or arm64") }
                guard (1...900).contains(timeout) else { throw FanbenchError.badInput("--timeout must be 1 to 900 seconds (Lambda's limit)") }
                let path = zip ?? "fanbench-lambda-\(arch).zip"
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw FanbenchError.badInput("cannot read the package \(path): make it with fanbench lambda package (or scripts/package-lambda), or pass --zip")
                }
                if data.count > LambdaDeployer.maxInlineZipBytes && codeBucket == nil {
                    throw FanbenchError.badInput(String(format: "the package is %.1f MB; Lambda takes at most 50 MB zipped inline: pass --code-bucket BUCKET (in the functions' region) to deploy it through S3", Double(data.count) / 1_048_576))
                }
                var environment: [String: String] = [:]
                if let bucket { environment["FANBENCH_BUCKET"] = bucket }
                if let s3Endpoint { environment["FANBENCH_S3_ENDPOINT"] = s3Endpoint }
                let (client, _) = try endpoint.client()
                var deployer = LambdaDeployer(client: client)
                deployer.say = { print($0) }
                var spec = LambdaDeployer.Spec(namePrefix: namePrefix, sizes: sizes?.sizes ?? LambdaSize.seedSizes, role: role,
                                               architecture: arch, zip: Array(data), timeoutS: timeout, environment: environment)
                if let codeBucket {
                    let key = LambdaDeployer.codeKey(for: spec.zip)
                    var s3 = try S3ClientConfiguration.fromEnvironment(overrides: .init(region: client.region))
                    s3.requestTimeout = .seconds(900)
                    let zip = spec.zip
                    do {
                        _ = try await S3Client.withClient(configuration: s3, transport: .async, maxConnections: 1) {
                            try await $0.perform(.putObject(bucket: codeBucket, key: key, body: zip, contentType: "application/zip"))
                        }
                    } catch {
                        throw FanbenchError("cannot upload the package to s3://\(codeBucket)/\(key): \(FanbenchError.from(error).message)")
                    }
                    print(String(format: "uploaded the package (%.1f MB) to s3://%@/%@", Double(zip.count) / 1_048_576, codeBucket, key))
                    spec.s3Code = (codeBucket, key)
                }
                let changes = try await deployer.deploy(spec)
                let created = changes.filter { $0.change == .created }.count
                let unchanged = changes.filter { $0.change == .unchanged }.count
                print("\(changes.count) function(s): \(created) created, \(changes.count - created - unchanged) updated, \(unchanged) unchanged")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete the functions PREFIX-<MB> (all sizes, or --sizes).")
        @Option(help: "Functions named PREFIX-<MB>.") var namePrefix: String
        @Option(help: "Only these sizes, MB, comma-separated.") var sizes: SizeList?
        @OptionGroup var endpoint: Endpoint

        func run() async throws {
            try await reportingErrors {
                try LambdaDeployer.checkPrefix(namePrefix)
                let (client, _) = try endpoint.client()
                var deployer = LambdaDeployer(client: client)
                deployer.say = { print($0) }
                let removed = try await deployer.remove(prefix: namePrefix, sizes: sizes?.sizes)
                print(removed.isEmpty ? "no functions named \(namePrefix)-<MB> to remove" : "removed \(removed.count) function(s)")
            }
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve Lambda's Invoke API locally for PREFIX-<MB> (the worker) and PREFIX-NAME-<MB> (a plan's functions), in capped sandboxes; requests are SigV4-verified with the local credentials.")
        @Option(help: "Address to listen on.") var listen: HostPort = HostPort(host: "127.0.0.1", port: 9001)
        @Option(help: "Functions are named PREFIX-<MB>.") var namePrefix: String = "fanbench"
        @Option(help: "Memory sizes, MB, comma-separated (default 128,512,1024,1536,2048,3008).") var sizes: SizeList?
        @Option(help: "Invocations in flight at once over all functions; more get 429 TooManyRequestsException.") var concurrency: Int = 4
        @Option(help: "A plan whose functions to serve too, as PREFIX-NAME-<MB>.") var plan: String?
        @Option(help: "The fanbench-worker binary (default: next to fanbench).") var workerBinary: String?
        @Flag(help: "Run the sandboxes without caps when cgroups cannot be written.") var allowUncapped = false
        @OptionGroup var global: GlobalOptions
        @OptionGroup var s3: S3Options
        @Flag(help: "Log each environment started.") var verbose = false

        func run() async throws {
            try await reportingErrors {
                try LambdaDeployer.checkPrefix(namePrefix)
                guard (1...256).contains(concurrency) else { throw FanbenchError.badInput("--concurrency must be 1 to 256") }
                var logger = Logger(label: "fanbench-lambda-serve")
                logger.logLevel = verbose ? .info : .warning
                let functions = try plan.map { path throws(PlanError) in try PlanFile.load(path: path).functions ?? [:] } ?? [:]
                let config = try s3.settings.clientConfiguration(stateDirectory: global.stateDirectory)
                let cgroups = try RunSession.cgroupManager(allowUncapped: allowUncapped)
                let target = TargetSpec(endpoint: config.endpoint.description, bucket: "", region: config.region,
                                        pathStyle: config.addressing == .path, caBundle: config.caBundlePath)
                var options = LambdaServe.Options(
                    listen: listen, namePrefix: namePrefix, sizes: sizes?.sizes ?? LambdaSize.seedSizes, concurrency: concurrency,
                    workerBinary: try workerBinary ?? RunSession.siblingWorkerBinary(),
                    logDirectory: global.stateDirectory + "/lambda-serve/" + namePrefix, credentials: config.credentials, target: target)
                options.functions = functions
                options.cgroups = cgroups
                let served = options
                let serve = LambdaServe(options: options, logger: logger) { address, names in
                    // Unbuffered: a script waits for this line to know the endpoint is up.
                    FileHandle.standardOutput.write(Data("""
                        serving Invoke at http://\(address) for \(names.joined(separator: ", ")); \(served.concurrency) in flight, sandboxes \(cgroups.map { "capped (cgroup \($0.version.rawValue))" } ?? "UNCAPPED"); logs in \(served.logDirectory)
                        sign with the local target's keys (eval "$(fanbench target env)"); run: fanbench run --workers lambda --function-prefix \(served.namePrefix) --lambda-endpoint http://\(address)

                        """.utf8))
                }
                try await ServiceGroup.runUntilSignalled(serve, logger: logger)
            }
        }
    }
}
