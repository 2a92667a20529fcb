import Foundation

/// Lambda's REPORT line: what an invocation cost, as Lambda measured and billed it. Read from
/// an Invoke's log tail (`X-Amz-Log-Result`, base64 of the last 4 KB of the invocation's log)
/// by field name, whatever their order — real Lambda prints `Init Duration` last, AWS's Runtime
/// Interface Emulator first and separates fields by spaces, not tabs — and from the JSON log
/// format's `platform.report` record.
package struct LambdaLogReport: Sendable, Equatable {
    package var requestId: String?
    package var durationMs: Double
    package var billedDurationMs: Double
    package var memorySizeMB: Int?
    package var maxMemoryUsedMB: Double?
    package var initDurationMs: Double?
    package var restoreDurationMs: Double?
    /// `timeout`, `error`, `success` … when Lambda says (newer REPORT lines and the JSON record).
    package var status: String?
    package var errorType: String?

    package init(requestId: String? = nil, durationMs: Double, billedDurationMs: Double, memorySizeMB: Int? = nil,
                 maxMemoryUsedMB: Double? = nil, initDurationMs: Double? = nil, restoreDurationMs: Double? = nil,
                 status: String? = nil, errorType: String? = nil) {
        self.requestId = requestId
        self.durationMs = durationMs
        self.billedDurationMs = billedDurationMs
        self.memorySizeMB = memorySizeMB
        self.maxMemoryUsedMB = maxMemoryUsedMB
        self.initDurationMs = initDurationMs
        self.restoreDurationMs = restoreDurationMs
        self.status = status
        self.errorType = errorType
    }

    /// The last REPORT in `log` (text or JSON lines); nil when it has none with a Duration and a
    /// Billed Duration.
    package static func parse(log: String) -> LambdaLogReport? {
        for line in log.split(whereSeparator: \.isNewline).reversed() {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("{"), let r = parseJSON(text) { return r }
            if let range = text.range(of: "REPORT RequestId:"), let r = parseText(String(text[range.lowerBound...])) { return r }
        }
        return nil
    }

    /// The log tail of an Invoke response: `X-Amz-Log-Result`, base64.
    package static func parse(logResult base64: String) -> LambdaLogReport? {
        guard let data = Data(base64Encoded: base64) else { return nil }
        return parse(log: String(decoding: data, as: UTF8.self))
    }

    // `Label: 12.34 ms` / `Label: 128 MB`, labels of letters and spaces.
    nonisolated(unsafe) private static let field = /([A-Z][A-Za-z ]*?):\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|MB)\b/
    nonisolated(unsafe) private static let word = /(Status|Error Type):\s*([A-Za-z0-9_.]+)/
    nonisolated(unsafe) private static let requestIdField = /RequestId:\s*([0-9A-Za-z-]+)/

    /// Longest first: "Billed Duration" ends with "Duration".
    private static let labels = ["Billed Restore Duration", "Restore Duration", "Billed Duration", "Init Duration", "Max Memory Used",
                                 "Memory Size", "Duration"]

    static func parseText(_ line: String) -> LambdaLogReport? {
        var values: [String: Double] = [:]
        for match in line.matches(of: field) {
            // The known label the text ends with (a request id's letters may run into it when fields are space-separated).
            let text = match.1.trimmingCharacters(in: .whitespaces)
            guard let label = labels.first(where: { text == $0 || text.hasSuffix(" " + $0) }) else { continue }
            if let v = Double(match.2), values[label] == nil { values[label] = v }
        }
        guard let duration = values["Duration"], let billed = values["Billed Duration"] else { return nil }
        var words: [String: String] = [:]
        for match in line.matches(of: word) where words[String(match.1)] == nil { words[String(match.1)] = String(match.2) }
        return LambdaLogReport(
            requestId: line.firstMatch(of: requestIdField).map { String($0.1) }, durationMs: duration, billedDurationMs: billed,
            memorySizeMB: values["Memory Size"].map { Int($0) }, maxMemoryUsedMB: values["Max Memory Used"],
            initDurationMs: values["Init Duration"], restoreDurationMs: values["Restore Duration"],
            status: words["Status"], errorType: words["Error Type"])
    }

    static func parseJSON(_ line: String) -> LambdaLogReport? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              object["type"] as? String == "platform.report",
              let record = object["record"] as? [String: Any], let metrics = record["metrics"] as? [String: Any],
              let duration = number(metrics["durationMs"]), let billed = number(metrics["billedDurationMs"]) else { return nil }
        return LambdaLogReport(
            requestId: record["requestId"] as? String, durationMs: duration, billedDurationMs: billed,
            memorySizeMB: number(metrics["memorySizeMB"]).map { Int($0) }, maxMemoryUsedMB: number(metrics["maxMemoryUsedMB"]),
            initDurationMs: number(metrics["initDurationMs"]), restoreDurationMs: number(metrics["restoreDurationMs"]),
            status: record["status"] as? String, errorType: record["errorType"] as? String)
    }

    private static func number(_ v: Any?) -> Double? {
        if let d = v as? Double { return d }
        if let n = v as? NSNumber { return n.doubleValue }
        if let i = v as? Int { return Double(i) }
        return nil
    }
}
