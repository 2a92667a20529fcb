import FanbenchBase
import FanbenchLocalTarget
import FanbenchReport

extension RunReport.Emulation {
    /// What `run --emulation` declares about an endpoint fanbench did not set up: a
    /// profile's name (lambda-same-region) or an RTT in ms; TLS from the endpoint's scheme.
    package static func declared(_ text: String, endpoint: String) throws(FanbenchError) -> RunReport.Emulation {
        let tls = endpoint.lowercased().hasPrefix("https://")
        if let profile = LocalTarget.TargetProfile(rawValue: text), let network = profile.network {
            return RunReport.Emulation(profile: profile.rawValue, rttMs: network.rttMs, jitter: network.jitter.description, tls: tls)
        }
        guard let rtt = Double(text), rtt > 0, rtt.isFinite else {
            throw FanbenchError("--emulation '\(text)' is neither a profile (lambda-same-region) nor an RTT in ms (e.g. 16)", exitCode: 2)
        }
        return RunReport.Emulation(profile: "declared", rttMs: rtt, jitter: "unknown", tls: tls)
    }
}
