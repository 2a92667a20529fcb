import Crypto
import FanbenchBase
import FanbenchProtocol
import FanbenchStore
import Foundation

/// What `fanbench resume` needs to run the rest of a run exactly as it was asked for: the run's
/// request (its flags, paths made absolute), the plan file's digest, the target it ran against
/// and its keys' digest. Stored with the run (`resume_json`); never a secret (the token, S3's
/// keys and TLS keys stay where they were: the environment and files, named by path only).
package struct RunRecipe: Codable, Sendable, Equatable {
    package var version = 1
    package var stateDirectory: String
    package var planFile: String?
    /// SHA-256 of the plan file's bytes when the run started.
    package var planDigest: String?
    package var endpoint: String?
    package var region: String?
    package var caBundle: String?
    package var secretKeyFile: String?
    package var virtualHosted: Bool
    package var bucket: String?
    package var prefix: String?
    package var operation: String?
    package var sizes: [Int]?
    package var strategies: [String]?
    /// `--function` definitions (the plan file's come from the file).
    package var functions: [FunctionDefinition]
    package var invocations: Int?
    package var shardSize: Int?
    package var listing: String?
    package var cold: Bool
    package var workers: String
    package var listen: String?
    package var expect: Int?
    package var waitTimeoutS: Double
    package var emulation: String?
    package var profile: String?
    package var workerSilenceSeconds: Int
    package var workersPerSize: Int
    package var cpuBudget: Double?
    package var allowUncapped: Bool
    package var tokenFile: String?
    package var workerBinary: String?
    package var tlsCert: String?
    package var tlsKey: String?
    package var tlsCA: String?
    package var functionPrefix: String?
    package var maxConcurrency: Int
    package var lambdaEndpoint: String?
    package var graceS: Double
    /// Where the run's S3 was: its endpoint, or the local target by its S3 port.
    package var target: String?
    /// SHA-256 over the keys the coordinator listed, in order (nil when invocations list).
    package var keysDigest: String?

    /// The recipe of `r`, paths made absolute against the current folder.
    package init(_ r: RunSession.Request) throws(FanbenchError) {
        func absolute(_ p: String?) -> String? { p.map { URL(fileURLWithPath: $0).standardizedFileURL.path } }
        stateDirectory = absolute(r.stateDirectory)!
        planFile = absolute(r.planFile)
        if let planFile {
            guard let bytes = FileManager.default.contents(atPath: planFile) else {
                throw .badInput("cannot read the plan file \(planFile): check the path")
            }
            planDigest = Self.digest(bytes)
        }
        endpoint = r.s3.endpoint
        region = r.s3.region
        caBundle = absolute(r.s3.caBundle)
        secretKeyFile = absolute(r.s3.secretKeyFile)
        virtualHosted = r.s3.virtualHosted
        bucket = r.bucket
        prefix = r.prefix
        operation = r.operation?.rawValue
        sizes = r.sizes?.map(\.memoryMB)
        strategies = r.strategies?.map(\.description)
        functions = r.functions
        invocations = r.invocations
        shardSize = r.shardSize
        listing = r.listing?.rawValue
        cold = r.cold
        workers = r.workers.rawValue
        listen = r.listen?.description
        expect = r.expect
        waitTimeoutS = Double(r.waitTimeout.nanoseconds) / 1e9
        emulation = r.emulation
        profile = r.profile.map { spec in
            FileManager.default.fileExists(atPath: spec) ? absolute(spec)! : spec
        }
        workerSilenceSeconds = r.workerSilenceSeconds
        workersPerSize = r.workersPerSize
        cpuBudget = r.cpuBudget
        allowUncapped = r.allowUncapped
        tokenFile = absolute(r.tokenFile)
        workerBinary = absolute(r.workerBinary)
        tlsCert = absolute(r.tlsCert)
        tlsKey = absolute(r.tlsKey)
        tlsCA = absolute(r.tlsCA)
        functionPrefix = r.functionPrefix
        maxConcurrency = r.maxConcurrency
        lambdaEndpoint = r.lambdaEndpoint
        graceS = Double(r.grace.nanoseconds) / 1e9
    }

    package static func digest(_ bytes: Data) -> String { Hex.encode(SHA256.hash(data: bytes)) }

    /// SHA-256 over keys, each followed by a newline (keys hold no newline S3 would list).
    package static func keysDigest(_ keys: [String]) -> String {
        var hasher = SHA256()
        for k in keys {
            hasher.update(data: Array(k.utf8))
            hasher.update(data: [0x0A])
        }
        return Hex.encode(hasher.finalize())
    }

    package var json: String { String(decoding: (try? JSONCoding.encoder().encode(self)) ?? Data(), as: UTF8.self) }

    /// The request that continues run `unfinished`: the recipe's, with this resume's outputs.
    package func request(resuming unfinished: RunStore.Unfinished, databasePath: String) throws -> RunSession.Request {
        var r = RunSession.Request()
        r.stateDirectory = stateDirectory
        r.planFile = planFile
        if let planFile {
            guard let bytes = FileManager.default.contents(atPath: planFile) else {
                throw FanbenchError.badInput("run \(unfinished.runID) ran the plan \(planFile), which is gone: put it back to resume the run")
            }
            guard Self.digest(bytes) == planDigest else {
                throw FanbenchError.badInput("the plan \(planFile) changed since run \(unfinished.runID) started: a resumed run must run the same plan; put the file back as it was, or start a new run")
            }
        }
        r.s3.endpoint = endpoint
        r.s3.region = region
        r.s3.caBundle = caBundle
        r.s3.secretKeyFile = secretKeyFile
        r.s3.virtualHosted = virtualHosted
        r.bucket = bucket
        r.prefix = prefix
        r.operation = try operation.map { o throws(FanbenchError) in
            guard let op = ObjectOperation(rawValue: o) else { throw FanbenchError.badInput("run \(unfinished.runID)'s recipe names op \(o), which this fanbench does not know") }
            return op
        }
        r.sizes = try sizes.map { try $0.map { mb throws(FanbenchError) in try LambdaSize(memoryMB: mb) } }
        r.strategies = try strategies.map { try $0.map { s throws(FanbenchError) in try Strategy(parsing: s) } }
        r.functions = functions
        r.invocations = invocations
        r.shardSize = shardSize
        r.listing = listing.flatMap(ListingMode.init(rawValue:))
        r.cold = cold
        r.workers = RunSession.WorkerMode(rawValue: workers) ?? .local
        r.listen = listen.flatMap { try? HostPort(parsing: $0, listening: true) }
        r.expect = expect
        r.waitTimeout = .milliseconds(Int64(waitTimeoutS * 1000))
        r.emulation = emulation
        r.profile = profile
        r.workerSilenceSeconds = workerSilenceSeconds
        r.workersPerSize = workersPerSize
        r.cpuBudget = cpuBudget
        r.allowUncapped = allowUncapped
        r.tokenFile = tokenFile
        r.workerBinary = workerBinary
        r.tlsCert = tlsCert
        r.tlsKey = tlsKey
        r.tlsCA = tlsCA
        r.functionPrefix = functionPrefix
        r.maxConcurrency = maxConcurrency
        r.lambdaEndpoint = lambdaEndpoint
        r.grace = .milliseconds(Int64(graceS * 1000))
        r.databasePath = databasePath
        r.resume = RunSession.Resume(unfinished: unfinished, recipe: self)
        return r
    }
}

extension RunRecipe {
    /// The request that continues stored run `id` (`fanbench resume`), or why it cannot be:
    /// the run is complete or still running, it kept no recipe, another fanbench version made it,
    /// or its plan file changed. The target and the keys are checked once the run has reached them.
    package static func resume(_ id: String, store: RunStore) throws -> RunSession.Request {
        let u = try store.unfinished(id)
        switch u.status {
        case "complete":
            throw FanbenchError.badInput("run \(u.runID) is complete: there is nothing to resume (fanbench report \(u.runID) shows it)")
        case "running":
            throw FanbenchError.badInput("run \(u.runID) is still running (its coordinator is pid \(u.pid) on \(u.hostname)): stop it first (Ctrl-C keeps what finished), then resume it")
        default:
            break
        }
        guard u.fanbenchVersion == fanbenchVersion else {
            throw FanbenchError.badInput("run \(u.runID) was made by fanbench \(u.fanbenchVersion); this is fanbench \(fanbenchVersion): resume it with the version that started it, or start a new run")
        }
        guard let text = u.recipe else {
            throw FanbenchError.badInput("run \(u.runID) kept no resume recipe (it was made before fanbench resume existed, or by fanbench tune): start a new run")
        }
        let recipe: RunRecipe
        do {
            recipe = try JSONCoding.decoder().decode(RunRecipe.self, from: Data(text.utf8))
        } catch {
            throw FanbenchError.badInput("run \(u.runID)'s resume recipe cannot be read (\(error)): start a new run")
        }
        return try recipe.request(resuming: u, databasePath: store.path)
    }
}
