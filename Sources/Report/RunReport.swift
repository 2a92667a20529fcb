import FanbenchBase
import Foundation

/// A run's report, schema `fanbench.report/v1`: what `--json` writes and every format renders.
package struct RunReport: Codable, Sendable {
    package struct Host: Codable, Sendable {
        package var cores: Int
        package var cgroup: String
        package init(cores: Int, cgroup: String) {
            self.cores = cores
            self.cgroup = cgroup
        }
    }

    package struct Target: Codable, Sendable {
        package var endpoint: String
        package var bucket: String
        package var prefix: String?
        package var op: String
        /// Set when the endpoint is an emulation (the local target's proxy), so nobody takes its figures for AWS's.
        package var emulation: Emulation?
        package init(endpoint: String, bucket: String, prefix: String?, op: String, emulation: Emulation?) {
            self.endpoint = endpoint
            self.bucket = bucket
            self.prefix = prefix
            self.op = op
            self.emulation = emulation
        }
    }

    package struct Emulation: Codable, Sendable, Equatable {
        package var profile: String
        package var rttMs: Double
        package var jitter: String
        package var tls: Bool
        /// The profile's parameters beyond RTT and jitter (absent in reports before fidelity profiles).
        package var profileHash: String?
        package var profileFile: String?
        package var tailRate: Double?
        package var tailMs: Double?
        package var handshakeRtts: Double?
        package var bandwidthMbps: Double?
        /// Requests a second one instance's network path passed (absent: no limit).
        package var instanceRps: Double?
        /// "vcpu": `instanceRps` was per vCPU, each instance passing its size's share of it, up
        /// to one vCPU (absent: per instance, whatever its size).
        package var instanceRpsPer: String?
        /// "requests": `instanceRps` counted requests only, not TLS handshake flights (absent: flights).
        package var instanceRpsCounts: String?
        /// Certificates in the CA bundle the run's functions were given (the local target's: its
        /// host's public roots and its CA), since loading it is CPU a TLS context costs.
        package var caCertificates: Int?
        package var initCpuMultiplier: Double?
        /// CPU µs a function's quota was charged per block of one of its threads (nil: none).
        package var blockCostUs: Double?
        /// At most this many blocks were charged per ms of the function's CPU (nil: every block).
        package var blocksPerCpuMs: Double?
        /// The CFS period local workers' quotas were spread over, ms (nil: not capped by fanbench).
        package var cpuPeriodMs: Double?
        /// Whether handlers were held to one vCPU's speed above one vCPU of quota: process, none,
        /// or unavailable (the profile asks, the workers' cgroups cannot: v1 only).
        package var vcpuPacing: String?
        /// The CPU probe on this host and the quota scale it gave.
        package var cpu: CPU?

        package struct CPU: Codable, Sendable, Equatable {
            /// This host's `CPUProbe` score (M bytecodes per CPU second): the median of its
            /// last `probeSamples` measurements, this run's (`probeLatest`) among them.
            package var probeScore: Double
            package var probeSamples: Int?
            package var probeLatest: Double?
            /// The profile's Lambda vCPU score (nil: the host's core counted as one vCPU).
            package var vcpuScore: Double?
            /// Quotas were multiplied by this (vcpuScore ÷ probeScore).
            package var scale: Double
            /// Whether fanbench set the quotas (local workers) or only measured (the platform sets them).
            package var applied: Bool
            /// The live scale (a profile's `cpu.live_beta`): quotas also followed this host's
            /// speed as the run went (nil: they did not).
            package var live: Live?

            /// What the live scale did over the run.
            package struct Live: Codable, Sendable, Equatable {
                /// The exponent the host's speed was followed by.
                package var beta: Double
                /// The sampler's speed that counts as this host's usual (M chase steps per CPU
                /// second): its last runs' speeds without the highest and lowest, or this run's first readings.
                package var baseline: Double
                /// How many runs `baseline` is taken over (0: this run's first readings).
                package var baselineRuns: Int
                package var samples: Int
                /// This run's sampler speeds: their mean with a fifth left out at each end, lowest, highest.
                package var speedMean: Double
                package var speedMin: Double
                package var speedMax: Double
                /// The factors quotas were multiplied by (on top of `scale`), over the run's samples.
                package var factorMin: Double
                package var factorMean: Double
                package var factorMax: Double

                package init(beta: Double, baseline: Double, baselineRuns: Int, samples: Int, speedMean: Double, speedMin: Double, speedMax: Double,
                             factorMin: Double, factorMean: Double, factorMax: Double) {
                    self.beta = beta
                    self.baseline = baseline
                    self.baselineRuns = baselineRuns
                    self.samples = samples
                    self.speedMean = speedMean
                    self.speedMin = speedMin
                    self.speedMax = speedMax
                    self.factorMin = factorMin
                    self.factorMean = factorMean
                    self.factorMax = factorMax
                }
            }

            package init(probeScore: Double, vcpuScore: Double?, scale: Double, applied: Bool) {
                self.probeScore = probeScore
                self.vcpuScore = vcpuScore
                self.scale = scale
                self.applied = applied
            }

            /// Below this share of a Lambda vCPU a host's core counts as slower than one (the
            /// probe's run-to-run spread on one host is a few percent).
            package static let slowHostShare = 0.97

            /// What a host whose core is slower than the profile's vCPU cannot emulate, or nil.
            /// Raised quotas give a small size its share; no quota makes a core faster, so work
            /// the quota does not hold back (a handler's bursts between its calls, a size's
            /// whole vCPU) runs at this host's speed.
            package static func slowHostLine(probeScore: Double, vcpuScore: Double?) -> String? {
                guard let vcpu = vcpuScore, vcpu > 0, probeScore > 0, probeScore / vcpu < slowHostShare else { return nil }
                return String(format: "this host's core does %.2f of a Lambda vCPU's work a second (CPU probe %.1f, the profile's vCPU %.1f): "
                              + "quotas were raised to give each size its share, but no quota makes a core faster, so work the quota does not hold back "
                              + "(a handler's bursts between its calls, a size's whole vCPU: the large sizes most) takes up to %.2f× as long as on Lambda; "
                              + "compare sizes within one run, or run where the probe reads %.0f or more", probeScore / vcpu, probeScore, vcpu, vcpu / probeScore, vcpu)
            }

            /// `slowHostLine` for the quotas this run set (nil where the platform set them).
            package var slowHost: String? { applied ? Self.slowHostLine(probeScore: probeScore, vcpuScore: vcpuScore) : nil }
        }

        /// The profile, its hash and the CPU scale, in one phrase.
        package var profileLabel: String {
            var s = profile + (profileHash.map { " #\($0)" } ?? "") + (profileFile.map { " (\($0))" } ?? "")
            if let cpu {
                s += String(format: "; CPU probe %.1f", cpu.probeScore)
                    + (cpu.probeSamples.map { $0 > 1 ? String(format: " (this host's figure over its last %d; this run's %.1f)", $0, cpu.probeLatest ?? cpu.probeScore) : "" } ?? "")
                    + (cpu.vcpuScore.map { String(format: ", Lambda vCPU %.1f, quotas × %.3f", $0, cpu.scale) } ?? ", quotas unscaled")
                    + (vcpuPacing.map { $0 == "none" ? "" : $0 == "process" ? ", handlers paced to one vCPU" : ", handler pacing \($0)" } ?? "")
                    + (cpu.applied || cpu.vcpuScore == nil ? "" : " (not applied: the platform sets these workers' CPU)")
                    + (cpu.live.map { String(format: "; live × %.3f–%.3f (mean %.3f, β %.2f) as this host's speed went %.0f–%.0f against its usual %.0f", $0.factorMin, $0.factorMax, $0.factorMean, $0.beta, $0.speedMin, $0.speedMax, $0.baseline) } ?? "")
            }
            return s
        }

        package init(profile: String, rttMs: Double, jitter: String, tls: Bool) {
            self.profile = profile
            self.rttMs = rttMs
            self.jitter = jitter
            self.tls = tls
        }
    }

    /// An invocation that was not completed: its configuration and the reason it was given up.
    package struct Abandoned: Codable, Sendable, Equatable {
        package var invocation: String
        package var memoryMb: Int
        package var strategy: String
        package var reason: String

        package init(invocation: String, memoryMb: Int, strategy: String, reason: String) {
            self.invocation = invocation
            self.memoryMb = memoryMb
            self.strategy = strategy
            self.reason = reason
        }
    }

    /// One line per function configuration whose invocations failed as Lambda would report it.
    package var functionErrorSummaries: [String] {
        configs.compactMap { c in
            guard c.invocations.errors > 0, let first = c.invocations.firstError else { return nil }
            return "\(c.memoryMb) MB \(c.strategyLabel): \(c.invocations.errors) of \(c.invocations.count) invocation(s) failed; first: \(first)"
        }
    }

    /// Where the same work cost more CPU an invocation under a quota that held it back than the
    /// same strategy (and start) used where it ran free in this run: a quota stops a group for
    /// most of each period, and on a shared host each slice starts with its caches gone, so a
    /// small size's figures read slow there — Lambda's own CPU an invocation is about the same
    /// from 128 MB up (README, "what it still gets wrong"). The baseline is the median of the
    /// strategy's sizes throttled under `QuotaCPUCost.freeShare` of their duration; a size is
    /// named when it was throttled for `QuotaCPUCost.throttledShare` or more and cost
    /// `QuotaCPUCost.threshold` times the baseline or more. Configurations with a failed
    /// invocation are left out.
    package var quotaCPUCosts: [QuotaCPUCost] {
        func share(_ c: Config) -> Double {
            c.invocations.meanMs > 0 ? c.throttledMs / Double(c.invocations.count) / c.invocations.meanMs : 0
        }
        var out: [QuotaCPUCost] = []
        var seen = Set<String>()
        for c in configs where seen.insert(c.strategyLabel + "|" + c.start).inserted {
            // A failed invocation (an init error, a timeout) did not do the work: its CPU is not the work's.
            let same = configs.filter { $0.strategyLabel == c.strategyLabel && $0.start == c.start && $0.invocations.count > 0
                && $0.invocations.errors == 0 && $0.invocations.failed == 0 && $0.cpuMsPerInvocation != nil }
            let free = same.filter { share($0) < QuotaCPUCost.freeShare }
            guard !free.isEmpty else { continue }
            let base = Stats.percentile(free.compactMap(\.cpuMsPerInvocation), 50)
            guard base >= QuotaCPUCost.minBaseMs else { continue }
            let costly = same.filter { share($0) >= QuotaCPUCost.throttledShare }.sorted { $0.memoryMb < $1.memoryMb }.compactMap { s -> QuotaCPUCost.Size? in
                guard let cpu = s.cpuMsPerInvocation, cpu / base >= QuotaCPUCost.threshold else { return nil }
                return QuotaCPUCost.Size(memoryMb: s.memoryMb, cpuMs: cpu, ratio: cpu / base)
            }
            if !costly.isEmpty {
                out.append(QuotaCPUCost(strategy: c.strategyLabel, start: c.start, freeMemoryMb: free.map(\.memoryMb).sorted(), freeCpuMs: base, sizes: costly))
            }
        }
        return out
    }

    /// One line for a person when invocations were lost: how many, in which configurations, the first reason.
    package var lostSummary: String? {
        guard let abandoned, let first = abandoned.first else { return nil }
        var configs: [String] = []
        for a in abandoned where !configs.contains("\(a.memoryMb) MB \(a.strategy)") { configs.append("\(a.memoryMb) MB \(a.strategy)") }
        return "\(abandoned.count) invocation(s) lost (given up after their last attempt) in \(configs.joined(separator: ", ")); first reason: \(first.reason)"
    }

    package struct Plan: Codable, Sendable {
        package var sizes: [Int]
        package var strategies: [String]
        package var invocations: Int
        package var shardSize: Int?
        package var listing: String
        package var keys: Int?
        package var workers: String
        package var cold: Bool
        /// Sizes whose single worker needed more CPU than the budget (they ran alone).
        package var oversubscribedSizes: [Int]
        /// The functions the run's `function:NAME` strategies ran (their environment's names, not values).
        package var functions: [Function]?
        /// Where the invocations ran: emulated (local or external workers) or a Lambda API (real AWS, or not).
        package var backend: Backend?
        /// The coordinator's listing, start to last page, in seconds (absent when invocations list).
        package var listingS: Double?
        /// From the last page (or the plan, when invocations list) to the first assignment sent,
        /// in seconds: sharding, planning, and, for external workers, waiting for them to join.
        package var firstAssignS: Double?

        package init(sizes: [Int], strategies: [String], invocations: Int, shardSize: Int? = nil, listing: String, keys: Int? = nil, workers: String, cold: Bool, oversubscribedSizes: [Int]) {
            self.sizes = sizes
            self.strategies = strategies
            self.invocations = invocations
            self.shardSize = shardSize
            self.listing = listing
            self.keys = keys
            self.workers = workers
            self.cold = cold
            self.oversubscribedSizes = oversubscribedSizes
        }
    }

    /// Where a run's invocations ran.
    package struct Backend: Codable, Sendable, Equatable {
        /// `local`, `external` or `lambda`.
        package var kind: String
        /// For `lambda`: whether the endpoint is AWS's own (else a Lambda API such as `fanbench lambda serve`).
        package var realLambda: Bool?
        package var lambdaEndpoint: String?
        package var region: String?
        package var functionPrefix: String?
        /// Invokes retried after 429 TooManyRequests, and after a 5xx or a dropped connection.
        package var invokeThrottled: Int?
        package var invokeServerErrors: Int?

        package init(kind: String, realLambda: Bool? = nil, lambdaEndpoint: String? = nil, region: String? = nil, functionPrefix: String? = nil) {
            self.kind = kind
            self.realLambda = realLambda
            self.lambdaEndpoint = lambdaEndpoint
            self.region = region
            self.functionPrefix = functionPrefix
        }

        /// One line for every format: real AWS Lambda, another Lambda API, or the emulation and its network profile.
        package func describe(emulation: Emulation?, workers: String) -> String {
            switch kind {
            case "lambda":
                let functions = functionPrefix.map { ", functions \($0)-<MB>" } ?? ""
                let retried = (invokeThrottled ?? 0) + (invokeServerErrors ?? 0) > 0
                    ? "; Invoke retried \(invokeThrottled ?? 0)× after 429 and \(invokeServerErrors ?? 0)× after a 5xx or dropped connection" : ""
                if realLambda == true {
                    return "backend: REAL AWS Lambda (\(region ?? "?"), \(lambdaEndpoint ?? "")\(functions)); durations, init, memory and billing from Lambda's REPORT lines\(retried)"
                }
                return "backend: a Lambda API at \(lambdaEndpoint ?? "?") (not AWS: e.g. fanbench lambda serve's capped sandboxes\(emulation.map { ", network \($0.profile)" } ?? ""))\(functions)\(retried)"
            default:
                return "backend: EMULATED Lambda (\(workers) workers in Lambda-sized caps\(emulation.map { ", network profile \($0.profile)" } ?? ""))"
            }
        }

        /// The CSV's short form.
        package func short(emulation: Emulation?) -> String {
            switch kind {
            case "lambda": return realLambda == true ? "aws-lambda:\(region ?? "")" : "lambda-api:\(lambdaEndpoint ?? "")"
            default: return "emulated:\(kind)" + (emulation.map { ":\($0.profile)" } ?? "")
            }
        }
    }

    /// A function as the plan defined it.
    package struct Function: Codable, Sendable, Equatable {
        package var name: String
        package var command: [String]
        package var code: String
        package var timeoutS: Double
        package var envKeys: [String]

        package init(name: String, command: [String], code: String, timeoutS: Double, envKeys: [String]) {
            self.name = name
            self.command = command
            self.code = code
            self.timeoutS = timeoutS
            self.envKeys = envKeys
        }
    }

    package struct Limits: Codable, Sendable {
        package var cpu: Double?
        package var memoryMb: Double?
        package var cores: Int?
        package var cgroup: String
        package var enforced: Bool
    }

    package struct Invocations: Codable, Sendable {
        package var count: Int
        package var failed: Int
        package var meanMs: Double
        package var p50Ms: Double
        package var p90Ms: Double
        package var p99Ms: Double
        package var minMs: Double
        package var maxMs: Double
        /// Sample standard deviation of the invocation durations (0 for fewer than 2).
        package var stddevMs: Double
        /// Mean billed duration: Lambda's Billed Duration where a REPORT line gave it, else the
        /// duration (plus init when cold) rounded up to 1 ms.
        package var billedMs: Double
        /// How many invocations' billed durations came from REPORT lines (absent: none).
        package var billedFromReport: Int?
        /// Invocations that failed as Lambda reports it (functions: a function error, a timeout,
        /// the runtime exiting, an init error), by Lambda's error type; counted above, not lost.
        package var errors: Int = 0
        package var errorTypes: [String: Int]?
        /// The first failure: its type and message.
        package var firstError: String?
        /// Every invocation's duration and billed duration, in the order they finished: what
        /// `compare` tests and `--trim` trims, so a JSON report alone is enough for a CI gate.
        package var samplesMs: [Double]?
        package var billedSamplesMs: [Double]?
        /// With `--trim F`: the mean after dropping ⌊n × F⌋ invocations from each end.
        package var trimmedMeanMs: Double?

        /// The mean the recommendations use: trimmed when the report was derived with a trim.
        package var robustMeanMs: Double { trimmedMeanMs ?? meanMs }
    }

    package struct Calls: Codable, Sendable {
        package var count: Int
        package var errors: Int
        package var errorCodes: [String: Int]
        package var retries: Int
        package var p50Ms: Double
        package var p90Ms: Double
        package var p99Ms: Double
        package var maxMs: Double
        package var perSecond: Double
        package var cpuMsPerCall: Double
        /// The merged latency distribution at fixed percentiles (0 = min, 100 = max).
        package var latencyMs: [Percentile]
    }

    package struct Percentile: Codable, Sendable, Equatable {
        package var p: Double
        package var ms: Double
    }

    package struct Config: Codable, Sendable {
        package var memoryMb: Int
        /// `serial`, `threads`, `async` or `function`.
        package var strategy: String
        package var concurrency: Int
        /// The function's name when `strategy` is `function`.
        package var function: String?
        package var limits: Limits
        package var invocations: Invocations
        /// Call-level figures; null for a function that does not report its calls (n/a, not 0).
        package var calls: Calls?
        package var initMs: Double?
        package var listMs: Double?
        package var maxMemoryUsedMb: Double
        package var throttledMs: Double
        /// Mean CPU ms an invocation used: a function's own process (its sandbox's group), a
        /// strategy's worker; null where nothing measured it (the Lambda backend).
        package var cpuMsPerInvocation: Double?
        package var reassigned: Int
        /// `cold` when every invocation started a fresh worker, else `warm`; recommendations keep them apart.
        package var start: String
        /// Derived from the fields above and the pricing (see `derive`).
        package var cost: Cost?
        /// Derived when the run knows its emulated RTT.
        package var networkLimit: NetworkLimit?
        /// The call waterfalls of the slowest invocation and of the one nearest the median.
        package var waterfalls: [Waterfall]?
        /// The worker's own time around each invocation's calls (absent for functions).
        package var workerOverhead: WorkerOverhead?

        /// `serial`, `threads:16`, `async:16`, or a function's name.
        package var strategyLabel: String {
            if let function { return function }
            return strategy == "serial" ? "serial" : "\(strategy):\(concurrency)"
        }
    }

    /// What the worker itself adds to an invocation, over the invocations that reported it.
    package struct WorkerOverhead: Codable, Sendable, Equatable {
        package var invocations: Int
        /// Assignment (with its keys) received → first call started.
        package var startP50Ms: Double
        package var startP99Ms: Double
        /// Last call ended → result ready to send.
        package var finishP50Ms: Double
        package var finishP99Ms: Double
    }

    /// One invocation's calls, each from its start to its end (ms from the invocation's start).
    package struct Waterfall: Codable, Sendable, Equatable {
        /// `slowest` or `median`.
        package var which: String
        package var invocation: String
        package var durationMs: Double
        /// [start, end] per call, by start: at most the first 1,000 calls.
        package var callsMs: [[Double]]
    }

    /// One attempt at an invocation on a worker, on the coordinator's clock from the run's start.
    package struct Attempt: Codable, Sendable, Equatable {
        package var invocation: String
        package var worker: String
        /// The configuration's position in `configs`.
        package var config: Int
        package var startMs: Double
        package var endMs: Double
        /// `ok` (counted), `failed` (the worker said so), `requeued` (the worker was lost or dropped).
        package var outcome: String

        package init(invocation: String, worker: String, config: Int, startMs: Double, endMs: Double, outcome: String) {
            self.invocation = invocation
            self.worker = worker
            self.config = config
            self.startMs = startMs
            self.endMs = endMs
            self.outcome = outcome
        }
    }

    /// Attempts drawn in the timeline, at most.
    package static let maxTimelineAttempts = 20_000

    package var schema = "fanbench.report/v1"
    package var runId: String
    package var fanbenchVersion: String
    package var status: String
    package var startedAt: Date
    package var finishedAt: Date?
    package var host: Host
    package var target: Target
    package var plan: Plan
    package var configs: [Config]
    /// Invocations given up after their last attempt, with why, in the order they were; absent when none.
    package var abandoned: [Abandoned]?
    /// Every attempt in the order it ended (the first `maxTimelineAttempts`): the invocation timeline.
    package var timeline: [Attempt]?
    package var pricing: Pricing?
    /// The fraction dropped from each end for the trimmed means (absent: none).
    package var trim: Double?
    package var recommendations: [Recommendation]?

    package init(runId: String, fanbenchVersion: String, status: String, startedAt: Date, finishedAt: Date?, host: Host,
                target: Target, plan: Plan, configs: [Config]) {
        self.runId = runId
        self.fanbenchVersion = fanbenchVersion
        self.status = status
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.host = host
        self.target = target
        self.plan = plan
        self.configs = configs
    }

    package static func config(from a: ConfigAggregate) -> Config {
        let mb = 1024.0 * 1024.0
        return Config(
            memoryMb: a.config.size.memoryMB, strategy: a.config.strategy.name, concurrency: a.config.strategy.concurrency,
            function: a.config.strategy.functionName,
            limits: Limits(cpu: a.limits?.cpu, memoryMb: a.limits?.memoryBytes.map { Double($0) / mb }, cores: a.limits?.cores,
                           cgroup: a.limits?.cgroup ?? "none", enforced: a.enforced && a.limits != nil),
            invocations: Invocations(count: a.invocations, failed: a.failed, meanMs: a.meanMs,
                                     p50Ms: a.durationPercentile(50), p90Ms: a.durationPercentile(90), p99Ms: a.durationPercentile(99),
                                     minMs: a.durationsMs.min() ?? 0, maxMs: a.durationsMs.max() ?? 0,
                                     stddevMs: Stats.stddev(a.durationsMs), billedMs: a.billedMeanMs,
                                     billedFromReport: a.billedReported > 0 ? a.billedReported : nil,
                                     errors: a.functionErrorCount, errorTypes: a.functionErrors.isEmpty ? nil : a.functionErrors,
                                     firstError: a.firstFunctionError,
                                     samplesMs: a.durationsMs, billedSamplesMs: a.billedMs),
            calls: !a.callsKnown ? nil : Calls(count: a.calls.calls, errors: a.calls.errorCount, errorCodes: a.calls.errors, retries: a.calls.retries,
                         p50Ms: a.calls.percentileMs(50), p90Ms: a.calls.percentileMs(90), p99Ms: a.calls.percentileMs(99),
                         maxMs: a.calls.percentileMs(100), perSecond: a.callsPerSecond, cpuMsPerCall: a.cpuMsPerCall,
                         latencyMs: Self.curvePoints.map { Percentile(p: $0, ms: a.calls.percentileMs($0)) }),
            initMs: a.initMs.isEmpty ? nil : a.initMs.reduce(0, +) / Double(a.initMs.count),
            listMs: a.listMs.isEmpty ? nil : a.listMs.reduce(0, +) / Double(a.listMs.count),
            maxMemoryUsedMb: Double(a.maxMemoryBytes) / mb, throttledMs: a.throttledMs,
            cpuMsPerInvocation: a.invocations > 0 && a.cpuMs > 0 ? a.cpuMs / Double(a.invocations) : nil, reassigned: a.reassigned,
            start: !a.initMs.isEmpty && a.initMs.count == a.invocations ? "cold" : "warm",
            waterfalls: a.waterfalls.isEmpty ? nil : a.waterfalls.map { w in
                Waterfall(which: w.which, invocation: w.invocation, durationMs: w.durationMs,
                          callsMs: w.spansUs.map { [Double($0[0]) / 1000, Double($0[1]) / 1000] })
            },
            workerOverhead: a.overheadStartUs.isEmpty ? nil : WorkerOverhead(
                invocations: a.overheadStartUs.count,
                startP50Ms: Stats.percentile(a.overheadStartUs, 50) / 1000, startP99Ms: Stats.percentile(a.overheadStartUs, 99) / 1000,
                finishP50Ms: Stats.percentile(a.overheadFinishUs, 50) / 1000, finishP99Ms: Stats.percentile(a.overheadFinishUs, 99) / 1000))
    }

    /// Where the latency distribution is sampled for every format and chart.
    package static let curvePoints: [Double] = [0, 10, 25, 50, 75, 90, 95, 99, 99.9, 100]

    /// Fills what follows from the measured fields: cost per configuration at `pricing`, the
    /// network-limit ideal when the RTT is known, and the recommendations.
    /// How figures are derived from what was measured: prices, the balance between speed and
    /// cost, and the trim for robust means.
    package struct Analysis: Sendable, Equatable {
        package var pricing = Pricing()
        package var balanceWeight = 0.5
        package var trim = 0.0
        package init(pricing: Pricing = Pricing(), balanceWeight: Double = 0.5, trim: Double = 0) {
            self.pricing = pricing
            self.balanceWeight = balanceWeight
            self.trim = trim
        }
    }

    package mutating func derive(_ analysis: Analysis) {
        derive(pricing: analysis.pricing, balanceWeight: analysis.balanceWeight, trim: analysis.trim)
    }

    /// With `trim` > 0 the means and the billed duration that costs are computed from are
    /// trimmed (⌊n × trim⌋ invocations dropped from each end), and the untrimmed mean stays.
    package mutating func derive(pricing: Pricing = Pricing(), balanceWeight: Double = 0.5, trim: Double = 0) {
        self.pricing = pricing
        self.trim = trim > 0 ? trim : nil
        let rtt = target.emulation?.rttMs
        for i in configs.indices {
            var billed = configs[i].invocations.billedMs
            configs[i].invocations.trimmedMeanMs = nil
            if trim > 0, let samples = configs[i].invocations.samplesMs, !samples.isEmpty {
                configs[i].invocations.trimmedMeanMs = Stats.trimmedMean(samples, trim)
                if let b = configs[i].invocations.billedSamplesMs, !b.isEmpty { billed = Stats.trimmedMean(b, trim) }
            }
            configs[i].cost = pricing.cost(memoryMb: configs[i].memoryMb, billedMs: billed)
            configs[i].networkLimit = rtt.flatMap { NetworkLimit(config: configs[i], plan: plan, rttMs: $0) }
        }
        recommendations = Recommendation.make(configs, balanceWeight: balanceWeight)
    }

    package func jsonData() throws -> Data {
        try JSONCoding.encoder(pretty: true).encode(self)
    }
}
