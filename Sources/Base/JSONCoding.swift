import Foundation

/// fanbench's one JSON style: snake_case keys (wire, reports, the store; `snakeCase: false`
/// for state files whose keys hold acronyms), ISO 8601 dates, sorted keys.
package enum JSONCoding {
    package static func encoder(pretty: Bool = false, snakeCase: Bool = true) -> JSONEncoder {
        let e = JSONEncoder()
        if snakeCase { e.keyEncodingStrategy = .convertToSnakeCase }
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    package static func decoder(snakeCase: Bool = true) -> JSONDecoder {
        let d = JSONDecoder()
        if snakeCase { d.keyDecodingStrategy = .convertFromSnakeCase }
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
