import Foundation

/// The report as terminal tables: the blog's pivot (memory rows × strategy columns, mean ms
/// per invocation) and a detail table per configuration.
public enum ReportTables {
    public static func pivot(_ report: RunReport) -> String {
        let columns = orderedUnique(report.configs.map { "\($0.strategy)\($0.strategy == "serial" ? "" : ":\($0.concurrency)")" })
        let sizes = orderedUnique(report.configs.map(\.memoryMb)).sorted()
        var rows: [[String]] = [["memory MB"] + columns]
        for size in sizes {
            var row = [String(size)]
            for column in columns {
                let c = report.configs.first { $0.memoryMb == size && "\($0.strategy)\($0.strategy == "serial" ? "" : ":\($0.concurrency)")" == column }
                row.append(c.map { $0.invocations.count > 0 ? String(format: "%.2f", $0.invocations.meanMs) : "—" } ?? "")
            }
            rows.append(row)
        }
        return "mean ms per invocation\n" + render(rows)
    }

    public static func detail(_ report: RunReport) -> String {
        let cold = report.configs.contains { $0.initMs != nil }
        var header = ["MB", "strategy", "inv", "p50", "p90", "p99"]
        if cold { header.append("init") }
        header += ["call p50", "call p99", "calls/s", "errors", "retries", "CPU ms/call", "max mem MB", "cpu cap", "enforced", "reassigned"]
        var rows: [[String]] = [header]
        for c in report.configs {
            let name = c.strategy == "serial" ? "serial" : "\(c.strategy):\(c.concurrency)"
            let failed = c.invocations.failed > 0 ? " (\(c.invocations.failed) failed)" : ""
            var row: [String] = [String(c.memoryMb), name, "\(c.invocations.count)\(failed)",
                                 f(c.invocations.p50Ms), f(c.invocations.p90Ms), f(c.invocations.p99Ms)]
            if cold { row.append(c.initMs.map(f) ?? "—") }
            let errors: String = c.calls.errors == 0 ? "0"
                : c.calls.errorCodes.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ",")
            let cap: String = c.limits.cpu.map { String(format: "%.4f", $0) } ?? "none"
            row += [f(c.calls.p50Ms), f(c.calls.p99Ms), String(format: "%.0f", c.calls.perSecond), errors,
                    String(c.calls.retries), String(format: "%.3f", c.calls.cpuMsPerCall), String(format: "%.1f", c.maxMemoryUsedMb),
                    cap, c.limits.enforced ? "yes" : "NO", String(c.reassigned)]
            rows.append(row)
        }
        return "per configuration (ms unless noted)\n" + render(rows)
    }

    static func f(_ v: Double) -> String { String(format: "%.2f", v) }

    static func render(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { col in rows.map { col < $0.count ? $0[col].count : 0 }.max() ?? 0 }
        return rows.enumerated().map { (i, row) in
            let line = row.enumerated().map { (j, cell) in
                j == 0 ? cell.padding(toLength: widths[j], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[j] - cell.count) + cell
            }.joined(separator: "  ")
            return i == 0 ? line + "\n" + String(repeating: "-", count: line.count) : line
        }.joined(separator: "\n") + "\n"
    }

    static func orderedUnique<T: Hashable>(_ items: [T]) -> [T] {
        var seen = Set<T>()
        return items.filter { seen.insert($0).inserted }
    }
}
