/// Protocol v1 between coordinator and workers: line-delimited JSON over TCP, one object per
/// `\n`-terminated UTF-8 line, every object with a `"type"`. Field names are snake_case.
public enum ProtocolVersion {
    public static let current = 1
}

/// The limits a worker read from its own cgroup.
public struct WorkerLimits: Codable, Sendable, Equatable {
    /// CPU in cores' worth (quota ÷ period); nil when uncapped.
    public var cpu: Double?
    /// Memory limit in bytes; nil when uncapped.
    public var memoryBytes: Int64?
    /// CPUs the worker may run on (cpuset), when restricted.
    public var cores: Int?
    /// `v1`, `v2` or `none`.
    public var cgroup: String

    public init(cpu: Double? = nil, memoryBytes: Int64? = nil, cores: Int? = nil, cgroup: String = "none") {
        self.cpu = cpu
        self.memoryBytes = memoryBytes
        self.cores = cores
        self.cgroup = cgroup
    }

    public static let none = WorkerLimits()
}

/// Coordinator → worker, first line: prove you hold the token by MACing this nonce.
public struct Challenge: Codable, Sendable, Equatable {
    public var `protocol`: Int
    public var nonce: String
    public init(protocol: Int = ProtocolVersion.current, nonce: String) {
        self.protocol = `protocol`
        self.nonce = nonce
    }
}

/// Worker → coordinator: who it is, what it can do, and the MAC of the nonce.
public struct Hello: Codable, Sendable, Equatable {
    public var `protocol`: Int
    public var workerId: String
    public var version: String
    public var sizeMb: Int
    public var limits: WorkerLimits
    /// Hex HMAC-SHA256(token, nonce).
    public var auth: String
    /// The worker serves one invocation, then exits (a cold start); absent means false.
    public var singleUse: Bool?

    public init(protocol: Int = ProtocolVersion.current, workerId: String, version: String, sizeMb: Int, limits: WorkerLimits, auth: String, singleUse: Bool? = nil) {
        self.protocol = `protocol`
        self.workerId = workerId
        self.version = version
        self.sizeMb = sizeMb
        self.limits = limits
        self.auth = auth
        self.singleUse = singleUse
    }
}

public struct Welcome: Codable, Sendable, Equatable {
    public var workerId: String
    public init(workerId: String) { self.workerId = workerId }
}

public struct Reject: Codable, Sendable, Equatable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// Where the worker's S3 calls go. Credentials are not sent: workers take them from their
/// own environment, as a Lambda takes its role.
public struct TargetSpec: Codable, Sendable, Equatable {
    public var endpoint: String
    public var bucket: String
    public var region: String
    public var pathStyle: Bool
    /// CA file path as the worker sees it.
    public var caBundle: String?

    public init(endpoint: String, bucket: String, region: String, pathStyle: Bool, caBundle: String? = nil) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.pathStyle = pathStyle
        self.caBundle = caBundle
    }
}

public struct Timeouts: Codable, Sendable, Equatable {
    public var connectMs: Int
    public var requestMs: Int
    public init(connectMs: Int = 5000, requestMs: Int = 30000) {
        self.connectMs = connectMs
        self.requestMs = requestMs
    }
}

public struct RetrySpec: Codable, Sendable, Equatable {
    public var maxAttempts: Int
    public init(maxAttempts: Int = 3) { self.maxAttempts = maxAttempts }
}

/// Seed mode: the invocation lists the bucket itself, as the blog's handler did.
public struct ListSpec: Codable, Sendable, Equatable {
    public var prefix: String?
    public init(prefix: String? = nil) { self.prefix = prefix }
}

/// Coordinator → worker: run one invocation.
public struct Assign: Codable, Sendable, Equatable {
    public var invocationId: String
    public var op: String
    /// `serial`, `threads` or `async`.
    public var strategy: String
    public var concurrency: Int
    /// The shard's keys (absent in seed mode).
    public var keys: [String]?
    /// List first (seed mode).
    public var list: ListSpec?
    public var target: TargetSpec
    public var timeouts: Timeouts
    public var retry: RetrySpec

    public init(invocationId: String, op: String, strategy: String, concurrency: Int, keys: [String]?, list: ListSpec?,
                target: TargetSpec, timeouts: Timeouts = Timeouts(), retry: RetrySpec = RetrySpec()) {
        self.invocationId = invocationId
        self.op = op
        self.strategy = strategy
        self.concurrency = concurrency
        self.keys = keys
        self.list = list
        self.target = target
        self.timeouts = timeouts
        self.retry = retry
    }
}

/// Worker → coordinator while busy: a heartbeat with how far it got.
public struct Progress: Codable, Sendable, Equatable {
    public var invocationId: String
    public var callsDone: Int
    public init(invocationId: String, callsDone: Int) {
        self.invocationId = invocationId
        self.callsDone = callsDone
    }
}

/// A latency histogram in µs as sparse (value, count) pairs: mergeable exactly on the other side.
public struct HistogramSnapshot: Codable, Sendable, Equatable {
    public var unit: String
    public var significantDigits: Int
    /// Pairs of [value, count], values ascending.
    public var counts: [[UInt64]]

    public init(unit: String = "us", significantDigits: Int = 3, counts: [[UInt64]]) {
        self.unit = unit
        self.significantDigits = significantDigits
        self.counts = counts
    }
}

/// Worker → coordinator: one invocation's outcome.
public struct InvocationResult: Codable, Sendable, Equatable {
    public var invocationId: String
    public var durationMs: Double
    /// Cold start: process start to ready, as Lambda's Init Duration.
    public var initMs: Double?
    /// Time spent listing, in seed mode.
    public var listMs: Double?
    public var calls: Int
    public var errors: [String: Int]
    public var retries: Int
    public var histogram: HistogramSnapshot
    public var maxMemoryBytes: Int64
    public var cpuMs: Double
    public var throttledMs: Double

    public init(invocationId: String, durationMs: Double, initMs: Double? = nil, listMs: Double? = nil, calls: Int,
                errors: [String: Int], retries: Int, histogram: HistogramSnapshot, maxMemoryBytes: Int64,
                cpuMs: Double, throttledMs: Double) {
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
    }
}

/// Worker → coordinator: the invocation could not run at all.
public struct Failed: Codable, Sendable, Equatable {
    public var invocationId: String
    public var reason: String
    public init(invocationId: String, reason: String) {
        self.invocationId = invocationId
        self.reason = reason
    }
}

/// Either side: the peer sent something it should not have; the connection closes after this.
public struct ProtocolErrorMessage: Codable, Sendable, Equatable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// Every message of protocol v1.
public enum Message: Sendable, Equatable {
    case challenge(Challenge)
    case hello(Hello)
    case welcome(Welcome)
    case reject(Reject)
    case assign(Assign)
    case progress(Progress)
    case result(InvocationResult)
    case failed(Failed)
    case shutdown
    case error(ProtocolErrorMessage)

    /// The `type` field's value.
    public var type: String {
        switch self {
        case .challenge: return "challenge"
        case .hello: return "hello"
        case .welcome: return "welcome"
        case .reject: return "reject"
        case .assign: return "assign"
        case .progress: return "progress"
        case .result: return "result"
        case .failed: return "failed"
        case .shutdown: return "shutdown"
        case .error: return "error"
        }
    }
}
