import Foundation

/// The link that opens a run's figures in aws-lambda-power-tuning's own viewer: the URL fragment
/// is base64 of the sizes as little-endian 16-bit integers, then `;` base64 of the mean durations
/// (ms) and `;` base64 of the costs (USD per invocation), both little-endian float32, sorted by
/// size — what power-tuning's `buildVisualizationURL` writes. The fragment never reaches a server.
package struct PowerTuningLink: Codable, Sendable, Equatable {
    package static let viewer = "https://lambda-power-tuning.show/"

    /// A strategy's (or function's) label.
    package var strategy: String
    package var start: String
    package var url: String

    package struct Point: Equatable, Sendable {
        package var memoryMb: Int
        package var durationMs: Float
        package var usd: Float
    }

    /// One link per strategy and start (warm, cold), over its sizes that ran without a failure.
    package static func links(_ report: RunReport) -> [PowerTuningLink] {
        var out: [PowerTuningLink] = []
        for start in ["warm", "cold"] {
            for strategy in ReportTables.orderedUnique(report.configs.map(\.strategyLabel)) {
                let points = report.configs
                    .filter { $0.strategyLabel == strategy && $0.start == start && $0.invocations.count > 0 && $0.cost != nil }
                    .map { Point(memoryMb: $0.memoryMb, durationMs: Float($0.invocations.robustMeanMs), usd: Float($0.cost!.x86.usdPerInvocation)) }
                guard !points.isEmpty else { continue }
                out.append(PowerTuningLink(strategy: strategy, start: start, url: url(points)))
            }
        }
        return out
    }

    package static func url(_ points: [Point]) -> String {
        let sorted = points.sorted { $0.memoryMb < $1.memoryMb }
        var sizes = Data(), times = Data(), costs = Data()
        for p in sorted {
            withUnsafeBytes(of: UInt16(clamping: p.memoryMb).littleEndian) { sizes.append(contentsOf: $0) }
            withUnsafeBytes(of: p.durationMs.bitPattern.littleEndian) { times.append(contentsOf: $0) }
            withUnsafeBytes(of: p.usd.bitPattern.littleEndian) { costs.append(contentsOf: $0) }
        }
        return viewer + "#" + [sizes, times, costs].map { $0.base64EncodedString() }.joined(separator: ";")
    }

    /// The points a link holds (what the viewer reads), or nil when it is not such a link.
    package static func decode(_ url: String) -> [Point]? {
        guard let hash = url.split(separator: "#", maxSplits: 1).dropFirst().first else { return nil }
        let parts = hash.split(separator: ";", omittingEmptySubsequences: false).map { Data(base64Encoded: String($0)) }
        guard parts.count == 3, let sizes = parts[0], let times = parts[1], let costs = parts[2],
              sizes.count % 2 == 0, times.count == sizes.count * 2, costs.count == times.count else { return nil }
        func u16(_ d: Data, _ i: Int) -> UInt16 { UInt16(d[d.startIndex + 2 * i]) | UInt16(d[d.startIndex + 2 * i + 1]) << 8 }
        func f32(_ d: Data, _ i: Int) -> Float {
            var bits: UInt32 = 0
            for k in 0..<4 { bits |= UInt32(d[d.startIndex + 4 * i + k]) << (8 * k) }
            return Float(bitPattern: bits)
        }
        return (0..<(sizes.count / 2)).map { Point(memoryMb: Int(u16(sizes, $0)), durationMs: f32(times, $0), usd: f32(costs, $0)) }
    }
}
