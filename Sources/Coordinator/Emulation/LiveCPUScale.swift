import FanbenchBase
import FanbenchReport
import FanbenchWorker
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Quotas that follow this host's speed while a run runs (a profile's `cpu.live_beta`).
///
/// The CPU probe's scale is fixed before a run, and on this project's VM a capped 128 MB
/// handler's speed moved ±10–15% between runs minutes apart, and within runs, with the host:
/// against an unthrottled pointer chase sampled over each invocation's own seconds its duration
/// correlated at r −0.80 to −0.87 (scripts/bench-live-probe), against the run-start probe at
/// r +0.02. So the coordinator — outside every cap — chases 1 MB for 5 ms of CPU every
/// `intervalMs`, and publishes factor = (baseline ÷ speed over the last 4 s)^β, clamped to
/// 0.5–2, in a file the workers poll (`LiveQuota` in the worker keeps their quotas at base ×
/// factor). β < 1 because a handler follows the chase only in part (β fitted 0.30 and 0.62 in
/// two passes); scaling by the chase fully raised one pass's spread.
///
/// The baseline is this host's usual speed: its last 9 runs' speeds (each a mean as the factor
/// takes it; `<state-dir>/cpu-live.json`) taken as the CPU probe's list is (`HostProbe.typical`:
/// full runs and small-size runs read in two clusters, as that VM's probes did), or on a host's
/// first run this run's first readings. The static scale (vcpu_score ÷ the host's probe) still says what a vCPU is on this host; the
/// live factor only moves quotas around it, so over many runs it averages 1.
package final class LiveCPUScale: @unchecked Sendable {
    package struct Options: Sendable {
        package var beta: Double
        /// Where the factor is published (the workers' `FANBENCH_CPU_FACTOR_FILE`).
        package var factorFile: String
        /// Each sample's time, speed and factor, one line each (the run's folder).
        package var seriesFile: String?
        package var stateDirectory: String
        package var intervalMs: Double = 250
        /// Samples the factor takes the speed over (16: 4 s).
        package var window = 16
        package var sampleCPUNs: UInt64 = 5_000_000
        package var host = HostProbe.hostKey()

        package init(beta: Double, factorFile: String, seriesFile: String?, stateDirectory: String) {
            self.beta = beta
            self.factorFile = factorFile
            self.seriesFile = seriesFile
            self.stateDirectory = stateDirectory
        }
    }

    /// What a worker applies (`LiveQuota.range`): the factor is clamped to it.
    package static let factorRange = LiveQuota.range

    /// The factor for speeds `recent` against `baseline`: (baseline ÷ their mean, the fastest
    /// and slowest fifth left out)^β, clamped. One sample reads anywhere from a sixth of the
    /// median to 1.5× it (5 ms of a chase, on this project's VM: 5–95% at 12–97 M/s, median 66),
    /// so the speed is taken over `window` of them, about what a small size's invocation lasts;
    /// trimmed, since a cold-cache reading now and then is a tenth of the rest.
    package static func factor(baseline: Double, recent: [Double], beta: Double) -> Double {
        let speeds = recent.filter { $0.isFinite && $0 > 0 }
        guard baseline > 0, baseline.isFinite, !speeds.isEmpty, beta > 0 else { return 1 }
        let f = pow(baseline / Stats.trimmedMean(speeds, 0.2), beta)
        return min(factorRange.upperBound, max(factorRange.lowerBound, f))
    }

    let options: Options
    private let lock = NSLock()
    private var speeds: [Double] = []
    private var factors: [Double] = []
    private var stopped = false
    private var baseline = 0.0
    private var baselineRuns = 0
    private let done = DispatchSemaphore(value: 0)
    private var running = false

    /// This host's runs' speeds, the baseline's source.
    let figures: HostProbe.Figures

    package init(options: Options) {
        self.options = options
        figures = HostProbe.Figures(stateDirectory: options.stateDirectory, file: "cpu-live.json", host: options.host)
    }

    /// Measures the baseline, publishes factor 1 and starts sampling. Throws when the factor
    /// file cannot be written (the workers would run unscaled without saying so).
    package func start() throws {
        guard let chase = PointerChase(kb: 1024) else { throw FanbenchError("the live CPU sampler cannot allocate its 1 MB working set") }
        let cached = figures.read()
        if cached.isEmpty {
            var first: [Double] = []
            for _ in 0..<40 {  // ~1 s: one sample is no speed (see `factor`)
                first.append(chase.sample(cpuNanoseconds: options.sampleCPUNs))
                usleep(20_000)
            }
            baseline = Stats.trimmedMean(first, 0.2)
        } else {
            baseline = HostProbe.typical(cached)
            baselineRuns = cached.count
        }
        guard Self.publish(1, to: options.factorFile) else {
            throw FanbenchError("cannot write the live CPU factor to \(options.factorFile): check the state directory is writable")
        }
        let series = options.seriesFile.flatMap { path -> FileHandle? in
            FileManager.default.createFile(atPath: path, contents: Data("# epoch_s\tchase_M_steps_per_cpu_s\tfactor (baseline \(String(format: "%.1f", baseline)), beta \(options.beta))\n".utf8))
            return FileHandle(forWritingAtPath: path).map { $0.seekToEndOfFile(); return $0 }
        }
        running = true
        let thread = Thread { [self] in
            defer {
                try? series?.close()
                done.signal()
            }
            var published = 1.0
            while !lock.withLock({ stopped }) {
                let speed = chase.sample(cpuNanoseconds: options.sampleCPUNs)
                let f = lock.withLock { () -> Double in
                    speeds.append(speed)
                    let f = Self.factor(baseline: baseline, recent: Array(speeds.suffix(options.window)), beta: options.beta)
                    factors.append(f)
                    return f
                }
                if abs(f - published) > published * 0.002, Self.publish(f, to: options.factorFile) { published = f }
                series?.write(Data(String(format: "%.3f\t%.2f\t%.4f\n", Date().timeIntervalSince1970, speed, f).utf8))
                usleep(UInt32(options.intervalMs * 1000))
            }
        }
        thread.name = "fanbench-live-cpu"
        thread.stackSize = 256 * 1024
        thread.start()
    }

    /// Stops sampling, adds this run's speed to the host's list, and says what it did
    /// (nil when it never sampled).
    package func stop() -> RunReport.Emulation.CPU.Live? {
        let wasRunning = lock.withLock { () -> Bool in
            defer { stopped = true }
            return running && !stopped
        }
        if wasRunning { done.wait() }
        let (speeds, factors) = lock.withLock { (self.speeds, self.factors) }
        guard !speeds.isEmpty else { return nil }
        let typical = Stats.trimmedMean(speeds, 0.2)
        figures.append(typical)
        return .init(beta: options.beta, baseline: baseline, baselineRuns: baselineRuns, samples: speeds.count,
                     speedMean: typical, speedMin: speeds.min() ?? 0, speedMax: speeds.max() ?? 0,
                     factorMin: factors.min() ?? 1, factorMean: Stats.mean(factors), factorMax: factors.max() ?? 1)
    }

    /// Writes `factor` whole or not at all (a worker never reads half a number).
    @discardableResult
    static func publish(_ factor: Double, to path: String) -> Bool {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(String(format: "%.4f\n", factor).utf8)) else { return false }
        return rename(temporary, path) == 0
    }
}
