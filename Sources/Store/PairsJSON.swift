import FanbenchProtocol

/// The store's hottest JSON — a latency histogram's `[value, count]` pairs and an invocation's
/// call spans — written once and read back at least twice per invocation (a run's end merges
/// the histograms, every report rebuilds them): with 100,000 invocations, Foundation's generic
/// coders spent most of a report's time on these. The text is exactly what `JSONCoding`'s
/// encoder writes (sorted keys, no spaces), so files stay as they were; reading takes the fast
/// path only for that exact shape and hands anything else to JSONDecoder.
enum PairsJSON {
    /// `[[1,2],[3,4]]`.
    static func pairs<T: FixedWidthInteger>(_ pairs: [[T]]) -> String {
        var out = "["
        out.reserveCapacity(2 + pairs.count * 12)
        for (i, pair) in pairs.enumerated() {
            if i > 0 { out += "," }
            out += "["
            for (j, v) in pair.enumerated() {
                if j > 0 { out += "," }
                out += String(v)
            }
            out += "]"
        }
        return out + "]"
    }

    /// `{"counts":[[v,c],…],"significant_digits":3,"unit":"us"}`, as JSONCoding writes it.
    static func histogram(_ h: HistogramSnapshot) -> String? {
        guard !h.unit.isEmpty, h.unit.utf8.allSatisfy({ (0x61...0x7a).contains($0) }) else { return nil }
        return "{\"counts\":" + pairs(h.counts) + ",\"significant_digits\":\(h.significantDigits),\"unit\":\"\(h.unit)\"}"
    }

    static func parsePairs(_ text: String) -> [[UInt64]]? {
        var text = text
        return text.withUTF8 { bytes in
            var i = 0
            guard let pairs = parsePairs(bytes, &i), i == bytes.count else { return nil }
            return pairs
        }
    }

    static func parseHistogram(_ text: String) -> HistogramSnapshot? {
        var text = text
        return text.withUTF8 { b -> HistogramSnapshot? in
            var i = 0
            guard literal(b, &i, "{\"counts\":"), let counts = parsePairs(b, &i),
                  literal(b, &i, ",\"significant_digits\":"), let digits = number(b, &i), digits <= 10,
                  literal(b, &i, ",\"unit\":\"") else { return nil }
            let start = i
            while i < b.count, (0x61...0x7a).contains(b[i]) { i += 1 }
            let unit = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            guard !unit.isEmpty, literal(b, &i, "\"}"), i == b.count else { return nil }
            return HistogramSnapshot(unit: unit, significantDigits: Int(digits), counts: counts)
        }
    }

    // MARK: the scanner: digits, brackets and commas only, no spaces (what we write)

    private static func parsePairs(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> [[UInt64]]? {
        guard i < b.count, b[i] == UInt8(ascii: "[") else { return nil }
        i += 1
        var out: [[UInt64]] = []
        if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return out }
        while true {
            guard i < b.count, b[i] == UInt8(ascii: "[") else { return nil }
            i += 1
            var inner: [UInt64] = []
            inner.reserveCapacity(2)
            if i < b.count, b[i] == UInt8(ascii: "]") {
                i += 1
            } else {
                while true {
                    guard let v = number(b, &i) else { return nil }
                    inner.append(v)
                    guard i < b.count else { return nil }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard b[i] == UInt8(ascii: "]") else { return nil }
                    i += 1
                    break
                }
            }
            out.append(inner)
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            guard b[i] == UInt8(ascii: "]") else { return nil }
            i += 1
            return out
        }
    }

    /// A non-negative integer without sign, fraction or exponent, that fits a UInt64.
    private static func number(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> UInt64? {
        let start = i
        var v: UInt64 = 0
        while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(b[i] - 0x30))
            guard !o1, !o2 else { return nil }
            v = s
            i += 1
        }
        // JSON has no leading zeros; a fraction or an exponent is not ours: the slow path decides.
        guard i > start, !(b[start] == 0x30 && i - start > 1) else { return nil }
        if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") { return nil }
        return v
    }

    private static func literal(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int, _ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        let p = s.utf8Start
        for k in 0..<n where b[i + k] != p[k] { return false }
        i += n
        return true
    }
}
