/// A fully prepared (addressed and signed) HTTP request, ready for a transport.
public struct HTTPRequest: Sendable {
    public var method: String
    /// Absolute URL, already percent-encoded exactly as signed.
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Count the response body's bytes instead of keeping them (2xx only; error bodies are kept).
    public var discardResponseBody: Bool

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [], discardResponseBody: Bool = false) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.discardResponseBody = discardResponseBody
    }
}

/// What a transport got back.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lower-cased.
    public var headers: [(name: String, value: String)]
    /// The body, unless the request asked to discard it.
    public var body: [UInt8]
    /// Bytes of body received, kept or not.
    public var bodyLength: Int

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8], bodyLength: Int? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bodyLength = bodyLength ?? body.count
    }

    /// First value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }
}

/// Error bodies larger than this are cut when kept for parsing.
let maxErrorBodyBytes = 64 * 1024
