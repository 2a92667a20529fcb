import Foundation

/// Everything an S3 client needs to address, sign and send calls.
public struct S3ClientConfiguration: Sendable {
    /// How a bucket appears in a URL.
    public enum Addressing: String, Sendable {
        /// `https://host/bucket/key` (SeaweedFS, MinIO, any custom endpoint).
        case path
        /// `https://bucket.host/key` (AWS).
        case virtualHosted
    }

    public var endpoint: S3Endpoint
    public var region: String
    public var credentials: S3Credentials
    public var addressing: Addressing
    public var caBundlePath: String?
    public var connectTimeout: Duration
    public var requestTimeout: Duration
    public var retry: RetryPolicy
    /// Send `UNSIGNED-PAYLOAD` instead of hashing bodies (only over TLS).
    public var unsignedPayload: Bool

    public init(endpoint: S3Endpoint, region: String = "us-east-1", credentials: S3Credentials,
                addressing: Addressing = .path, caBundlePath: String? = nil,
                connectTimeout: Duration = .seconds(5), requestTimeout: Duration = .seconds(30),
                retry: RetryPolicy = .standard, unsignedPayload: Bool = false) {
        self.endpoint = endpoint
        self.region = region
        self.credentials = credentials
        self.addressing = addressing
        self.caBundlePath = caBundlePath
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.retry = retry
        self.unsignedPayload = unsignedPayload
    }

    /// The transport settings that follow from this configuration.
    public func transportConfiguration(maxConnections: Int) -> TransportConfiguration {
        TransportConfiguration(caBundlePath: caBundlePath, connectTimeout: connectTimeout,
                               requestTimeout: requestTimeout, maxConnections: maxConnections)
    }

    /// Values given on the command line; each wins over its environment variable.
    public struct Overrides: Sendable {
        public var endpoint: String?
        public var region: String?
        public var accessKeyID: String?
        public var secretAccessKey: String?
        public var caBundlePath: String?
        public var addressing: Addressing?

        public init(endpoint: String? = nil, region: String? = nil, accessKeyID: String? = nil,
                    secretAccessKey: String? = nil, caBundlePath: String? = nil, addressing: Addressing? = nil) {
            self.endpoint = endpoint
            self.region = region
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.caBundlePath = caBundlePath
            self.addressing = addressing
        }
    }

    /// Reads the standard AWS variables — AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3),
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
    /// (or AWS_DEFAULT_REGION), AWS_CA_BUNDLE — under the given overrides.
    /// Errors name the variable or flag to set; they never echo a secret.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment,
                                       overrides: Overrides = Overrides()) throws(S3ConfigurationError) -> S3ClientConfiguration {
        func value(_ names: String...) -> String? {
            for n in names { if let v = env[n], !v.isEmpty { return v } }
            return nil
        }
        let region = overrides.region ?? CredentialChain.region(env) ?? "us-east-1"
        let endpointText = overrides.endpoint ?? value("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        let endpoint = try endpointText.map { text throws(S3ConfigurationError) in try S3Endpoint(parsing: text) } ?? .aws(region: region)
        // Flags first, then the environment's keys, then the profile's.
        let chain = (overrides.accessKeyID == nil || overrides.secretAccessKey == nil) ? try CredentialChain.resolve(env)?.credentials : nil
        guard let accessKey = overrides.accessKeyID ?? value("AWS_ACCESS_KEY_ID") ?? chain?.accessKeyID else {
            throw S3ConfigurationError("no S3 access key: set AWS_ACCESS_KEY_ID or AWS_PROFILE (for the local target: eval \"$(fanbench target env)\")")
        }
        guard let secret = overrides.secretAccessKey ?? value("AWS_SECRET_ACCESS_KEY") ?? chain?.secretAccessKey else {
            throw S3ConfigurationError("no S3 secret key: set AWS_SECRET_ACCESS_KEY or AWS_PROFILE (for the local target: eval \"$(fanbench target env)\")")
        }
        let sessionToken = value("AWS_ACCESS_KEY_ID") != nil ? value("AWS_SESSION_TOKEN") : (chain?.sessionToken ?? value("AWS_SESSION_TOKEN"))
        let ca = overrides.caBundlePath ?? value("AWS_CA_BUNDLE")
        if let ca, !FileManager.default.isReadableFile(atPath: ca) {
            throw S3ConfigurationError("CA bundle '\(ca)' cannot be read: check AWS_CA_BUNDLE or --ca-bundle")
        }
        let addressing = overrides.addressing ?? (endpointText == nil ? .virtualHosted : .path)
        return S3ClientConfiguration(
            endpoint: endpoint, region: region,
            credentials: S3Credentials(accessKeyID: accessKey, secretAccessKey: secret, sessionToken: sessionToken),
            addressing: addressing, caBundlePath: ca)
    }
}
