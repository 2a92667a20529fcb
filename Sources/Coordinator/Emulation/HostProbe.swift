import FanbenchBase
import Foundation

/// This host's CPU speed, as the quota scale uses it: the mean of its last `keep` CPU-probe
/// measurements with the highest and the lowest left out (`trim` of them at each end), kept in
/// `<state-dir>/cpu-probe.json`.
///
/// One measurement at run start is not the host's speed on this project's VM: in-run probes
/// read 97–132 over an hour while the capped 128 MB Python handler they scaled did not get
/// faster or slower with them (unscaled runs: 3742–4578 ms, uncorrelated with the probe), so
/// scaling by the run's own probe added its noise to every result. A core's speed is a property
/// of the host, changing when the host does; a figure over recent measurements follows that
/// and not the minute's neighbours. Not their median: a second VM's probes fell in two clusters
/// (~62 and ~77), and a median of 9 flipped between them from one run to the next, moving every
/// quota by 13–20% (BENCHMARKS.md, 2026-12-08); a trimmed mean moves by a ninth of that per reading
/// and still leaves out one outlier at each end. A measurement from another host (its name, CPU
/// model or core count differ) starts the list afresh.
package enum HostProbe {
    package static let keep = 9
    /// The share of the list left out at each end (⌊9 × 0.2⌋ = one).
    package static let trim = 0.2

    /// A list of this host's recent figures in `<state-dir>/NAME`, kept per host: the probe's
    /// scores here, the live CPU sampler's run speeds (`LiveCPUScale`). One from another host
    /// (its name, CPU model or core count differ) starts the list afresh, as does one that
    /// cannot be read.
    package struct Figures {
        package let path: String
        package let host: String

        package init(stateDirectory: String, file: String, host: String = HostProbe.hostKey()) {
            path = stateDirectory + "/" + file
            self.host = host
        }

        struct Cache: Codable {
            var host: String
            var scores: [Double]
        }

        /// The figures kept, oldest first (empty: none for this host).
        package func read() -> [Double] {
            guard let data = FileManager.default.contents(atPath: path),
                  let cache = try? JSONCoding.decoder().decode(Cache.self, from: data), cache.host == host else { return [] }
            return cache.scores.filter { $0.isFinite && $0 > 0 }
        }

        /// Adds `figure` and keeps the last `keep`; returns them. A list that cannot be written
        /// is left as it was.
        @discardableResult
        package func append(_ figure: Double) -> [Double] {
            let scores = Array((read() + [figure]).suffix(keep))
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if let data = try? JSONCoding.encoder().encode(Cache(host: host, scores: scores)) {
                try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
            }
            return scores
        }
    }

    /// This host: its name, CPU model and online cores.
    package static func hostKey() -> String {
        var model = "?"
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            model = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return "\(ProcessInfo.processInfo.hostName) | \(model) | \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }

    /// A host's figure from its list (the probe's scores, the live sampler's run speeds): their
    /// mean with `trim` of them left out at each end.
    package static func typical(_ figures: [Double]) -> Double { Stats.trimmedMean(figures, trim) }

    /// Adds `fresh` to this host's list in `stateDirectory` and returns its `typical` figure
    /// (with `fresh`'s rounds, `samples` and `latest`).
    package static func figure(stateDirectory: String, fresh: CPUProbe.Measurement = CPUProbe.measure(), host: String = hostKey()) -> CPUProbe.Measurement {
        let scores = Figures(stateDirectory: stateDirectory, file: "cpu-probe.json", host: host).append(fresh.score)
        return CPUProbe.Measurement(score: typical(scores), rounds: fresh.rounds, samples: scores.count, latest: fresh.score)
    }
}
