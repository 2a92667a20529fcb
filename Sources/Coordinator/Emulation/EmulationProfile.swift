import Crypto
import FanbenchBase
import FanbenchLocalTarget
import FanbenchProxy
import FanbenchReport
import Foundation
import Yams

/// Everything the local emulation does to make a host behave like Lambda → S3, as parameters
/// (shared/DESIGN.md, "Fidelity"): the network (RTT median and lognormal spread, a tail, the
/// round trips a new connection costs, bandwidth, the requests a second one instance's path
/// passes) and the CPU (one Lambda vCPU's score on
/// `CPUProbe`, so quotas do the same work per second on every host; the init phase's CPU as a
/// multiple of the size's share). A built-in (`lambda-same-region`, fitted by `fanbench
/// calibrate` on the seed blog's table: profiles/lambda-same-region.yaml) or a YAML file.
package struct EmulationProfile: Sendable, Equatable {
    package var name: String
    package var network: NetworkProfile
    /// One Lambda vCPU's `CPUProbe` score; nil: a host core counts as one vCPU, unscaled.
    package var vcpuScore: Double?
    /// The init phase's CPU quota as a multiple of the size's (capped at the size's cores).
    package var initCPUMultiplier: Double = 1
    /// Whether, above one vCPU of quota, a function's process is held to one vCPU's speed
    /// (`VCPUPacer`; the file's `pacing: process`, or `none`).
    package var pacesHandlers = true
    /// CPU µs a function's quota is charged each time one of its threads blocks: Lambda's vCPU
    /// halt-polls before it sleeps, on the function's quota (`BlockCharge`; 0: none).
    package var blockCostMicros: Double = 0
    /// At most this many blocks charged per ms of the function's own CPU (`cpu.blocks_per_cpu_ms`;
    /// 0: every block): a throttled handler's extra wake-ups are not a VM's halt-polls.
    package var blocksPerCPUMs: Double = 0
    /// The CFS period a size's quota is spread over, µs (`cpu.period_ms`): Linux's default is
    /// 100 ms; a shorter one throttles a small size in shorter, more frequent slices.
    package var cfsPeriodMicros = LambdaSize.cfsPeriodMicros
    /// Quotas that also follow this host's speed as a run goes, × (usual ÷ now)^β of an
    /// unthrottled sampler (`LiveCPUScale`; `cpu.live_beta`; 0: fixed for the run). cgroup v1 only.
    package var liveBeta: Double = 0
    /// Where it came from: nil for a built-in, else the file's path.
    package var file: String?
    /// What `fanbench calibrate` recorded about the fit (kept as written; not a parameter).
    package var fitText: String?

    package init(name: String, network: NetworkProfile, vcpuScore: Double?, initCPUMultiplier: Double = 1) {
        self.name = name
        self.network = network
        self.vcpuScore = vcpuScore
        self.initCPUMultiplier = initCPUMultiplier
    }

    /// The default: the calibrated Lambda → S3 same-region profile.
    package static let lambdaSameRegion: EmulationProfile = {
        var p = EmulationProfile(name: LocalTarget.TargetProfile.lambdaSameRegion.rawValue, network: .lambdaSameRegion,
                                 vcpuScore: NetworkProfile.lambdaSameRegionVCPUScore, initCPUMultiplier: 3)
        p.blockCostMicros = 130
        p.blocksPerCPUMs = 1
        return p
    }()

    /// The parameters as one canonical line: what the hash covers (not the name, file or fit,
    /// so two files with the same parameters compare equal).
    package var canonical: String {
        network.summary + ";vcpu_score=\(vcpuScore.map(Self.number) ?? "host");init_cpu_multiplier=\(Self.number(initCPUMultiplier))"
            + ";pacing=\(pacesHandlers ? "process" : "none")" + (blockCostMicros > 0 ? ";block_cost_us=\(Self.number(blockCostMicros))" : "")
            + (blockCostMicros > 0 && blocksPerCPUMs > 0 ? ";blocks_per_cpu_ms=\(Self.number(blocksPerCPUMs))" : "")
            + (cfsPeriodMicros != LambdaSize.cfsPeriodMicros ? ";period_ms=\(Self.number(Double(cfsPeriodMicros) / 1000))" : "")
            + (liveBeta > 0 ? ";live_beta=\(Self.number(liveBeta))" : "")
    }

    /// The first 12 hex digits of SHA-256 over `canonical`.
    package var hash: String {
        SHA256.hash(data: Data(canonical.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    /// The quota scale on a host whose core scores `hostScore`: one emulated vCPU does the
    /// reference vCPU's work per second.
    package func cpuScale(hostScore: Double) -> Double {
        guard let vcpuScore, hostScore > 0 else { return 1 }
        return vcpuScore / hostScore
    }

    /// What a report says about it, with this host's probe.
    /// `pacingAvailable`: the workers' cgroups let a handler be paced (and init boosted): v1.
    package func reportEmulation(tls: Bool, probe: CPUProbe.Measurement?, applied: Bool, pacingAvailable: Bool) -> RunReport.Emulation {
        var e = RunReport.Emulation(profile: name, rttMs: network.rttMs, jitter: network.jitter.description, tls: tls)
        e.profileHash = hash
        e.profileFile = file
        e.tailRate = network.tailProbability
        e.tailMs = network.tailMs
        e.handshakeRtts = network.handshakeRoundTrips
        e.bandwidthMbps = network.bandwidthBytesPerSecond.map { $0 / 125_000 }
        e.instanceRps = network.instanceRequestsPerSecond
        e.instanceRpsPer = network.instanceRequestsPerVCPU && network.instanceRequestsPerSecond != nil ? "vcpu" : nil
        e.instanceRpsCounts = !network.instanceCountsHandshakes && network.instanceRequestsPerSecond != nil ? "requests" : nil
        e.initCpuMultiplier = initCPUMultiplier
        // Charged by local workers only (they share a capped group with their function).
        e.blockCostUs = applied && blockCostMicros > 0 ? blockCostMicros : nil
        e.blocksPerCpuMs = applied && blockCostMicros > 0 && blocksPerCPUMs > 0 ? blocksPerCPUMs : nil
        e.cpuPeriodMs = applied ? Double(cfsPeriodMicros) / 1000 : nil
        e.vcpuPacing = !pacesHandlers ? "none" : pacingAvailable ? "process" : "unavailable (cgroup v1 only)"
        if let probe {
            e.cpu = RunReport.Emulation.CPU(probeScore: probe.score, vcpuScore: vcpuScore, scale: cpuScale(hostScore: probe.score), applied: applied)
            e.cpu?.probeSamples = probe.samples
            e.cpu?.probeLatest = probe.latest
        }
        return e
    }

    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(format: "%.6g", v)
    }

    // MARK: - Files

    package static let keys = ["name", "network", "cpu", "fit"]
    static let networkKeys = ["rtt_ms", "jitter", "tail_rate", "tail_ms", "handshake_rtts", "bandwidth_mbps", "instance_rps", "instance_rps_per", "instance_rps_counts"]
    static let cpuKeys = ["vcpu_score", "init_cpu_multiplier", "pacing", "block_cost_us", "blocks_per_cpu_ms", "period_ms", "live_beta"]

    /// A built-in's name (`lambda-same-region`; `none` is no profile: nil) or a profile file's path.
    package static func resolve(_ spec: String, relativeTo directory: String? = nil) throws(FanbenchError) -> EmulationProfile? {
        if spec == LocalTarget.TargetProfile.none.rawValue { return nil }
        if spec == lambdaSameRegion.name { return lambdaSameRegion }
        let path = spec.hasPrefix("/") || directory == nil ? spec : directory! + "/" + spec
        guard FileManager.default.fileExists(atPath: path) else {
            throw FanbenchError.badInput("profile '\(spec)' is neither a built-in (lambda-same-region, none) nor a file that exists\(path != spec ? " (looked for \(path))" : ""): give a profile file written by fanbench calibrate")
        }
        return try load(path: path)
    }

    package static func load(path: String) throws(FanbenchError) -> EmulationProfile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw FanbenchError.badInput("cannot read the profile \(path): check the path and that it is readable")
        }
        var p = try parse(text, path: path)
        p.file = path
        return p
    }

    package static func parse(_ text: String, path: String) throws(FanbenchError) -> EmulationProfile {
        func fail(_ node: Node?, _ message: String) -> FanbenchError {
            FanbenchError.badInput("\(path)\(node?.mark.map { ":\($0.line)" } ?? ""): \(message)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw FanbenchError.badInput("\(path): not valid YAML (\(String(describing: error).split(separator: "\n").first ?? "")): a profile is a YAML mapping as fanbench calibrate writes it")
        }
        guard let root, let top = root.mapping else { throw fail(root, "a profile is a mapping of \(keys.joined(separator: ", "))") }
        func number(_ node: Node, _ key: String, _ range: ClosedRange<Double>) throws(FanbenchError) -> Double {
            guard let v = node.float ?? node.int.map(Double.init), v.isFinite, range.contains(v) else {
                throw fail(node, "'\(key)' must be a number from \(Self.number(range.lowerBound)) to \(Self.number(range.upperBound))")
            }
            return v
        }
        var name: String?
        var network = NetworkProfile(rttMs: 0)
        var sawNetwork = false
        var vcpu: Double?
        var initMultiplier = 1.0
        var paces = true
        var blockCost = 0.0
        var blocksPerCPUMs = 0.0
        var periodMs = Double(LambdaSize.cfsPeriodMicros) / 1000
        var liveBeta = 0.0
        var fitText: String?
        for (k, v) in top {
            switch k.string ?? "" {
            case "name":
                guard let s = v.scalar?.string, !s.isEmpty, s.count <= 100 else { throw fail(v, "'name' must be a short text") }
                name = s
            case "network":
                guard let m = v.mapping else { throw fail(v, "'network' must be a mapping of \(networkKeys.joined(separator: ", "))") }
                sawNetwork = true
                for (nk, nv) in m {
                    switch nk.string ?? "" {
                    case "rtt_ms": network.rttMs = try number(nv, "network.rtt_ms", 0...10_000)
                    case "jitter":
                        guard let s = nv.scalar?.string else { throw fail(nv, "'network.jitter' must be fixed, uniform:SPREAD_MS or lognormal:SIGMA") }
                        do { network.jitter = try NetworkProfile.Jitter(parsing: s) } catch { throw fail(nv, error.message) }
                    case "tail_rate": network.tailProbability = try number(nv, "network.tail_rate", 0...1)
                    case "tail_ms": network.tailMs = try number(nv, "network.tail_ms", 0...60_000)
                    case "handshake_rtts": network.handshakeRoundTrips = try number(nv, "network.handshake_rtts", 0...10)
                    case "bandwidth_mbps":
                        if nv.null != nil { network.bandwidthBytesPerSecond = nil } else {
                            network.bandwidthBytesPerSecond = try number(nv, "network.bandwidth_mbps", 0.001...1_000_000) * 125_000
                        }
                    case "instance_rps":
                        network.instanceRequestsPerSecond = nv.null != nil ? nil : try number(nv, "network.instance_rps", 1...1_000_000)
                    case "instance_rps_per":
                        switch nv.string {
                        case "instance": network.instanceRequestsPerVCPU = false
                        case "vcpu": network.instanceRequestsPerVCPU = true
                        default: throw fail(nv, "'network.instance_rps_per' must be instance (every instance passes instance_rps) or vcpu (an instance passes its size's share of a vCPU of it, up to one)")
                        }
                    case "instance_rps_counts":
                        switch nv.string {
                        case "flights": network.instanceCountsHandshakes = true
                        case "requests": network.instanceCountsHandshakes = false
                        default: throw fail(nv, "'network.instance_rps_counts' must be flights (a TLS handshake's flights wait their turn too) or requests (only requests do)")
                        }
                    default: throw fail(nk, "unknown key 'network.\(nk.string ?? "")' (known: \(networkKeys.joined(separator: ", ")))")
                    }
                }
            case "cpu":
                guard let m = v.mapping else { throw fail(v, "'cpu' must be a mapping of \(cpuKeys.joined(separator: ", "))") }
                for (ck, cv) in m {
                    switch ck.string ?? "" {
                    case "vcpu_score": vcpu = cv.null != nil ? nil : try number(cv, "cpu.vcpu_score", 0.001...1_000_000)
                    case "init_cpu_multiplier": initMultiplier = try number(cv, "cpu.init_cpu_multiplier", 1...64)
                    case "pacing":
                        guard let s = cv.scalar?.string, ["process", "none"].contains(s) else {
                            throw fail(cv, "'cpu.pacing' must be process (above one vCPU of quota, a handler is held to one vCPU, right for CPython and Node) or none")
                        }
                        paces = s == "process"
                    case "block_cost_us": blockCost = cv.null != nil ? 0 : try number(cv, "cpu.block_cost_us", 0...10_000)
                    case "blocks_per_cpu_ms": blocksPerCPUMs = cv.null != nil ? 0 : try number(cv, "cpu.blocks_per_cpu_ms", 0...1_000)
                    case "period_ms":
                        if cv.null == nil { periodMs = try number(cv, "cpu.period_ms", 1...1000) }
                    case "live_beta": liveBeta = cv.null != nil ? 0 : try number(cv, "cpu.live_beta", 0...2)
                    default: throw fail(ck, "unknown key 'cpu.\(ck.string ?? "")' (known: \(cpuKeys.joined(separator: ", ")))")
                    }
                }
            case "fit":
                fitText = (try? Yams.serialize(node: v)) ?? nil
            default:
                throw fail(k, "unknown key '\(k.string ?? "")' (known: \(keys.joined(separator: ", ")))")
            }
        }
        guard let name else { throw fail(root, "a profile needs a 'name'") }
        guard sawNetwork, network.rttMs > 0 else { throw fail(root, "a profile needs 'network' with rtt_ms above 0") }
        var p = EmulationProfile(name: name, network: network, vcpuScore: vcpu, initCPUMultiplier: initMultiplier)
        p.pacesHandlers = paces
        p.blockCostMicros = blockCost
        p.blocksPerCPUMs = blocksPerCPUMs
        p.cfsPeriodMicros = Int((periodMs * 1000).rounded())
        p.liveBeta = liveBeta
        p.fitText = fitText
        return p
    }

    /// The profile as a file (`fit`, when given, is appended as written).
    package func yaml(comment: String? = nil, fit: String? = nil) -> String {
        let n = network
        var out = comment.map { $0.split(separator: "\n", omittingEmptySubsequences: false).map { "# " + $0 }.joined(separator: "\n") + "\n" } ?? ""
        out += """
            name: \(name)
            network:
              rtt_ms: \(Self.number(n.rttMs))          # median round trip per request/response exchange
              jitter: \(n.jitter)   # each one-way delay lognormal around half the RTT
              tail_rate: \(Self.number(n.tailProbability))       # share of responses that also wait tail_ms
              tail_ms: \(Self.number(n.tailMs))
              handshake_rtts: \(Self.number(n.handshakeRoundTrips))    # round trips a new connection costs before TLS's own
              bandwidth_mbps: \(n.bandwidthBytesPerSecond.map { Self.number($0 / 125_000) } ?? "null")
              instance_rps: \(n.instanceRequestsPerSecond.map(Self.number) ?? "null")   # requests a second one instance's network path passes (instance_rps_counts says whether TLS handshake flights count); more queue
              instance_rps_per: \(n.instanceRequestsPerVCPU ? "vcpu" : "instance")   # vcpu: an instance passes its size's share of a vCPU of instance_rps (up to one)
              instance_rps_counts: \(n.instanceCountsHandshakes ? "flights" : "requests")   # requests: a TLS handshake's flights do not wait their turn
            cpu:
              vcpu_score: \(vcpuScore.map { String(format: "%.2f", $0) } ?? "null")   # one Lambda vCPU on fanbench's CPU probe (M bytecodes per CPU second)
              init_cpu_multiplier: \(Self.number(initCPUMultiplier))
              pacing: \(pacesHandlers ? "process" : "none")    # above one vCPU of quota, a handler's process held to one vCPU's speed
              block_cost_us: \(Self.number(blockCostMicros))   # CPU µs charged to a function's quota each time one of its threads blocks (a vCPU halt-polls)
              blocks_per_cpu_ms: \(Self.number(blocksPerCPUMs))   # at most this many blocks charged per ms of the function's own CPU (0: all; a throttled handler's extra wake-ups are no halt-polls)
              period_ms: \(Self.number(Double(cfsPeriodMicros) / 1000))   # the CFS period each size's quota is spread over
              live_beta: \(Self.number(liveBeta))   # quotas also × (this host's usual speed ÷ its speed now)^live_beta as a run goes (0: fixed; cgroup v1)

            """
        if let fit { out += "fit:\n" + fit.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n") + "\n" }
        return out
    }
}
