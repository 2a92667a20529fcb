import FanbenchBase
import FanbenchReport
import Foundation

/// What `fanbench calibrate` fits to: mean invocation durations per memory size and column,
/// from real Lambda. Two forms: the fidelity form (shared/fidelity/blog-2020.json: `cells`
/// `{"<MB>": {"<column>": ms}}`, optional `fit_cells`, `held_out_cells` and `strategies`
/// naming the strategy each column is), or a fanbench report (`run --json`, e.g. from the
/// real-Lambda backend), whose configurations are the cells.
package struct CalibrationReference: Sendable, Equatable {
    package var path: String
    /// MB → column → mean ms.
    package var cells: [Int: [String: Double]]
    /// The columns, in the file's order.
    package var columns: [String]
    package var fitCells: [Int]?
    package var heldOutCells: [Int]?
    /// Column → the strategy that reproduces it (`function:NAME`, `serial`, `async:N`, …).
    package var strategies: [String: Strategy]
    /// How many invocations of one instance each of the reference's means is over
    /// (`invocations_per_instance`; the seed blog's: 100, one after another): a run's figure for a
    /// cell weighs each instance's first invocation — the one after init, which pays for lazy
    /// loading, its connections and its threads — as 1 in this many, as the reference's mean
    /// did, whatever the run's own count. nil: the run's plain mean (a fanbench report as the
    /// reference ran the same plan, so its weighting is the run's).
    package var invocationsPerInstance: Int?
    /// Whether the reference is a fanbench report (its runs weighed their invocations as a run here does).
    package var isReport = false

    /// `n` as `invocationsPerInstance`, or one line naming `source` and what it takes.
    package static func invocationsPerInstance(_ n: Double, source: String) throws(FanbenchError) -> Int {
        guard n.isFinite, n.rounded() == n, (1...1_000_000).contains(n) else {
            throw FanbenchError.badInput("\(source) must be a whole number from 1 to 1000000, not \(EmulationProfile.number(n)): how many invocations of one instance each of the reference's means is over (the seed blog's: 100)")
        }
        return Int(n)
    }

    /// The seed blog's columns: its three handlers, as plans/seed-python.yaml names them.
    package static let blogStrategies: [String: Strategy] = [
        "serial": .function("boto3-serial"), "threads": .function("boto3-threads"), "aio": .function("aioboto3"),
    ]

    package var sizes: [Int] { cells.keys.sorted() }

    package static func load(path: String) throws(FanbenchError) -> CalibrationReference {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FanbenchError.badInput("cannot read the reference \(path): no such file, or not readable")
        }
        return try parse(data, path: path)
    }

    package static func parse(_ data: Data, path: String) throws(FanbenchError) -> CalibrationReference {
        let shape = "give the fidelity form ({\"cells\": {\"<MB>\": {\"<column>\": mean_ms}}}, as shared/fidelity/blog-2020.json) or a fanbench report (run --json)"
        guard let object = try? JSONSerialization.jsonObject(with: data), let top = object as? [String: Any] else {
            throw FanbenchError.badInput("\(path) is not a calibration reference: not a JSON object; \(shape)")
        }
        if top["schema"] as? String != nil {
            return try fromReport(try ReportFile.decode(data, from: path), path: path)
        }
        guard let cellsObject = top["cells"] as? [String: Any], !cellsObject.isEmpty else {
            throw FanbenchError.badInput("\(path) is not a calibration reference: it has no \"cells\" object; \(shape)")
        }
        var cells: [Int: [String: Double]] = [:]
        for (key, value) in cellsObject {
            guard let mb = Int(key), LambdaSize.range.contains(mb) else {
                throw FanbenchError.badInput("\(path): cell \"\(key)\" is not a Lambda memory size in MB (128–10240)")
            }
            guard let row = value as? [String: Any], !row.isEmpty else {
                throw FanbenchError.badInput("\(path): cell \"\(key)\" must map each column to a mean duration in ms")
            }
            for (column, v) in row {
                guard let ms = (v as? NSNumber)?.doubleValue, ms.isFinite, ms > 0, ms < 900_000 else {
                    throw FanbenchError.badInput("\(path): cell \"\(key)\", column \"\(column)\" is not a duration in ms above 0 (Lambda's limit is 900000)")
                }
                cells[mb, default: [:]][column] = ms
            }
        }
        let columns = (top["columns"] as? [String]) ?? Array(Set(cells.values.flatMap(\.keys))).sorted()
        func sizeList(_ key: String) throws(FanbenchError) -> [Int]? {
            guard let raw = top[key] else { return nil }
            guard let list = raw as? [Any] else { throw FanbenchError.badInput("\(path): \"\(key)\" must be a list of cells such as [\"128\", \"1024\"]") }
            var out: [Int] = []
            for item in list {
                guard let mb = Int("\(item)"), cells[mb] != nil else {
                    throw FanbenchError.badInput("\(path): \"\(key)\" names \(item), which is not one of its cells (\(cells.keys.sorted().map(String.init).joined(separator: ", ")))")
                }
                out.append(mb)
            }
            return out
        }
        var strategies: [String: Strategy] = [:]
        if let named = top["strategies"] as? [String: String] {
            for (column, text) in named {
                do { strategies[column] = try Strategy(parsing: text) } catch {
                    throw FanbenchError.badInput("\(path): \"strategies\".\(column) is '\(text)': \(error.message)")
                }
            }
        }
        for column in columns where strategies[column] == nil {
            if let s = blogStrategies[column] { strategies[column] = s; continue }
            guard let s = try? Strategy(parsing: column) else {
                throw FanbenchError.badInput("\(path): column \"\(column)\" names no strategy; add \"strategies\": {\"\(column)\": \"function:NAME\"} naming the plan's function (or serial, threads:N, async:N) that reproduces it")
            }
            strategies[column] = s
        }
        var perInstance: Int?
        if let raw = top["invocations_per_instance"] {
            perInstance = try invocationsPerInstance((raw as? NSNumber)?.doubleValue ?? .nan, source: "\(path): \"invocations_per_instance\"")
        }
        return CalibrationReference(path: path, cells: cells, columns: columns, fitCells: try sizeList("fit_cells"),
                                    heldOutCells: try sizeList("held_out_cells"), strategies: strategies,
                                    invocationsPerInstance: perInstance)
    }

    /// A fanbench report's configurations as cells: MB × strategy (a function by its name).
    static func fromReport(_ report: RunReport, path: String) throws(FanbenchError) -> CalibrationReference {
        var cells: [Int: [String: Double]] = [:]
        var strategies: [String: Strategy] = [:]
        var columns: [String] = []
        for c in report.configs where c.invocations.count > 0 {
            let label = c.strategyLabel
            cells[c.memoryMb, default: [:]][label] = c.invocations.meanMs
            if strategies[label] == nil {
                columns.append(label)
                strategies[label] = c.function.map { Strategy.function($0) } ?? (try? Strategy(parsing: label))
            }
        }
        guard !cells.isEmpty else {
            throw FanbenchError.badInput("\(path): the report \(report.runId) has no configuration with a finished invocation to calibrate to")
        }
        return CalibrationReference(path: path, cells: cells, columns: columns, fitCells: nil, heldOutCells: nil, strategies: strategies, isReport: true)
    }

    /// The cells asked for, checked against the file's.
    package func checkCells(_ asked: [Int], flag: String) throws(FanbenchError) {
        for mb in asked where cells[mb] == nil {
            throw FanbenchError.badInput("\(flag) names \(mb) MB, which is not a cell of \(path) (it has \(sizes.map(String.init).joined(separator: ", ")))")
        }
    }
}
