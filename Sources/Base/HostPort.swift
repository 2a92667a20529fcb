/// A `HOST:PORT` address (`[v6]:port` too).
package struct HostPort: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; `listening` allows port 0 (any free port).
    package init(parsing text: String, listening: Bool = false) throws(FanbenchError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              ((listening ? 0 : 1)...65535).contains(port) else {
            throw .badInput("'\(text)' is not HOST:PORT (e.g. 127.0.0.1:7100)")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw .badInput("'\(text)' has no host (e.g. 127.0.0.1:7100)") }
        self.init(host: host, port: port)
    }

    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
