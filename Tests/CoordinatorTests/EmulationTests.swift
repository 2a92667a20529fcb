import FanbenchBase
import FanbenchCoordinator
import FanbenchReport
import Testing

/// `run --emulation`: what a user declares about an endpoint fanbench did not set up.
@Suite struct EmulationTests {
    @Test func aDeclaredEmulationIsAProfileOrAnRTT() throws {
        let profile = try RunReport.Emulation.declared("lambda-same-region", endpoint: "http://proxy:8334")
        let builtIn = EmulationProfile.lambdaSameRegion.network
        #expect(profile == RunReport.Emulation(profile: "lambda-same-region", rttMs: builtIn.rttMs, jitter: builtIn.jitter.description, tls: false))
        #expect(try RunReport.Emulation.declared("25", endpoint: "https://x").rttMs == 25)
        #expect(try RunReport.Emulation.declared("25", endpoint: "https://x").tls)
        #expect(throws: FanbenchError.self) { try RunReport.Emulation.declared("fast", endpoint: "") }
        #expect(throws: FanbenchError.self) { try RunReport.Emulation.declared("-3", endpoint: "") }
    }
}
