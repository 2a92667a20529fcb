import Foundation

/// Where S3 is: scheme, host and port of an endpoint URL such as `https://127.0.0.1:8333`.
public struct S3Endpoint: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int?

    public init(scheme: String, host: String, port: Int? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// Parses `http(s)://host[:port][/]`; anything else is refused with a message that says why.
    public init(parsing text: String) throws(S3ConfigurationError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let c = URLComponents(string: trimmed), let scheme = c.scheme?.lowercased(),
              scheme == "http" || scheme == "https" else {
            throw S3ConfigurationError("endpoint '\(text)' is not an http:// or https:// URL; give it as e.g. https://127.0.0.1:8333 (AWS_ENDPOINT_URL or --endpoint)")
        }
        guard let host = c.host, !host.isEmpty else {
            throw S3ConfigurationError("endpoint '\(text)' has no host; give it as e.g. https://127.0.0.1:8333 (AWS_ENDPOINT_URL or --endpoint)")
        }
        guard c.path.isEmpty || c.path == "/", c.query == nil, c.fragment == nil, c.user == nil else {
            throw S3ConfigurationError("endpoint '\(text)' has a path, query or user part; give only scheme, host and port, e.g. https://127.0.0.1:8333")
        }
        if let p = c.port, !(1...65535).contains(p) {
            throw S3ConfigurationError("endpoint '\(text)' has port \(p), outside 1–65535")
        }
        self.init(scheme: scheme, host: host, port: c.port)
    }

    /// AWS's regional endpoint.
    public static func aws(region: String) -> S3Endpoint {
        S3Endpoint(scheme: "https", host: "s3.\(region).amazonaws.com")
    }

    public var isTLS: Bool { scheme == "https" }

    /// `host[:port]`, the port left out when it is the scheme's default; IPv6 in brackets.
    public var authority: String { authority(host: host) }

    func authority(host h: String) -> String {
        let hostPart = h.contains(":") ? "[\(h)]" : h
        guard let port, port != (isTLS ? 443 : 80) else { return hostPart }
        return "\(hostPart):\(port)"
    }

    public var description: String { "\(scheme)://\(authority)" }
}

/// A configuration value that cannot work; the message says what to change.
public struct S3ConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
