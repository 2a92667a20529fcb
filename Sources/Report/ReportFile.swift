import FanbenchBase
import Foundation

/// A report read back from a file `run --json` wrote (a CI baseline, a run from another machine).
package enum ReportFile {
    /// A run argument names a file when it ends in .json or is a path that exists.
    package static func looksLikeFile(_ name: String) -> Bool {
        name.hasSuffix(".json") || (name.contains("/") && FileManager.default.fileExists(atPath: name))
    }

    package static func read(_ path: String) throws(FanbenchError) -> RunReport {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FanbenchError.badInput("cannot read the report \(path): no such file, or not readable")
        }
        return try decode(data, from: path)
    }

    package static func decode(_ data: Data, from path: String) throws(FanbenchError) -> RunReport {
        let report: RunReport
        do {
            report = try JSONCoding.decoder().decode(RunReport.self, from: data)
        } catch let error as DecodingError {
            throw FanbenchError.badInput("\(path) is not a fanbench report (schema fanbench.report/v1, as run --json writes): \(describe(error))")
        } catch {
            throw FanbenchError.badInput("\(path) is not a fanbench report: \(error)")
        }
        guard report.schema == "fanbench.report/v1" else {
            throw FanbenchError.badInput("\(path) has schema '\(report.schema)'; this fanbench reads fanbench.report/v1")
        }
        return report
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.isEmpty ? "" : " at " + c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .dataCorrupted(let c): return "not valid JSON\(path(c))"
        case .keyNotFound(let key, let c): return "missing \(key.stringValue)\(path(c))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "a value of the wrong type\(path(c))"
        @unknown default: return "unreadable"
        }
    }
}
