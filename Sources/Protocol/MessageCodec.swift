import FanbenchBase
import Foundation

/// Why a line could not be read as a message; each becomes an `error` reply and a closed connection.
package struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    package var reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
}

/// Encodes and decodes protocol lines (without the trailing `\n`).
package enum MessageCodec {
    private enum TypeKey: String, CodingKey { case type }

    private static let encoder = JSONCoding.encoder()
    private static let decoder = JSONCoding.decoder()

    /// One JSON object, no newline.
    package static func encode(_ message: Message) -> [UInt8] {
        let payload: Data
        do {
            switch message {
            case .challenge(let m): payload = try encoder.encode(m)
            case .hello(let m): payload = try encoder.encode(m)
            case .welcome(let m): payload = try encoder.encode(m)
            case .reject(let m): payload = try encoder.encode(m)
            case .assign(let m): payload = try encoder.encode(m)
            case .keys(let m): payload = try encoder.encode(m)
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

    /// Decodes one line in one pass (the type and the payload from the same parse); the
    /// error says what was wrong with it.
    package static func decode(_ line: [UInt8]) throws(ProtocolError) -> Message {
        guard String(validating: line, as: UTF8.self) != nil else {
            throw ProtocolError("line is not valid UTF-8")
        }
        do {
            return try decoder.decode(Envelope.self, from: Data(line)).message
        } catch let e as ProtocolError {
            throw e
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw ProtocolError("line is not valid JSON")
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw ProtocolError("line is not a JSON object")
        } catch DecodingError.keyNotFound(let key, let context) where context.codingPath.isEmpty && key.stringValue == "type" {
            throw ProtocolError("message has no \"type\"")
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.map(\.stringValue) == ["type"] {
            throw ProtocolError("message's \"type\" is not a string")
        } catch {
            throw ProtocolError("malformed message")
        }
    }

    /// A line as a whole: its `type`, then the payload decoded from the same container.
    private struct Envelope: Decodable {
        var message: Message

        init(from decoder: any Decoder) throws {
            let type = try decoder.container(keyedBy: TypeKey.self).decode(String.self, forKey: .type)
            func payload<T: Decodable>(_: T.Type) throws -> T {
                do {
                    return try T(from: decoder)
                } catch let DecodingError.keyNotFound(key, context) {
                    throw ProtocolError("\(type): missing field \"\(MessageCodec.snake(key.stringValue))\"\(MessageCodec.path(context.codingPath))")
                } catch let DecodingError.typeMismatch(_, context) {
                    throw ProtocolError("\(type): wrong type for field \"\(MessageCodec.path(context.codingPath, leading: false))\"")
                } catch let DecodingError.valueNotFound(_, context) {
                    throw ProtocolError("\(type): null for field \"\(MessageCodec.path(context.codingPath, leading: false))\"")
                } catch let e as ProtocolError {
                    throw e
                } catch {
                    throw ProtocolError("\(type): malformed message")
                }
            }
            switch type {
            case "challenge": message = .challenge(try payload(Challenge.self))
            case "hello": message = .hello(try payload(Hello.self))
            case "welcome": message = .welcome(try payload(Welcome.self))
            case "reject": message = .reject(try payload(Reject.self))
            case "assign": message = .assign(try payload(Assign.self))
            case "keys": message = .keys(try payload(KeysChunk.self))
            case "progress": message = .progress(try payload(Progress.self))
            case "result": message = .result(try payload(InvocationResult.self))
            case "failed": message = .failed(try payload(Failed.self))
            case "shutdown": message = .shutdown
            case "error": message = .error(try payload(ProtocolErrorMessage.self))
            default: throw ProtocolError("unknown message type \"\(type)\"")
            }
        }
    }

    fileprivate static func path(_ keys: [any CodingKey], leading: Bool = true) -> String {
        let p = keys.map { snake($0.stringValue) }.joined(separator: ".")
        return leading ? (p.isEmpty ? "" : " in \(p)") : p
    }

    fileprivate static func snake(_ s: String) -> String {
        var out = ""
        for c in s {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out
    }
}
