/// Sends prepared HTTP requests. Conformers: `CurlTransport` (blocking libcurl easy
/// handles, one per thread) and `AsyncHTTPTransport` (SwiftNIO's AsyncHTTPClient).
/// Errors thrown are `S3Error`s of a transport kind (`connectionRefused`, `timeout`, …).
public protocol S3Transport: Sendable {
    /// Sends one request and returns the response, whatever its status.
    func execute(_ request: HTTPRequest) async throws -> HTTPResponse
    /// Releases connections and threads; the transport is unusable afterwards.
    func shutdown() async
}

/// Which HTTP stack carries the calls.
public enum TransportKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Blocking libcurl easy handles (keep-alive, one handle per thread).
    case curl
    /// Non-blocking AsyncHTTPClient on SwiftNIO.
    case async

    public var description: String { rawValue }
}

/// What every transport is configured with.
public struct TransportConfiguration: Sendable, Equatable {
    /// PEM file of CA certificates to trust instead of the system's.
    public var caBundlePath: String?
    public var connectTimeout: Duration
    /// Whole-request timeout.
    public var requestTimeout: Duration
    /// Connections (and, for libcurl, threads) to keep: the in-flight limit.
    public var maxConnections: Int

    public init(caBundlePath: String? = nil, connectTimeout: Duration = .seconds(5), requestTimeout: Duration = .seconds(30), maxConnections: Int = 1) {
        self.caBundlePath = caBundlePath
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maxConnections = max(1, maxConnections)
    }
}

extension Duration {
    /// Whole milliseconds, rounded up.
    public var roundedUpMilliseconds: Int {
        let (s, atto) = components
        return Int(s) * 1000 + Int((atto + 999_999_999_999_999) / 1_000_000_000_000_000)
    }
}
