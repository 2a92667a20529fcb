import Crypto
import FanbenchBase
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// AWS Signature Version 4 for S3, as pure code: the date is an input, so AWS's published
/// examples replay exactly. Signing keys are cached per day.
public struct SigV4Signer: Sendable {
    public let credentials: S3Credentials
    public let region: String
    public let service: String
    private let keyCache = NIOLockedValueBox<(day: String, mac: HMAC<SHA256>)?>(nil)

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// SHA-256 of the empty payload, in hex.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// The intermediate values of one signature, for tests and diagnostics.
    public struct Signature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var signedHeaders: String
        /// The canonical query string, which is also the query to send.
        public var canonicalQuery: String
        public var authorization: String
        /// Every header to send, in the order given plus the ones signing adds.
        public var headers: [(name: String, value: String)]
    }

    /// Signs a request.
    /// - Parameters:
    ///   - canonicalURI: the path exactly as it goes on the wire (already URI-encoded once).
    ///   - query: raw (unencoded) query parameters.
    ///   - headers: headers to sign and send; must include `host`. `x-amz-date`,
    ///     `x-amz-content-sha256` and `x-amz-security-token` are added.
    ///   - payloadHash: hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    public func sign(
        method: String,
        canonicalURI: String,
        query: [(name: String, value: String)],
        headers: [(name: String, value: String)],
        payloadHash: String,
        date: AmzDate
    ) -> Signature {
        var all = headers
        all.append(("x-amz-content-sha256", payloadHash))
        all.append(("x-amz-date", date.dateTime))
        if let token = credentials.sessionToken { all.append(("x-amz-security-token", token)) }
        return signExactly(method: method, canonicalURI: canonicalURI, query: query, headers: all, payloadHash: payloadHash, date: date)
    }

    /// Signs exactly `headers` (nothing added): what the services other than S3 sign (they do
    /// not send `x-amz-content-sha256`), and how a received request's signature is recomputed
    /// from the headers it says it signed. The returned headers are `headers` plus `authorization`.
    public func signExactly(
        method: String,
        canonicalURI: String,
        query: [(name: String, value: String)],
        headers: [(name: String, value: String)],
        payloadHash: String,
        date: AmzDate
    ) -> Signature {
        var all = headers
        // Canonical headers: lower-case names, trimmed values with inner runs of spaces folded,
        // sorted by name; repeated names joined with commas.
        var canonical: [(String, String)] = all.map { (lowercaseASCII($0.name), foldSpaces($0.value)) }
        canonical.sort { $0.0 < $1.0 }
        var merged: [(String, String)] = []
        merged.reserveCapacity(canonical.count)
        for (name, value) in canonical {
            if let last = merged.last, last.0 == name {
                merged[merged.count - 1].1 = last.1 + "," + value
            } else {
                merged.append((name, value))
            }
        }
        var canonicalHeaders = ""
        var signedHeaders = ""
        for (i, (name, value)) in merged.enumerated() {
            canonicalHeaders += name + ":" + value + "\n"
            if i > 0 { signedHeaders += ";" }
            signedHeaders += name
        }

        var canonicalRequest = method
        canonicalRequest += "\n"
        canonicalRequest += canonicalURI
        canonicalRequest += "\n"
        let canonicalQuery = Self.canonicalQuery(query)
        canonicalRequest += canonicalQuery
        canonicalRequest += "\n"
        canonicalRequest += canonicalHeaders
        canonicalRequest += "\n"
        canonicalRequest += signedHeaders
        canonicalRequest += "\n"
        canonicalRequest += payloadHash
        let scope = "\(date.date)/\(region)/\(service)/aws4_request"
        var canonicalBytes = canonicalRequest
        let requestHash = canonicalBytes.withUTF8 { Hex.encode(SHA256.hash(data: UnsafeRawBufferPointer($0))) }
        let stringToSign = "AWS4-HMAC-SHA256\n\(date.dateTime)\n\(scope)\n\(requestHash)"
        var mac = keyedMAC(day: date.date)
        var toSign = stringToSign
        toSign.withUTF8 { mac.update(data: UnsafeRawBufferPointer($0)) }
        let signature = Hex.encode(mac.finalize())
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        all.append(("authorization", authorization))
        return Signature(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
                         signedHeaders: signedHeaders, canonicalQuery: canonicalQuery, authorization: authorization, headers: all)
    }

    /// The canonical query string: names and values encoded, sorted by name then value.
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        if query.isEmpty { return "" }
        var pairs: [(name: String, value: String)] = query.map { (URIEncoding.encode($0.name), URIEncoding.encode($0.value)) }
        pairs.sort { (a: (name: String, value: String), b: (name: String, value: String)) -> Bool in
            a.name == b.name ? a.value < b.value : a.name < b.name
        }
        var out = ""
        for (i, pair) in pairs.enumerated() {
            if i > 0 { out += "&" }
            out += pair.name
            out += "="
            out += pair.value
        }
        return out
    }

    /// An HMAC already keyed with the day's signing key (copy-on-write, so each request's copy is its own).
    private func keyedMAC(day: String) -> HMAC<SHA256> {
        if let cached = keyCache.withLockedValue({ $0 }), cached.day == day { return cached.mac }
        func hmac(_ key: SymmetricKey, _ data: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(data.utf8), using: key))
        }
        let kDate = hmac(SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8)), day)
        let mac = HMAC<SHA256>(key: hmac(hmac(hmac(kDate, region), service), "aws4_request"))
        keyCache.withLockedValue { $0 = (day, mac) }
        return mac
    }
}

/// Hex SHA-256 of a payload, for `x-amz-content-sha256`.
public func sha256Hex(_ bytes: [UInt8]) -> String {
    Hex.encode(SHA256.hash(data: bytes))
}


private func lowercaseASCII(_ s: String) -> String {
    if !s.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) { return s }
    return String(decoding: s.utf8.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }, as: UTF8.self)
}

private func foldSpaces(_ s: String) -> String {
    // Most values have no leading, trailing or repeated blanks: leave them alone.
    var previousBlank = true
    var clean = true
    for b in s.utf8 {
        let blank = b == UInt8(ascii: " ") || b == UInt8(ascii: "\t")
        if blank && previousBlank { clean = false; break }
        previousBlank = blank
    }
    if clean && !previousBlank { return s }
    var out = [UInt8]()
    out.reserveCapacity(s.utf8.count)
    var pendingSpace = false
    for b in s.utf8 {
        if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") {
            pendingSpace = !out.isEmpty
        } else {
            if pendingSpace { out.append(UInt8(ascii: " ")); pendingSpace = false }
            out.append(b)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// A SigV4 timestamp: `yyyyMMdd'T'HHmmss'Z'` and its day, in UTC.
public struct AmzDate: Sendable, Equatable {
    public let dateTime: String
    public var date: String { String(dateTime.prefix(8)) }

    /// A received `x-amz-date` (`yyyyMMdd'T'HHmmss'Z'`); nil when it is not one.
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z"),
              bytes.enumerated().allSatisfy({ $0.offset == 8 || $0.offset == 15 || (48...57).contains($0.element) }) else { return nil }
        dateTime = text
    }

    /// Seconds since 1970 of this timestamp (UTC).
    public var secondsSince1970: Int {
        let d = Array(dateTime.utf8).map { Int($0) - 48 }
        func n(_ from: Int, _ width: Int) -> Int { (from..<from + width).reduce(0) { $0 * 10 + d[$1] } }
        var tm = tm()
        tm.tm_year = Int32(n(0, 4) - 1900)
        tm.tm_mon = Int32(n(4, 2) - 1)
        tm.tm_mday = Int32(n(6, 2))
        tm.tm_hour = Int32(n(9, 2))
        tm.tm_min = Int32(n(11, 2))
        tm.tm_sec = Int32(n(13, 2))
        return Int(timegm(&tm))
    }

    /// From seconds since 1970 (UTC).
    public init(secondsSince1970: Int) {
        var t = time_t(secondsSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        var out = [UInt8](repeating: UInt8(ascii: "0"), count: 16)
        func put(_ value: Int32, at offset: Int, width: Int) {
            var v = Int(value)
            for i in stride(from: offset + width - 1, through: offset, by: -1) {
                out[i] = UInt8(48 + v % 10)
                v /= 10
            }
        }
        put(tm.tm_year + 1900, at: 0, width: 4)
        put(tm.tm_mon + 1, at: 4, width: 2)
        put(tm.tm_mday, at: 6, width: 2)
        out[8] = UInt8(ascii: "T")
        put(tm.tm_hour, at: 9, width: 2)
        put(tm.tm_min, at: 11, width: 2)
        put(tm.tm_sec, at: 13, width: 2)
        out[15] = UInt8(ascii: "Z")
        dateTime = String(decoding: out, as: UTF8.self)
    }

    /// Now, from the wall clock.
    public static func now() -> AmzDate {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return AmzDate(secondsSince1970: Int(ts.tv_sec))
    }
}
