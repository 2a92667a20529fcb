import FanbenchBase
import FanbenchLambda
import FanbenchProtocol
import FanbenchS3
import FanbenchWorker
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// `fanbench lambda serve`: Lambda's Invoke API (`POST /2015-03-31/functions/{name}/invocations`)
/// on a local address, for functions `PREFIX-<MB>` (the worker as its own custom runtime) and
/// `PREFIX-NAME-<MB>` (a plan's functions). Each invocation runs in an execution environment of
/// the function — a sandbox through the Runtime API executor, in a cgroup capped like the size —
/// kept warm for the next one, as Lambda does; more environments start (cold) while all are
/// busy, up to `concurrency` invocations in flight in all, past which Invoke answers 429.
/// Requests are SigV4-verified with the local credentials, and answered with Lambda's headers:
/// `X-Amz-Function-Error`, `X-Amz-Log-Result` (the log's last 4 KB with its REPORT line),
/// `X-Amz-Executed-Version`, `x-amzn-RequestId`.
package struct LambdaServe: Service {
    package struct Options: Sendable {
        package var listen: HostPort
        package var namePrefix: String
        package var sizes: [LambdaSize]
        /// Invocations in flight at once, over all functions (Lambda's account concurrency).
        package var concurrency: Int
        /// The worker binary, run as `PREFIX-<MB>`'s bootstrap.
        package var workerBinary: String
        /// A plan's functions, served as `PREFIX-NAME-<MB>`.
        package var functions: [String: FunctionDefinition] = [:]
        package var logDirectory: String
        /// The keys requests must be signed with (and the sandboxes' S3 keys).
        package var credentials: S3Credentials
        /// Where the sandboxes reach S3.
        package var target: TargetSpec
        package var cgroups: CgroupManager?
        package var hostCores = ProcessInfo.processInfo.activeProcessorCount
        package var timeoutS = 900.0

        package init(listen: HostPort, namePrefix: String, sizes: [LambdaSize], concurrency: Int, workerBinary: String,
                     logDirectory: String, credentials: S3Credentials, target: TargetSpec) {
            self.listen = listen
            self.namePrefix = namePrefix
            self.sizes = sizes
            self.concurrency = concurrency
            self.workerBinary = workerBinary
            self.logDirectory = logDirectory
            self.credentials = credentials
            self.target = target
        }
    }

    package let options: Options
    /// The functions served, by name (made once: every request looks its function up).
    package let functions: [String: (definition: FunctionDefinition, size: LambdaSize)]
    private let logger: Logger
    private let pool: EnvironmentPool
    /// Called once listening: the address and the functions' names.
    private let bound: @Sendable (HostPort, [String]) -> Void

    package init(options: Options, logger: Logger, bound: @escaping @Sendable (HostPort, [String]) -> Void = { _, _ in }) {
        self.options = options
        self.logger = logger
        self.bound = bound
        functions = Self.functions(options)
        // Idle environments stay warm, as Lambda keeps them: up to one per function beyond `concurrency`.
        pool = EnvironmentPool(options: options, maxEnvironments: options.concurrency + functions.count, logger: logger)
    }

    /// The functions served: name → (definition, size).
    static func functions(_ options: Options) -> [String: (definition: FunctionDefinition, size: LambdaSize)] {
        var out: [String: (definition: FunctionDefinition, size: LambdaSize)] = [:]
        let workerFolder = (options.workerBinary as NSString).deletingLastPathComponent
        for size in options.sizes {
            let name = LambdaDeployer.functionName(prefix: options.namePrefix, sizeMB: size.memoryMB)
            out[name] = (FunctionDefinition(name: name, command: [options.workerBinary], code: workerFolder.isEmpty ? "." : workerFolder,
                                            timeoutS: options.timeoutS), size)
            for (fname, definition) in options.functions {
                let n = LambdaDeployer.functionName(prefix: options.namePrefix + "-" + fname, sizeMB: size.memoryMB)
                var d = definition
                d.name = n
                out[n] = (d, size)
            }
        }
        return out
    }

    package func run() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: options.listen.host, port: options.listen.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        bound(HostPort(host: options.listen.host, port: channel.channel.localAddress?.port ?? options.listen.port), functions.keys.sorted())
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await channel.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            channel.channel.close(promise: nil)
        }
        await pool.shutdown()
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            var tooLarge = false
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body = []
                    tooLarge = false
                case .body(let buffer):
                    if body.count + buffer.readableBytes > LambdaServe.maxRequestBytes { tooLarge = true } else { body += buffer.readableBytesView }
                case .end:
                    guard let h = head else { continue }
                    head = nil
                    let reply = tooLarge
                        ? Reply.error(413, "RequestTooLargeException", "Request must be smaller than \(LambdaServe.maxPayloadBytes) bytes for the InvokeFunction operation")
                        : await handle(h, body: body)
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: "application/json")
                    headers.add(name: "Content-Length", value: String(reply.body.count))
                    headers.add(name: "x-amzn-RequestId", value: reply.requestId)
                    for (n, v) in reply.headers { headers.add(name: n, value: v) }
                    if !h.isKeepAlive { headers.add(name: "Connection", value: "close") }
                    try await outbound.write(.head(HTTPResponseHead(version: h.version, status: .init(statusCode: reply.status), headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: reply.body))))
                    try await outbound.write(.end(nil))
                    if !h.isKeepAlive { return }
                }
            }
        }
    }

    /// Lambda's limit on a synchronous Invoke's request payload.
    package static let maxPayloadBytes = 6_291_456
    static let maxRequestBytes = maxPayloadBytes + 1

    struct Reply {
        var status: Int
        var body: [UInt8]
        var headers: [(String, String)] = []
        var requestId = UUID().uuidString.lowercased()

        /// Lambda's error answer: the type in `x-amzn-ErrorType` and the body.
        static func error(_ status: Int, _ type: String, _ message: String, reason: String? = nil) -> Reply {
            var object: [String: String] = ["Type": "User", "message": message]
            if let reason { object["Reason"] = reason }
            let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { Array($0) } ?? []
            return Reply(status: status, body: body, headers: [("x-amzn-ErrorType", type)])
        }
    }

    func handle(_ head: HTTPRequestHead, body: [UInt8]) async -> Reply {
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0])
        let query = parts.count > 1 ? String(parts[1]) : ""
        let verifier = SigV4Verifier(credentials: options.credentials, service: "lambda")
        if let failure = verifier.verify(method: head.method.rawValue, path: path, query: query,
                                         headers: head.headers.map { ($0.name, $0.value) }, body: body, now: Int(Date().timeIntervalSince1970)) {
            return .error(403, failure.type, failure.message)
        }
        let segments = path.split(separator: "/").map { URIEncoding.decode(String($0), plusAsSpace: false) ?? String($0) }
        guard segments.count == 4, segments[0] == LambdaClient.apiVersion, segments[1] == "functions", segments[3] == "invocations" else {
            return .error(404, "UnknownOperationException", "fanbench lambda serve answers Invoke only (POST /\(LambdaClient.apiVersion)/functions/NAME/invocations), not \(head.method.rawValue) \(path)")
        }
        guard head.method == .POST else { return .error(405, "MethodNotAllowedException", "Invoke is a POST") }
        // A name, a name:qualifier, or an ARN.
        var name = segments[2]
        if name.hasPrefix("arn:") { name = name.split(separator: ":").dropFirst(6).first.map(String.init) ?? name }
        if let colon = name.firstIndex(of: ":") { name = String(name[..<colon]) }
        guard let (definition, size) = functions[name] else {
            return .error(404, "ResourceNotFoundException", "Function not found: arn:aws:lambda:\(options.target.region):000000000000:function:\(name)")
        }
        switch head.headers.first(name: "X-Amz-Invocation-Type") ?? "RequestResponse" {
        case "RequestResponse": break
        case "DryRun": return Reply(status: 204, body: [])
        default: return .error(400, "InvalidParameterValueException", "fanbench lambda serve runs RequestResponse invocations only")
        }
        guard let environment = await pool.acquire(name, size: size) else {
            return .error(429, "TooManyRequestsException", "Rate Exceeded.", reason: "ConcurrentInvocationLimitExceeded")
        }
        let outcome = await environment.executor.invoke(definition, payload: body, target: options.target)
        await pool.release(environment)
        switch outcome {
        case .failure(let failure):
            logger.error("an invocation could not run", metadata: ["function": "\(name)", "reason": "\(failure.reason)"])
            return .error(500, "ServiceException", "the execution environment failed: \(failure.reason)")
        case .success(let invocation):
            var reply: Reply
            switch invocation.response {
            case .success(let payload):
                reply = Reply(status: 200, body: payload)
            case .failure(let error):
                reply = Reply(status: 200, body: Array(RuntimeAPIServer.errorJSON(error.message, type: error.type).utf8),
                              headers: [("X-Amz-Function-Error", "Unhandled")])
            }
            reply.requestId = invocation.requestId
            reply.headers.append(("X-Amz-Executed-Version", "$LATEST"))
            if head.headers.first(name: "X-Amz-Log-Type") == "Tail" {
                // The invocation's log is kept to its last 4 KiB, as Lambda's tail is.
                reply.headers.append(("X-Amz-Log-Result", Data(invocation.log.utf8).base64EncodedString()))
            }
            return reply
        }
    }
}

/// The execution environments of every function: warm ones reused, new ones started while all
/// are busy, at most `concurrency` busy at once.
actor EnvironmentPool {
    final class Environment: Sendable {
        let name: String
        let executor: FunctionExecutor
        let group: CgroupManager.Group?
        init(name: String, executor: FunctionExecutor, group: CgroupManager.Group?) {
            self.name = name
            self.executor = executor
            self.group = group
        }
    }

    private let options: LambdaServe.Options
    private let logger: Logger
    private var idle: [String: [Environment]] = [:]
    private var all: [Environment] = []
    private var busy = 0
    private var made = 0

    private let maxEnvironments: Int

    init(options: LambdaServe.Options, maxEnvironments: Int, logger: Logger) {
        self.options = options
        self.maxEnvironments = maxEnvironments
        self.logger = logger
    }

    /// A free environment of `name` (nil: `concurrency` are in flight, answer 429).
    func acquire(_ name: String, size: LambdaSize) -> Environment? {
        guard busy < options.concurrency else { return nil }
        busy += 1
        if let warm = idle[name]?.popLast() { return warm }
        // A new environment; past `maxEnvironments`, an idle one of another function makes way.
        if all.count >= maxEnvironments, let victim = idle.first(where: { !$0.value.isEmpty }) {
            let e = idle[victim.key]!.removeFirst()
            retire(e)
        }
        made += 1
        var group: CgroupManager.Group?
        var sandbox: SandboxMeter.Group?
        if let cgroups = options.cgroups {
            do {
                let g = try cgroups.create(name: "serve-\(getpid())-\(made)", size: size, hostCores: options.hostCores)
                group = g
                sandbox = cgroups.sandboxGroup(g)
            } catch {
                logger.warning("cannot cap an execution environment; it runs uncapped", metadata: ["function": "\(name)", "error": "\(error)"])
            }
        }
        let environment = FanoutRun.workerEnvironment(options.credentials, region: options.target.region)
        let executor = FunctionExecutor(options: .init(sizeMB: size.memoryMB, logDirectory: options.logDirectory, environment: environment,
                                                       sandboxGroup: sandbox))
        let e = Environment(name: name, executor: executor, group: group)
        all.append(e)
        return e
    }

    func release(_ e: Environment) {
        busy -= 1
        if all.contains(where: { $0 === e }) { idle[e.name, default: []].append(e) }
    }

    private func retire(_ e: Environment) {
        all.removeAll { $0 === e }
        let cgroups = options.cgroups
        Task {
            await e.executor.shutdown()
            if let g = e.group { cgroups?.remove(g) }
        }
    }

    func shutdown() async {
        for e in all {
            await e.executor.shutdown()
            if let g = e.group { options.cgroups?.remove(g) }
        }
        all.removeAll()
        idle.removeAll()
        options.cgroups?.removeBaseIfEmpty()
    }
}
