/// An S3 call that failed: a service error (parsed from S3's error XML or status), or a
/// transport failure. `code` is S3's error code (`SignatureDoesNotMatch`) or a local one
/// (`ConnectionRefused`, `Timeout`, …), so that errors can be counted by code.
public struct S3Error: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; grows without breaking callers.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case service, connectionRefused, connectionReset, timeout, dns, tls, transport, invalidResponse, invalidRequest
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// S3 answered with an error status.
        public static let service = Kind(.service)
        /// Nothing listens at the endpoint.
        public static let connectionRefused = Kind(.connectionRefused)
        /// The connection broke mid-exchange.
        public static let connectionReset = Kind(.connectionReset)
        /// Connect or request timeout.
        public static let timeout = Kind(.timeout)
        /// The endpoint's host name does not resolve.
        public static let dns = Kind(.dns)
        /// TLS handshake or certificate verification failed.
        public static let tls = Kind(.tls)
        /// Any other transport failure.
        public static let transport = Kind(.transport)
        /// S3 answered with something that is not what the API promises.
        public static let invalidResponse = Kind(.invalidResponse)
        /// The request could not be built or sent as given.
        public static let invalidRequest = Kind(.invalidRequest)

        public var description: String { base.rawValue }
    }

    public var kind: Kind
    /// S3's error code, or a local code for transport failures.
    public var code: String
    public var message: String
    /// HTTP status, for service errors.
    public var httpStatus: Int?
    /// S3's request id, when it sent one.
    public var requestID: String?
    /// Retries made before giving up.
    public var retries: Int = 0

    public init(kind: Kind, code: String, message: String, httpStatus: Int? = nil, requestID: String? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
        self.requestID = requestID
    }

    /// Codes that the AWS SDKs' standard retry mode retries.
    private static let retryableCodes: Set<String> = [
        "SlowDown", "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable",
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestLimitExceeded",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "PriorRequestNotComplete",
        "BandwidthLimitExceeded", "EC2ThrottledException", "TransactionInProgressException",
    ]

    /// Whether the standard retry mode would try this call again.
    public var isRetryable: Bool {
        switch kind {
        case .connectionReset, .timeout, .connectionRefused:
            return true
        case .service:
            if let s = httpStatus, [500, 502, 503, 504].contains(s) { return true }
            return Self.retryableCodes.contains(code)
        default:
            return false
        }
    }

    /// What the user can do about it, when there is something to say.
    public var suggestion: String? {
        switch (kind, code) {
        case (.service, "SignatureDoesNotMatch"):
            return "the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY (or --secret-key-file)"
        case (.service, "InvalidAccessKeyId"):
            return "the access key is unknown to the endpoint: check AWS_ACCESS_KEY_ID"
        case (.service, "AccessDenied"):
            return "the credentials lack permission for this call, or none were sent: check AWS_ACCESS_KEY_ID and the identity's policy"
        case (.service, "NoSuchBucket"):
            return "check --bucket, or create and fill it with `fanbench seed --bucket NAME`"
        case (.service, "NoSuchKey"), (.service, "NotFound"):
            return "the object is not there: check the key and --prefix"
        case (.connectionRefused, _):
            return "nothing listens at the endpoint: check AWS_ENDPOINT_URL / --endpoint, or start the local target with `fanbench target up`"
        case (.dns, _):
            return "the endpoint's host name does not resolve: check AWS_ENDPOINT_URL / --endpoint"
        case (.tls, _):
            return "TLS failed: for a private CA pass its certificate with AWS_CA_BUNDLE or --ca-bundle; for a plain-HTTP endpoint use http://"
        case (.timeout, _):
            return "the endpoint did not answer in time: check it is reachable, or raise --timeout"
        default:
            return nil
        }
    }

    public var description: String {
        var s: String
        switch kind {
        case .service:
            s = "S3 error \(code)"
            if let status = httpStatus { s += " (HTTP \(status)" + (requestID.map { ", request id \($0)" } ?? "") + ")" }
            if !message.isEmpty { s += ": \(message)" }
        default:
            s = "\(code): \(message)"
        }
        if retries > 0 { s += " (after \(retries) \(retries == 1 ? "retry" : "retries"))" }
        return s
    }

    /// One line for a person: what went wrong and what to do.
    public var userMessage: String {
        suggestion.map { "\(description) — \($0)" } ?? description
    }
}
