import Foundation

/// Why a line could not be read as a message; each becomes an `error` reply and a closed connection.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Encodes and decodes protocol lines (without the trailing `\n`).
public enum MessageCodec {
    private enum TypeKey: String, CodingKey { case type }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    private static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }()

    /// One JSON object, no newline.
    public static func encode(_ message: Message) -> [UInt8] {
        let payload: Data
        do {
            switch message {
            case .challenge(let m): payload = try encoder.encode(m)
            case .hello(let m): payload = try encoder.encode(m)
            case .welcome(let m): payload = try encoder.encode(m)
            case .reject(let m): payload = try encoder.encode(m)
            case .assign(let m): payload = try encoder.encode(m)
            case .progress(let m): payload = try encoder.encode(m)
            case .result(let m): payload = try encoder.encode(m)
            case .failed(let m): payload = try encoder.encode(m)
            case .shutdown: payload = Data("{}".utf8)
            case .error(let m): payload = try encoder.encode(m)
            }
        } catch {
            preconditionFailure("protocol types always encode: \(error)")
        }
        // Splice the type in front: {"type":"x",<fields>}
        var out = Array("{\"type\":\"\(message.type)\"".utf8)
        let body = Array(payload)
        if body.count > 2 { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: body.dropFirst())
        return out
    }

    /// Decodes one line; the error says what was wrong with it.
    public static func decode(_ line: [UInt8]) throws(ProtocolError) -> Message {
        guard String(validating: line, as: UTF8.self) != nil else {
            throw ProtocolError("line is not valid UTF-8")
        }
        let data = Data(line)
        let type: String
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ProtocolError("line is not a JSON object")
            }
            guard let t = object["type"] as? String else { throw ProtocolError("message has no \"type\"") }
            type = t
        } catch let e as ProtocolError {
            throw e
        } catch {
            throw ProtocolError("line is not valid JSON")
        }
        do {
            switch type {
            case "challenge": return .challenge(try decoder.decode(Challenge.self, from: data))
            case "hello": return .hello(try decoder.decode(Hello.self, from: data))
            case "welcome": return .welcome(try decoder.decode(Welcome.self, from: data))
            case "reject": return .reject(try decoder.decode(Reject.self, from: data))
            case "assign": return .assign(try decoder.decode(Assign.self, from: data))
            case "progress": return .progress(try decoder.decode(Progress.self, from: data))
            case "result": return .result(try decoder.decode(InvocationResult.self, from: data))
            case "failed": return .failed(try decoder.decode(Failed.self, from: data))
            case "shutdown": return .shutdown
            case "error": return .error(try decoder.decode(ProtocolErrorMessage.self, from: data))
            default: throw ProtocolError("unknown message type \"\(type)\"")
            }
        } catch let e as ProtocolError {
            throw e
        } catch let DecodingError.keyNotFound(key, context) {
            throw ProtocolError("\(type): missing field \"\(snake(key.stringValue))\"\(path(context.codingPath))")
        } catch let DecodingError.typeMismatch(_, context) {
            throw ProtocolError("\(type): wrong type for field \"\(path(context.codingPath, leading: false))\"")
        } catch let DecodingError.valueNotFound(_, context) {
            throw ProtocolError("\(type): null for field \"\(path(context.codingPath, leading: false))\"")
        } catch {
            throw ProtocolError("\(type): malformed message")
        }
    }

    private static func path(_ keys: [any CodingKey], leading: Bool = true) -> String {
        let p = keys.map { snake($0.stringValue) }.joined(separator: ".")
        return leading ? (p.isEmpty ? "" : " in \(p)") : p
    }

    private static func snake(_ s: String) -> String {
        var out = ""
        for c in s {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out
    }
}
