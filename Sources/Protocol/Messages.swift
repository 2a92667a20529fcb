import FanbenchBase

/// Protocol v2 between coordinator and workers: line-delimited JSON over TCP, one object per
/// `\n`-terminated UTF-8 line, every object with a `"type"`. Field names are snake_case.
package enum ProtocolVersion {
    /// 2: the worker states its line limit in `hello`; an assignment whose keys do not fit one
    /// line sends them after it in `keys` chunks that do.
    package static let current = 2
}

/// The limits a worker read from its own cgroup.
package struct WorkerLimits: Codable, Sendable, Equatable {
    /// CPU in cores' worth (quota ÷ period); nil when uncapped.
    package var cpu: Double?
    /// Memory limit in bytes; nil when uncapped.
    package var memoryBytes: Int64?
    /// CPUs the worker may run on (cpuset), when restricted.
    package var cores: Int?
    /// `v1`, `v2` or `none`.
    package var cgroup: String

    package init(cpu: Double? = nil, memoryBytes: Int64? = nil, cores: Int? = nil, cgroup: String = "none") {
        self.cpu = cpu
        self.memoryBytes = memoryBytes
        self.cores = cores
        self.cgroup = cgroup
    }

    package static let none = WorkerLimits()
}

/// Coordinator → worker, first line: prove you hold the token by MACing this nonce.
package struct Challenge: Codable, Sendable, Equatable {
    package var `protocol`: Int
    package var nonce: String
    package init(protocol: Int = ProtocolVersion.current, nonce: String) {
        self.protocol = `protocol`
        self.nonce = nonce
    }
}

/// Worker → coordinator: who it is, what it can do, and the MAC of the nonce.
package struct Hello: Codable, Sendable, Equatable {
    package var `protocol`: Int
    package var workerId: String
    package var version: String
    package var sizeMb: Int
    package var limits: WorkerLimits
    /// Hex HMAC-SHA256(token, nonce).
    package var auth: String
    /// The worker serves one invocation, then exits (a cold start); absent means false.
    package var singleUse: Bool?
    /// The longest line the worker takes, bytes: nothing it is sent may be longer.
    package var maxLineBytes: Int?

    package init(protocol: Int = ProtocolVersion.current, workerId: String, version: String, sizeMb: Int, limits: WorkerLimits, auth: String,
                 singleUse: Bool? = nil, maxLineBytes: Int? = defaultMaxLineBytes) {
        self.protocol = `protocol`
        self.workerId = workerId
        self.version = version
        self.sizeMb = sizeMb
        self.limits = limits
        self.auth = auth
        self.singleUse = singleUse
        self.maxLineBytes = maxLineBytes
    }
}

package struct Welcome: Codable, Sendable, Equatable {
    package var workerId: String
    package init(workerId: String) { self.workerId = workerId }
}

package struct Reject: Codable, Sendable, Equatable {
    package var reason: String
    package init(reason: String) { self.reason = reason }
}

/// Where the worker's S3 calls go. Credentials are not sent: workers take them from their
/// own environment, as a Lambda takes its role.
package struct TargetSpec: Codable, Sendable, Equatable {
    package var endpoint: String
    package var bucket: String
    package var region: String
    package var pathStyle: Bool
    /// CA file path as the worker sees it.
    package var caBundle: String?

    package init(endpoint: String, bucket: String, region: String, pathStyle: Bool, caBundle: String? = nil) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.pathStyle = pathStyle
        self.caBundle = caBundle
    }
}

package struct Timeouts: Codable, Sendable, Equatable {
    package var connectMs: Int
    package var requestMs: Int
    package init(connectMs: Int = 5000, requestMs: Int = 30000) {
        self.connectMs = connectMs
        self.requestMs = requestMs
    }
}

package struct RetrySpec: Codable, Sendable, Equatable {
    package var maxAttempts: Int
    package init(maxAttempts: Int = 3) { self.maxAttempts = maxAttempts }
}

/// Seed mode: the invocation lists the bucket itself, as the blog's handler did.
package struct ListSpec: Codable, Sendable, Equatable {
    package var prefix: String?
    package init(prefix: String? = nil) { self.prefix = prefix }
}

/// A user's handler as the plan defines it (`functions:`), sent with each of its invocations
/// so any worker can run it (DESIGN.md, Functions).
package struct FunctionDefinition: Codable, Sendable, Equatable, Hashable {
    package var name: String
    /// The runtime's command line, run in `code` (e.g. `python3 -m awslambdaric serial.handler`).
    package var command: [String]
    /// The code folder as the worker sees it: LAMBDA_TASK_ROOT and the working directory.
    package var code: String
    /// `_HANDLER`; nil means the command's last word when it has arguments (`… awslambdaric
    /// app.handler`), else `function.handler` (a bare `bootstrap`, as AWS's tutorial names it).
    package var handler: String?
    /// Extra environment for the handler (never a secret of fanbench's own).
    package var env: [String: String]
    /// Lambda's function timeout: an invocation still running after it is killed.
    package var timeoutS: Double
    /// How long the runtime may take from start to its first `/next` (Lambda: 10 s).
    package var initTimeoutS: Double

    package init(name: String, command: [String], code: String, handler: String? = nil, env: [String: String] = [:],
                 timeoutS: Double = 30, initTimeoutS: Double = 10) {
        self.name = name
        self.command = command
        self.code = code
        self.handler = handler
        self.env = env
        self.timeoutS = timeoutS
        self.initTimeoutS = initTimeoutS
    }

    /// `_HANDLER` as the runtime sees it.
    package var handlerName: String { handler ?? (command.count > 1 ? command.last! : "function.handler") }
}

/// Coordinator → worker: run one invocation.
package struct Assign: Codable, Sendable, Equatable {
    package var invocationId: String
    package var op: String
    /// `serial`, `threads` or `async`.
    package var strategy: String
    package var concurrency: Int
    /// The shard's keys (absent in seed mode, and when they follow in chunks).
    package var keys: [String]?
    /// The shard's keys follow this message in this many `keys` messages (each fits a line).
    package var keyChunks: Int?
    /// List first (seed mode).
    package var list: ListSpec?
    package var target: TargetSpec
    package var timeouts: Timeouts
    package var retry: RetrySpec
    /// The handler to run, when `strategy` is `function`.
    package var function: FunctionDefinition?

    package init(invocationId: String, op: String, strategy: String, concurrency: Int, keys: [String]?, list: ListSpec?,
                target: TargetSpec, timeouts: Timeouts = Timeouts(), retry: RetrySpec = RetrySpec(), function: FunctionDefinition? = nil) {
        self.invocationId = invocationId
        self.op = op
        self.strategy = strategy
        self.concurrency = concurrency
        self.keys = keys
        self.list = list
        self.target = target
        self.timeouts = timeouts
        self.retry = retry
        self.function = function
    }
}

/// Coordinator → worker, right after an `assign` with `key_chunks`: the next part of its keys.
package struct KeysChunk: Codable, Sendable, Equatable {
    package var invocationId: String
    package var keys: [String]
    package init(invocationId: String, keys: [String]) {
        self.invocationId = invocationId
        self.keys = keys
    }
}

/// Worker → coordinator while busy: a heartbeat with how far it got.
package struct Progress: Codable, Sendable, Equatable {
    package var invocationId: String
    package var callsDone: Int
    package init(invocationId: String, callsDone: Int) {
        self.invocationId = invocationId
        self.callsDone = callsDone
    }
}

/// A latency histogram in µs as sparse (value, count) pairs: mergeable exactly on the other side.
package struct HistogramSnapshot: Codable, Sendable, Equatable {
    package var unit: String
    package var significantDigits: Int
    /// Pairs of [value, count], values ascending.
    package var counts: [[UInt64]]

    package init(unit: String = "us", significantDigits: Int = 3, counts: [[UInt64]]) {
        self.unit = unit
        self.significantDigits = significantDigits
        self.counts = counts
    }

    enum CodingKeys: String, CodingKey {
        case unit, significantDigits, counts
    }

    /// The pairs read container by container: the generic `[[UInt64]]` path looked up type
    /// metadata per element and was a large share of decoding a result (every result has one).
    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        unit = try c.decode(String.self, forKey: .unit)
        significantDigits = try c.decode(Int.self, forKey: .significantDigits)
        var outer = try c.nestedUnkeyedContainer(forKey: .counts)
        var counts: [[UInt64]] = []
        counts.reserveCapacity(outer.count ?? 0)
        while !outer.isAtEnd {
            var inner = try outer.nestedUnkeyedContainer()
            var pair: [UInt64] = []
            pair.reserveCapacity(2)
            while !inner.isAtEnd { pair.append(try inner.decode(UInt64.self)) }
            counts.append(pair)
        }
        self.counts = counts
    }
}

/// A function invocation that Lambda would report as failed, with Lambda's name for it:
/// `Unhandled` or the type the runtime posted, `Sandbox.Timedout`, `Runtime.ExitError`, an init error.
package struct FunctionError: Codable, Sendable, Equatable, Error {
    package var type: String
    package var message: String
    package init(type: String, message: String) {
        self.type = type
        self.message = message
    }
}

/// Worker → coordinator: one invocation's outcome.
package struct InvocationResult: Codable, Sendable, Equatable {
    package var invocationId: String
    package var durationMs: Double
    /// Cold start: process start to ready, as Lambda's Init Duration.
    package var initMs: Double?
    /// Time spent listing, in seed mode.
    package var listMs: Double?
    package var calls: Int
    package var errors: [String: Int]
    package var retries: Int
    package var histogram: HistogramSnapshot
    package var maxMemoryBytes: Int64
    package var cpuMs: Double
    package var throttledMs: Double
    /// False when the calls were made by a function that does not report them (its call count,
    /// errors and latencies are unknown, not zero); absent means true.
    package var callsMeasured: Bool?
    /// Set when a function's invocation failed as Lambda would report it.
    package var functionError: FunctionError?
    /// What Lambda billed, from its REPORT line (the Lambda backend); absent: duration (+ init) rounded up to 1 ms.
    package var billedMs: Double?
    /// The first calls' [start, end] in µs from the invocation's start, by start (at most
    /// `CallRecorder.maxSpans`): the invocation's call waterfall. Absent for functions.
    package var callSpansUs: [[UInt32]]?
    /// The worker's own time around the calls, in µs: [the assignment (and its keys) in → the
    /// first call started, the last call ended → the result ready to send]. Absent for functions.
    package var workerOverheadUs: [UInt32]?

    package init(invocationId: String, durationMs: Double, initMs: Double? = nil, listMs: Double? = nil, calls: Int,
                errors: [String: Int], retries: Int, histogram: HistogramSnapshot, maxMemoryBytes: Int64,
                cpuMs: Double, throttledMs: Double, callsMeasured: Bool? = nil, functionError: FunctionError? = nil,
                billedMs: Double? = nil, callSpansUs: [[UInt32]]? = nil, workerOverheadUs: [UInt32]? = nil) {
        self.callSpansUs = callSpansUs
        self.workerOverheadUs = workerOverheadUs
        self.billedMs = billedMs
        self.invocationId = invocationId
        self.durationMs = durationMs
        self.initMs = initMs
        self.listMs = listMs
        self.calls = calls
        self.errors = errors
        self.retries = retries
        self.histogram = histogram
        self.maxMemoryBytes = maxMemoryBytes
        self.cpuMs = cpuMs
        self.throttledMs = throttledMs
        self.callsMeasured = callsMeasured
        self.functionError = functionError
    }
}

/// Worker → coordinator: the invocation could not run at all.
package struct Failed: Codable, Sendable, Equatable {
    package var invocationId: String
    package var reason: String
    /// The worker is leaving (it was told to stop): send it nothing more, and re-queue the
    /// invocation without counting the attempt against it. Absent means false.
    package var retire: Bool?
    package init(invocationId: String, reason: String, retire: Bool? = nil) {
        self.invocationId = invocationId
        self.reason = reason
        self.retire = retire
    }
}

/// Either side: the peer sent something it should not have; the connection closes after this.
package struct ProtocolErrorMessage: Codable, Sendable, Equatable {
    package var reason: String
    package init(reason: String) { self.reason = reason }
}

/// Every message of the protocol.
package enum Message: Sendable, Equatable {
    case challenge(Challenge)
    case hello(Hello)
    case welcome(Welcome)
    case reject(Reject)
    case assign(Assign)
    case keys(KeysChunk)
    case progress(Progress)
    case result(InvocationResult)
    case failed(Failed)
    case shutdown
    case error(ProtocolErrorMessage)

    /// The `type` field's value.
    package var type: String {
        switch self {
        case .challenge: return "challenge"
        case .hello: return "hello"
        case .welcome: return "welcome"
        case .reject: return "reject"
        case .assign: return "assign"
        case .keys: return "keys"
        case .progress: return "progress"
        case .result: return "result"
        case .failed: return "failed"
        case .shutdown: return "shutdown"
        case .error: return "error"
        }
    }
}
