import Crypto
import FanbenchBase

/// Checks a received request's SigV4 signature as an AWS service does, for a service that
/// double-encodes its path (every service but S3): the request's `Authorization` must name
/// `credentials`' key and `service`, its `x-amz-date` must be within 5 minutes of now, and the
/// signature recomputed from the headers it says it signed, its query and its body must match.
/// `fanbench lambda serve` answers with Lambda's errors for each failure.
public struct SigV4Verifier: Sendable {
    public let credentials: S3Credentials
    public let service: String
    public static let allowedSkewSeconds = 300

    public init(credentials: S3Credentials, service: String) {
        self.credentials = credentials
        self.service = service
    }

    public enum Failure: Error, Equatable, Sendable {
        /// No `Authorization` header (Lambda: MissingAuthenticationTokenException).
        case missing
        /// An `Authorization` that is not SigV4, or no `x-amz-date` (IncompleteSignatureException).
        case incomplete(String)
        /// A key other than ours (UnrecognizedClientException).
        case unknownKey
        /// The request's time is too far from now (InvalidSignatureException, "Signature expired").
        case expired
        /// The signature does not match (InvalidSignatureException).
        case mismatch

        /// The error type an AWS service answers with.
        public var type: String {
            switch self {
            case .missing: return "MissingAuthenticationTokenException"
            case .incomplete: return "IncompleteSignatureException"
            case .unknownKey: return "UnrecognizedClientException"
            case .expired, .mismatch: return "InvalidSignatureException"
            }
        }

        public var message: String {
            switch self {
            case .missing: return "Missing Authentication Token"
            case .incomplete(let why): return "Incomplete signature: \(why)"
            case .unknownKey: return "The security token included in the request is invalid."
            case .expired: return "Signature expired: the request's x-amz-date is more than 5 minutes from the server's time"
            case .mismatch:
                return "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
            }
        }
    }

    /// - Parameters:
    ///   - path: the path as received (still percent-encoded); `query` the raw query string.
    ///   - headers: every header received (names in any case).
    public func verify(method: String, path: String, query: String, headers: [(name: String, value: String)], body: [UInt8],
                       now: Int) -> Failure? {
        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name }?.value }
        guard let authorization = header("authorization") else { return .missing }
        let prefix = "AWS4-HMAC-SHA256 "
        guard authorization.hasPrefix(prefix) else { return .incomplete("the Authorization header is not AWS4-HMAC-SHA256") }
        var parts: [String: String] = [:]
        for item in authorization.dropFirst(prefix.count).split(separator: ",") {
            let kv = item.trimmingSpaces().split(separator: "=", maxSplits: 1)
            if kv.count == 2 { parts[String(kv[0])] = String(kv[1]) }
        }
        guard let credential = parts["Credential"], let signedHeaders = parts["SignedHeaders"], let signature = parts["Signature"] else {
            return .incomplete("the Authorization header needs Credential, SignedHeaders and Signature")
        }
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scope.count == 5, scope[4] == "aws4_request" else { return .incomplete("the credential scope is not key/date/region/service/aws4_request") }
        guard scope[0] == credentials.accessKeyID else { return .unknownKey }
        guard scope[3] == service else { return .incomplete("the credential scope names service '\(scope[3])', not '\(service)'") }
        guard let dateText = header("x-amz-date"), let date = AmzDate(parsing: dateText), date.date == scope[1] else {
            return .incomplete("no x-amz-date header of the credential scope's day")
        }
        guard abs(date.secondsSince1970 - now) <= Self.allowedSkewSeconds else { return .expired }
        let names = signedHeaders.split(separator: ";").map(String.init)
        guard names.contains("host") else { return .incomplete("the host header must be signed") }
        var signed: [(name: String, value: String)] = []
        for name in names {
            let values = headers.filter { $0.name.lowercased() == name }.map(\.value)
            guard !values.isEmpty else { return .incomplete("signed header '\(name)' is missing") }
            for v in values { signed.append((name, v)) }
        }
        let bodyHash = sha256Hex(body)
        if let claimed = header("x-amz-content-sha256"), claimed != SigV4Signer.unsignedPayload, claimed != bodyHash { return .mismatch }
        let signer = SigV4Signer(credentials: credentials, region: scope[2], service: service)
        let expected = signer.signExactly(method: method, canonicalURI: Self.canonicalURI(path), query: Self.queryItems(query),
                                          headers: signed, payloadHash: header("x-amz-content-sha256") ?? bodyHash, date: date)
        return constantTimeEqual(expected.signature, signature) ? nil : .mismatch
    }

    /// The canonical URI of a path as sent, for the services that encode it twice (not S3).
    public static func canonicalURI(_ pathAsSent: String) -> String {
        URIEncoding.encode(pathAsSent.isEmpty ? "/" : pathAsSent, keepSlash: true)
    }

    /// A raw query string as name/value pairs, decoded (the signer encodes them again).
    public static func queryItems(_ query: String) -> [(name: String, value: String)] {
        query.split(separator: "&").map { item in
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = URIEncoding.decode(String(kv[0]), plusAsSpace: false) ?? String(kv[0])
            let value = kv.count > 1 ? (URIEncoding.decode(String(kv[1]), plusAsSpace: false) ?? String(kv[1])) : ""
            return (name, value)
        }
    }

    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}

private extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
