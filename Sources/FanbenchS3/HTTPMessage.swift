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
    /// The body, unless the request asked to discard it.
    public var body: [UInt8]
    /// Bytes of body received, kept or not.
    public var bodyLength: Int
    private var parsedHeaders: [(name: String, value: String)]
    /// `Name: value\r\n` lines as received, parsed only when asked (most calls never ask).
    private var rawHeaders: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8], bodyLength: Int? = nil) {
        self.status = status
        parsedHeaders = headers.map { (name: $0.name.lowercased(), value: $0.value) }
        rawHeaders = []
        self.body = body
        self.bodyLength = bodyLength ?? body.count
    }

    init(status: Int, rawHeaders: [UInt8], body: [UInt8], bodyLength: Int) {
        self.status = status
        parsedHeaders = []
        self.rawHeaders = rawHeaders
        self.body = body
        self.bodyLength = bodyLength
    }

    /// Every header, names lower-cased.
    public var headers: [(name: String, value: String)] {
        var all = parsedHeaders
        forEachRawHeader { name, value in
            all.append((String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self)))
            return true
        }
        return all
    }

    /// First value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        if let hit = parsedHeaders.first(where: { $0.name == lower }) { return hit.value }
        let wanted = Array(lower.utf8)
        var found: String?
        forEachRawHeader { n, value in
            guard n.count == wanted.count, zip(n, wanted).allSatisfy({ ($0 | 0x20) == $1 || $0 == $1 }) else { return true }
            found = String(decoding: value, as: UTF8.self)
            return false
        }
        return found
    }

    /// Calls `body(name, value)` per raw header line until it returns false.
    private func forEachRawHeader(_ body: (ArraySlice<UInt8>, ArraySlice<UInt8>) -> Bool) {
        var start = rawHeaders.startIndex
        while start < rawHeaders.endIndex {
            let end = rawHeaders[start...].firstIndex(of: UInt8(ascii: "\n")) ?? rawHeaders.endIndex
            var line = rawHeaders[start..<end]
            start = end + 1
            while let last = line.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") { line = line.dropLast() }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            var value = line[(colon + 1)...]
            while let first = value.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { value = value.dropFirst() }
            if !body(line[..<colon], value) { return }
        }
    }
}

/// Error bodies larger than this are cut when kept for parsing.
let maxErrorBodyBytes = 64 * 1024
