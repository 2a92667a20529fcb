import FanbenchBase
import FanbenchLocalTarget
import FanbenchProxy
import FanbenchReport
import FanbenchS3
import Foundation
import Testing

/// `fanbench target up --profile lambda-same-region`: the store behind the emulating proxy,
/// started and stopped through the CLI, on free ports. It measures time: ./scripts/test runs it
/// apart from the parallel suites.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct TargetProfileTests {
    /// A port p with p + 10000 free too (SeaweedFS's gRPC ports).
    static func freePortPair(excluding: Set<Int>) throws -> Int {
        for _ in 0..<500 {
            let p = Int.random(in: 20000..<29990)
            if !excluding.contains(where: { abs($0 - p) < 2 }), isPortFree(p), isPortFree(p + 10000) { return p }
        }
        throw FanbenchError("no free port pair")
    }

    @Test(.enabled(if: ProcessLauncher.which(ProcessInfo.processInfo.environment["FANBENCH_WEED"] ?? "weed") != nil, "no weed binary"))
    func emulatedTargetAddsTheRoundTripAndDirectSkipsIt() async throws {
        var ports: [Int] = []
        for _ in 0..<5 { ports.append(try Self.freePortPair(excluding: Set(ports))) }
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("fb-profile-\(TestTarget.uniqueSuffix())").path
        let cli = CLIBadInputTests()
        let up = try await cli.run(["target", "up", "--state-dir", state, "--s3-port", "\(ports[0])", "--master-port", "\(ports[1])",
                              "--volume-port", "\(ports[2])", "--filer-port", "\(ports[3])", "--proxy-port", "\(ports[4])"])
        // A blocking wait in a defer (which cannot await): brief, the target stops at once.
        defer { _ = try? TestProcess.run(["target", "down", "--state-dir", state], environment: TestProcess.cleanEnvironment()) }
        #expect(up.status == 0, "\(up.stderr)")
        #expect(up.stdout.contains("lambda-same-region"))
        let target = LocalTarget(stateDirectory: state)
        let running = try #require(target.runningState())
        #expect(running.endpoint == "https://127.0.0.1:\(ports[4])")
        #expect(running.directEndpoint == "https://127.0.0.1:\(ports[0])")
        #expect(running.emulation?.rttMs == NetworkProfile.lambdaSameRegion.rttMs)
        let env = try await cli.run(["target", "env", "--state-dir", state])
        #expect(env.stdout.contains("AWS_ENDPOINT_URL='https://127.0.0.1:\(ports[4])'"))
        let direct = try await cli.run(["target", "env", "--state-dir", state, "--direct"])
        #expect(direct.stdout.contains("AWS_ENDPOINT_URL='https://127.0.0.1:\(ports[0])'"))

        // Warm calls through the emulation cost the RTT; direct ones do not.
        func warmMedian(_ config: S3ClientConfiguration) async throws -> Double {
            try await S3Client.withClient(configuration: config, transport: .curl, maxConnections: 1) { client in
                _ = try await client.perform(.listBuckets())
                var samples: [Double] = []
                for _ in 0..<15 {
                    let t0 = monotonicNanoseconds()
                    _ = try await client.perform(.listBuckets())
                    samples.append(Double(monotonicNanoseconds() - t0) / 1e6)
                }
                return Stats.percentile(samples, 50)
            }
        }
        let emulated = try await warmMedian(try target.clientConfiguration(running))
        let store = try await warmMedian(try target.clientConfiguration(running, direct: true))
        #expect(emulated - store > 13 && emulated - store < 22, "emulated \(emulated) ms, direct \(store) ms")

        let proxyPID = try #require(running.proxyPid)
        let down = try await cli.run(["target", "down", "--state-dir", state])
        #expect(down.status == 0)
        #expect(!ProcessLauncher.isAlive(proxyPID), "down stops the proxy too")
        #expect(!ProcessLauncher.isAlive(running.pid))
    }
}
