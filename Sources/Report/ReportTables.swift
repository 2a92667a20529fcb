import FanbenchBase
import Foundation

/// The report's content as titled tables — the blog's pivot (memory rows × strategy columns,
/// mean ms per invocation), a detail table, cost, the network limit and recommendations — which
/// the terminal, markdown, HTML and CSV formats all render, so every format says the same.
package enum ReportTables {
    package struct Section: Sendable {
        package var title: String
        package var rows: [[String]]
        package var note: String?
        /// A column whose cells are URLs (the HTML makes them links).
        package var linkColumn: Int?
    }

    /// Lines that say what was run where, and that emulated figures are not AWS's.
    package static func headline(_ report: RunReport) -> [String] {
        var lines = ["fanbench run \(report.runId) (\(report.status)): \(report.target.op) on \(report.target.endpoint)/\(report.target.bucket)"
                     + (report.target.prefix.map { " prefix \($0)" } ?? "")
                     + ", \(report.plan.keys.map { "\($0) keys" } ?? "listed per invocation"), workers \(report.plan.workers)"]
        lines.append("started \(iso(report.startedAt))" + (report.finishedAt.map { ", finished \(iso($0))" } ?? "")
                     + ", fanbench \(report.fanbenchVersion), host \(report.host.cores) cores, cgroup \(report.host.cgroup)")
        if let l = report.plan.listingS {
            lines.append("listed \(report.plan.keys.map { "\($0) keys" } ?? "the bucket") in \(String(format: "%.2f", l)) s"
                         + (report.plan.firstAssignS.map { "; first assignment \(String(format: "%.2f", $0)) s after the last page" } ?? ""))
        }
        if let b = report.plan.backend { lines.append(b.describe(emulation: report.target.emulation, workers: report.plan.workers)) }
        if let e = report.target.emulation {
            var extra = ""
            if let h = e.handshakeRtts, h != 1 { extra += ", new connection +\(formatNumber(h)) RTT" }
            if let t = e.tailRate, t > 0, let ms = e.tailMs { extra += ", tail \(formatNumber(t * 100))% +\(formatNumber(ms)) ms" }
            if let b = e.bandwidthMbps { extra += ", \(formatNumber(b)) Mbit/s" }
            if let rps = e.instanceRps { extra += ", \(formatNumber(rps)) requests/s per " + (e.instanceRpsPer == "vcpu" ? "vCPU of an instance (its size's share, up to one)" : "instance")
                + (e.instanceRpsCounts == "requests" ? ", TLS handshakes not counted" : "") }
            if let cost = e.blockCostUs {
                extra += ", \(formatNumber(cost)) µs CPU per function thread block"
                    + (e.blocksPerCpuMs.map { " (at most \(formatNumber($0)) a CPU ms)" } ?? "")
            }
            if let period = e.cpuPeriodMs, period * 1000 != Double(LambdaSize.cfsPeriodMicros) { extra += ", CPU quota per \(formatNumber(period)) ms period" }
            lines.append("EMULATED network (\(e.profile): \(formatNumber(e.rttMs)) ms RTT, \(e.jitter) jitter\(extra), TLS \(e.tls ? "on" : "off")\(e.tls ? e.caCertificates.map { ", CA bundle of \($0) certificates" } ?? "" : "")) against a local SeaweedFS: not AWS figures")
            if e.profileHash != nil || e.cpu != nil { lines.append("profile: \(e.profileLabel)") }
            if let slow = e.cpu?.slowHost { lines.append("SLOW HOST: \(slow)") }
        }
        // Only configurations that ran say anything about caps: one with no result measured nothing.
        let unenforced = report.configs.filter { !$0.limits.enforced && $0.invocations.count > 0 }.count
        if unenforced > 0 {
            lines.append("note: \(unenforced) configuration(s) ran without the caps asked for (enforced: no): their figures are not Lambda-like")
        }
        if let lost = report.lostSummary { lines.append("LOST: \(lost)") }
        for line in report.functionErrorSummaries { lines.append("FUNCTION ERRORS: \(line)") }
        let costs = report.quotaCPUCosts
        for c in costs { lines.append("QUOTA CPU: \(c.line)") }
        if !costs.isEmpty {
            lines.append("QUOTA CPU: the same work cost more CPU where the quota held it back on this host (it may be slices that start with cold caches, or a handler's threads handing a lock round under the quota), so those sizes may read slower than Lambda's; compare them within one run")
        }
        if report.configs.contains(where: { $0.calls == nil }) {
            lines.append("n/a: a function's calls are its own; only fanbench's bootstrap reports them")
        }
        return lines
    }

    package static func sections(_ report: RunReport) -> [Section] {
        var out = [pivotSection(report), detailSection(report)]
        if report.configs.contains(where: { $0.cost != nil }) { out.append(costSection(report)) }
        if report.configs.contains(where: { $0.networkLimit != nil }) { out.append(networkSection(report)) }
        if let recs = report.recommendations, !recs.isEmpty { out.append(recommendationSection(recs, trim: report.trim)) }
        let links = PowerTuningLink.links(report)
        if !links.isEmpty {
            out.append(Section(title: "in aws-lambda-power-tuning's viewer (sizes, mean duration, x86 cost per invocation)",
                               rows: [["strategy", "start", "link"]] + links.map { [$0.strategy, $0.start, $0.url] },
                               note: "the figures travel in the link's #fragment, which the browser never sends to the server", linkColumn: 2))
        }
        return out
    }

    /// The whole report for a terminal.
    package static func text(_ report: RunReport) -> String {
        headline(report).joined(separator: "\n") + "\n\n"
            + sections(report).map { s in s.title + "\n" + render(s.rows) + (s.note.map { $0 + "\n" } ?? "") }.joined(separator: "\n")
    }

    /// The whole report as markdown.
    package static func markdownReport(_ report: RunReport) -> String {
        "# fanbench run \(report.runId)\n\n" + headline(report).map { "- \($0)" }.joined(separator: "\n") + "\n\n"
            + sections(report).map { s in "## \(s.title)\n\n" + markdown(s.rows) + (s.note.map { "\n\($0)\n" } ?? "") }
            .joined(separator: "\n")
    }

    static func pivotSection(_ report: RunReport) -> Section {
        let columns = orderedUnique(report.configs.map(\.strategyLabel))
        let sizes = orderedUnique(report.configs.map(\.memoryMb)).sorted()
        var rows: [[String]] = [["memory MB"] + columns]
        for size in sizes {
            var row = [String(size)]
            for column in columns {
                let c = report.configs.first { $0.memoryMb == size && $0.strategyLabel == column }
                row.append(c.map { $0.invocations.count > 0 ? f($0.invocations.meanMs) : $0.invocations.failed > 0 ? "failed" : "—" } ?? "")
            }
            rows.append(row)
        }
        return Section(title: "mean ms per invocation", rows: rows)
    }

    static func detailSection(_ report: RunReport) -> Section {
        let cold = report.configs.contains { $0.initMs != nil }
        let overhead = report.configs.contains { $0.workerOverhead != nil }
        let trim = report.trim.map { "trimmed \(formatNumber(($0 * 100 * 10).rounded() / 10))%" }
        var header = ["MB", "strategy", "inv", "mean"] + (trim.map { [$0] } ?? []) + ["sd", "p50", "p90", "p99"]
        if cold { header.append("init") }
        header += ["call p50", "call p99", "calls/s", "errors", "retries", "CPU ms/call", "CPU ms/inv", "max mem MB", "cpu cap", "enforced", "reassigned"]
        if overhead { header += ["worker in p50/p99", "worker out p50/p99"] }
        var rows: [[String]] = [header]
        for c in report.configs {
            let failed = c.invocations.failed > 0 ? " (\(c.invocations.failed) failed)" : ""
            var row: [String] = [String(c.memoryMb), c.strategyLabel, "\(c.invocations.count)\(failed)",
                                 f(c.invocations.meanMs)] + (trim == nil ? [] : [c.invocations.trimmedMeanMs.map(f) ?? "—"]) + [f(c.invocations.stddevMs),
                                 f(c.invocations.p50Ms), f(c.invocations.p90Ms), f(c.invocations.p99Ms)]
            if cold { row.append(c.initMs.map(f) ?? "—") }
            let na = "n/a"
            row += [c.calls.map { f($0.p50Ms) } ?? na, c.calls.map { f($0.p99Ms) } ?? na,
                    c.calls.map { String(format: "%.0f", $0.perSecond) } ?? na, errorText(c),
                    c.calls.map { String($0.retries) } ?? na, c.calls.map { String(format: "%.3f", $0.cpuMsPerCall) } ?? na,
                    c.cpuMsPerInvocation.map { String(format: "%.1f", $0) } ?? na, String(format: "%.1f", c.maxMemoryUsedMb),
                    c.limits.cpu.map { String(format: "%.4f", $0) } ?? "none", c.limits.enforced ? "yes" : "NO", String(c.reassigned)]
            if overhead {
                row += [c.workerOverhead.map { String(format: "%.2f/%.2f", $0.startP50Ms, $0.startP99Ms) } ?? "—",
                        c.workerOverhead.map { String(format: "%.2f/%.2f", $0.finishP50Ms, $0.finishP99Ms) } ?? "—"]
            }
            rows.append(row)
        }
        var notes: [String] = []
        if let trim { notes.append("\(trim): the mean without the fastest and slowest \(trim.dropFirst(8)) of invocations (⌊n × fraction⌋ each end); costs and recommendations use it") }
        if overhead { notes.append("worker in: assignment received → first call started; worker out: last call ended → result ready (the worker's own time, not in the calls)") }
        let note = notes.isEmpty ? nil : notes.joined(separator: "; ")
        return Section(title: "per configuration (ms unless noted)", rows: rows, note: note)
    }

    static func costSection(_ report: RunReport) -> Section {
        var rows: [[String]] = [["MB", "strategy", "billed ms", "GB-s", "x86 USD/inv", "x86 USD/1M", "arm64 USD/1M"]]
        for c in report.configs {
            guard let cost = c.cost else { continue }
            rows.append([String(c.memoryMb), c.strategyLabel, f(cost.billedMs), String(format: "%.5f", cost.gbSeconds),
                         String(format: "%.8f", cost.x86.usdPerInvocation), String(format: "%.2f", cost.x86.usdPerMillion),
                         String(format: "%.2f", cost.arm64.usdPerMillion)])
        }
        let p = report.pricing ?? Pricing()
        let note = "prices: x86 \(decimal(p.x86UsdPerGbSecond)) USD/GB-s, arm64 \(decimal(p.arm64UsdPerGbSecond)) USD/GB-s, \(decimal(p.usdPerMillionRequests)) USD per 1M requests; billed = " + (report.configs.contains { ($0.invocations.billedFromReport ?? 0) > 0 } ? "Lambda's Billed Duration from its REPORT lines, else " : "") + "duration (+ init when cold) rounded up to 1 ms"
        return Section(title: "cost per invocation (mean billed duration)", rows: rows, note: note)
    }

    static func networkSection(_ report: RunReport) -> Section {
        var rows: [[String]] = [["MB", "strategy", "RTT ms", "round trips", "ideal ms", "mean ms", "measured ÷ ideal"]]
        for c in report.configs {
            guard let n = c.networkLimit else { continue }
            rows.append([String(c.memoryMb), c.strategyLabel, formatNumber(n.rttMs), String(n.roundTrips), f(n.idealMs),
                         f(c.invocations.meanMs), String(format: "%.2f×", n.measuredOverIdeal)])
        }
        return Section(title: "against the network limit (ideal = list round trips + ceil(calls ÷ concurrency) × RTT)", rows: rows)
    }

    static func recommendationSection(_ recs: [Recommendation], trim: Double?) -> Section {
        var rows: [[String]] = [["start", "goal", "MB", "strategy", trim == nil ? "mean ms" : "trimmed mean ms", "x86 USD/1M"]]
        for r in recs {
            let goal = r.balanceWeight.map { "\(r.goal) (weight \(formatNumber($0)))" } ?? r.goal
            rows.append([r.start, goal, String(r.memoryMb), r.strategy, f(r.meanMs), String(format: "%.2f", r.usdPerMillionX86)])
        }
        return Section(title: "recommendations (configurations without errors; weight 0 = speed only, 1 = cost only)", rows: rows)
    }

    /// Failed invocations by Lambda's error type, then call errors by code; "0" when none.
    static func errorText(_ c: RunReport.Config) -> String {
        let invocation = (c.invocations.errorTypes ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }
        let calls = (c.calls?.errorCodes ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }
        let all = invocation + calls
        return all.isEmpty ? "0" : all.joined(separator: ",")
    }

    static func f(_ v: Double) -> String { String(format: "%.2f", v) }

    static func formatNumber(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: "%g", v)
    }

    /// A price as people write it: 0.0000166667, not 1.66667e-05.
    static func decimal(_ v: Double) -> String {
        var s = String(format: "%.10f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }

    static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: date)
    }

    package static func render(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { col in rows.map { col < $0.count ? $0[col].count : 0 }.max() ?? 0 }
        return rows.enumerated().map { (i, row) in
            let line = row.enumerated().map { (j, cell) in
                j == 0 ? cell.padding(toLength: widths[j], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[j] - cell.count) + cell
            }.joined(separator: "  ")
            return i == 0 ? line + "\n" + String(repeating: "-", count: line.count) : line
        }.joined(separator: "\n") + "\n"
    }

    package static func markdown(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        func line(_ cells: [String]) -> String { "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        let align = header.indices.map { $0 == 0 ? "---" : "---:" }
        return ([line(header), "|" + align.joined(separator: "|") + "|"] + rows.dropFirst().map(line)).joined(separator: "\n") + "\n"
    }

    static func orderedUnique<T: Hashable>(_ items: [T]) -> [T] {
        var seen = Set<T>()
        return items.filter { seen.insert($0).inserted }
    }
}
