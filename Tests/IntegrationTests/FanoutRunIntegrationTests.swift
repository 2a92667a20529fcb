import FanbenchBase
import FanbenchCoordinator
import FanbenchLocalTarget
import FanbenchProtocol
import FanbenchProxy
import FanbenchReport
import FanbenchS3
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import Testing

/// The fan-out run with real worker processes over real TCP, capped by real cgroups, against
/// the real SeaweedFS target.
@Suite(.enabled(if: TestTarget.available, TestTarget.skipReason), .serialized, .timeLimit(.minutes(5)))
struct FanoutRunIntegrationTests {
    static let cgroups: CgroupManager? = {
        guard let version = CgroupManager.detect() else { return nil }
        let m = CgroupManager(version: version)
        guard let probe = try? m.create(name: "test-probe-\(getpid())", size: try! LambdaSize(memoryMB: 128), hostCores: 1) else { return nil }
        m.remove(probe)
        return m
    }()
    static let cgroupsReason: Comment = "cgroups under /sys/fs/cgroup are not writable here (run as root on Linux)"

    static var workerBinary: String {
        URL(fileURLWithPath: TestTarget.binary).deletingLastPathComponent().appendingPathComponent("fanbench-worker").path
    }

    func seeded(_ bucket: String, objects: Int) async throws -> S3ClientConfiguration {
        let config = try TestTarget.configuration(.https)
        try await S3Client.withClient(configuration: config, transport: .async, maxConnections: 8) {
            _ = try await Seeder.seed(client: $0, bucket: bucket, objects: objects, size: 16, prefix: "", inFlight: 8)
        }
        return config
    }

    func logDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-run-\(TestTarget.uniqueSuffix())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A capped local run of `sizes` × `strategies` against `bucket`.
    func localOptions(_ id: String, bucket: String, sizes: [Int], strategies: [Strategy], invocations: Int) throws -> FanoutRun.Options {
        var options = FanoutRun.Options(runID: "\(id)\(TestTarget.uniqueSuffix())", bucket: bucket,
                                        workers: .local(cgroups: Self.cgroups, cpuBudget: 1.5, perSize: 1, workerBinary: Self.workerBinary),
                                        token: "test-token", logDirectory: try logDirectory())
        options.sizes = try sizes.map { try LambdaSize(memoryMB: $0) }
        options.strategies = strategies
        options.invocations = invocations
        return options
    }

    /// An external-workers run of `size` × `strategies` against `bucket`.
    func externalOptions(_ id: String, bucket: String, expect: Int, wait: Duration, token: String,
                         size: Int, strategies: [Strategy], invocations: Int) throws -> FanoutRun.Options {
        var options = FanoutRun.Options(runID: "\(id)\(TestTarget.uniqueSuffix())", bucket: bucket,
                                        workers: .external(expect: expect, waitTimeout: wait), token: token, logDirectory: try logDirectory())
        options.sizes = [try LambdaSize(memoryMB: size)]
        options.strategies = strategies
        options.invocations = invocations
        return options
    }

    /// Starts a run in the background; returns it and the port it listens on for workers.
    func startInBackground(_ options: FanoutRun.Options, config: S3ClientConfiguration,
                           hooks: FanoutRun.Hooks = FanoutRun.Hooks()) async throws -> (Task<RunReport, any Error>, Int) {
        let address = NIOLockedValueBox<String?>(nil)
        var hooks = hooks
        hooks.listening = { a in address.withLockedValue { $0 = a } }
        let logger = self.logger
        let run = Task { try await FanoutRun.execute(s3: config, options: options, logger: logger, hooks: hooks).report }
        var port = 0
        for _ in 0..<200 where port == 0 {
            if let a = address.withLockedValue({ $0 }) { port = Int(a.split(separator: ":").last!)! } else { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(port > 0)
        return (run, port)
    }

    /// A worker process of `size` MB dialling 127.0.0.1:`port` with `token` and the target's credentials.
    func spawnWorker(_ id: String, port: Int, size: Int, token: String, config: S3ClientConfiguration) throws -> pid_t {
        var env = ProcessInfo.processInfo.environment
        env["FANBENCH_TOKEN"] = token
        env["AWS_ACCESS_KEY_ID"] = config.credentials.accessKeyID
        env["AWS_SECRET_ACCESS_KEY"] = config.credentials.secretAccessKey
        return try ProcessLauncher.spawn(executable: Self.workerBinary,
                                         arguments: ["--coordinator", "127.0.0.1:\(port)", "--size-mb", "\(size)", "--worker-id", id],
                                         logPath: try logDirectory() + "/\(id).log", environment: env, newSession: false)
    }

    /// Waits for a worker process to exit; its wait status. Off the cooperative pool.
    @discardableResult
    func reap(_ pid: pid_t) async -> Int32 {
        (try? await TestProcess.offPool {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            return status
        }) ?? -1
    }

    var logger: Logger {
        var l = Logger(label: "test")
        l.logLevel = .critical
        return l
    }

    @Test(.enabled(if: cgroups != nil, cgroupsReason))
    func cappedLocalRunCountsEveryCall() async throws {
        let config = try await seeded("fb-it-run", objects: 20)
        let options = try localOptions("t", bucket: "fb-it-run", sizes: [128, 1024], strategies: [.serial, .threads(4), .async(4)], invocations: 2)
        let report = try await FanoutRun.execute(s3: config, options: options, logger: logger).report
        #expect(report.configs.count == 6)
        for c in report.configs {
            #expect(c.invocations.count == 2, "\(c.memoryMb) \(c.strategy)")
            #expect(c.calls?.count == 40)
            #expect(c.calls?.errors == 0)
            #expect(c.limits.enforced, "\(c.memoryMb) MB not enforced: \(c.limits)")
            let expected = Double(c.memoryMb) / 1769
            #expect(abs((c.limits.cpu ?? 0) - expected) <= expected * 0.01)
            #expect(c.limits.memoryMb == Double(c.memoryMb))
            #expect(c.maxMemoryUsedMb > 1)
        }
        // No cgroup of this run is left behind (nor the parent folder, unless another run holds it).
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/cpu/fanbench"))?.filter { $0.hasPrefix(options.runID) } ?? []
        #expect(leftovers.isEmpty)
        if Self.cgroups?.version == .v1 {
            // Other suites run capped at the same time: the parent may stay only while it holds their groups.
            let base = "/sys/fs/cgroup/cpu/fanbench"
            let others = (try? FileManager.default.contentsOfDirectory(atPath: base))?.filter { entry in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: base + "/" + entry, isDirectory: &isDirectory) && isDirectory.boolValue
            }
            #expect(others == nil || !others!.isEmpty, "the emptied parent group is removed too")
        }
    }

    @Test(.enabled(if: cgroups != nil, cgroupsReason))
    func killedWorkersInvocationIsReassignedAndCountedOnce() async throws {
        let config = try await seeded("fb-it-kill", objects: 60)
        let options = try localOptions("k", bucket: "fb-it-kill", sizes: [128], strategies: [.serial], invocations: 3)
        let launcher = NIOLockedValueBox<LocalLauncher?>(nil)
        let killed = NIOLockedValueBox(false)
        var hooks = FanoutRun.Hooks()
        hooks.launcher = { l in launcher.withLockedValue { $0 = l } }
        hooks.events.result = { _, _, _, _ in
            // After the first result the worker is sent the next invocation; kill it while that runs.
            guard !killed.withLockedValue({ v in defer { v = true }; return v }) else { return }
            let pid = launcher.withLockedValue { $0?.runningPIDs.first }
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { if let pid { kill(pid, SIGKILL) } }
        }
        let report = try await FanoutRun.execute(s3: config, options: options, logger: logger, hooks: hooks).report
        let c = try #require(report.configs.first)
        #expect(killed.withLockedValue { $0 })
        #expect(c.reassigned >= 1)
        #expect(c.invocations.count == 3)
        #expect(c.calls?.count == 180, "calls of the killed invocation must not be counted twice")
        #expect(c.calls?.errors == 0)
    }

    @Test(.enabled(if: cgroups != nil, cgroupsReason))
    func coldRunsStartAWorkerPerInvocationAndRecordInit() async throws {
        let config = try await seeded("fb-it-run", objects: 20)
        var options = try localOptions("c", bucket: "fb-it-run", sizes: [512], strategies: [.serial], invocations: 3)
        options.cold = true
        // The worker each result came from (a cold worker exits right after its result, so
        // sampling running processes at that moment was a race).
        let workers = NIOLockedValueBox(Set<String>())
        var hooks = FanoutRun.Hooks()
        hooks.events.result = { _, _, _, worker in workers.withLockedValue { _ = $0.insert(worker) } }
        let report = try await FanoutRun.execute(s3: config, options: options, logger: logger, hooks: hooks).report
        let c = try #require(report.configs.first)
        #expect(c.invocations.count == 3)
        #expect(c.calls?.count == 60)
        #expect(c.reassigned == 0, "clean exits of cold workers are not deaths")
        let initMs = try #require(c.initMs, "cold invocations report an init duration")
        #expect(initMs > 0 && initMs < 30_000)
        #expect(report.plan.cold)
        #expect(workers.withLockedValue { $0.count } == 3, "each invocation ran in a fresh worker")
    }

    @Test func tooFewExternalWorkersEndTheWaitWithWhatToDo() async throws {
        let config = try await seeded("fb-it-ext", objects: 10)
        let options = try externalOptions("w", bucket: "fb-it-ext", expect: 2, wait: .seconds(1), token: "t",
                                          size: 128, strategies: [.serial], invocations: 1)
        let start = ContinuousClock.now
        do {
            _ = try await FanoutRun.execute(s3: config, options: options, logger: logger).report
            Issue.record("the run went on without its workers")
        } catch let error as RunError {
            #expect(error.kind == .workersMissing)
            #expect(error.context["found"] == "0" && error.context["expected"] == "2")
            #expect(error.userMessage.contains("--expect"), "says what to do")
        }
        #expect(ContinuousClock.now - start < .seconds(10), "the wait must end at its timeout")
    }

    /// External runs dispatch nothing until every expected worker is in: a size that started
    /// while others were still arriving would be measured on a busier host.
    @Test func externalRunsWaitForEveryExpectedWorkerBeforeDispatching() async throws {
        let config = try await seeded("fb-it-ext", objects: 10)
        let options = try externalOptions("h", bucket: "fb-it-ext", expect: 2, wait: .seconds(60), token: "hold-token",
                                          size: 1024, strategies: [.serial], invocations: 4)
        let joined = NIOLockedValueBox(0)
        let results = NIOLockedValueBox<[String]>([])
        var hooks = FanoutRun.Hooks()
        hooks.progress = { snapshot in joined.withLockedValue { $0 = max($0, snapshot.workers) } }
        hooks.events.result = { _, _, _, worker in results.withLockedValue { $0.append(worker) } }
        let (run, port) = try await startInBackground(options, config: config, hooks: hooks)
        let first = try spawnWorker("first", port: port, size: 1024, token: "hold-token", config: config)
        for _ in 0..<300 where joined.withLockedValue({ $0 }) < 1 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(joined.withLockedValue { $0 } == 1)
        try await Task.sleep(for: .seconds(2))
        #expect(results.withLockedValue { $0.isEmpty }, "work was dispatched before the second worker joined")
        let second = try spawnWorker("second", port: port, size: 1024, token: "hold-token", config: config)
        let report = try await run.value
        await reap(first)
        await reap(second)
        #expect(report.configs.first?.invocations.count == 4)
        #expect(results.withLockedValue { $0.count } == 4)
    }

    /// `docker stop` or a Kubernetes eviction: SIGTERM to a busy worker. It gives its invocation
    /// back at once ("worker stopping") and exits 0 within 5 s; the run re-queues the invocation
    /// on the other worker without waiting for --worker-silence, and every call is counted once.
    @Test func aWorkerStoppedMidInvocationHandsItBackAndExitsCleanly() async throws {
        var config = try await seeded("fb-it-term", objects: 40)
        // 40 serial calls behind a 50 ms RTT: an invocation takes about 2 s, long enough to stop one mid-way.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let proxy = LatencyProxy(options: .init(upstreamHost: config.endpoint.host, upstreamPort: config.endpoint.port ?? 443,
                                                profile: NetworkProfile(rttMs: 50), httpAware: false), logger: logger)
        let proxyServer = try await proxy.bind(host: "127.0.0.1", port: 0, group: group)
        config.endpoint = try S3Endpoint(parsing: "\(config.endpoint.scheme)://127.0.0.1:\(proxyServer.localAddress!.port!)")
        var options = try externalOptions("s", bucket: "fb-it-term", expect: 2, wait: .seconds(60), token: "term-token",
                                          size: 1024, strategies: [.serial], invocations: 3)
        let silence = Duration.seconds(30)
        options.heartbeatSilence = silence
        let joined = NIOLockedValueBox(0)
        var hooks = FanoutRun.Hooks()
        hooks.progress = { snapshot in joined.withLockedValue { $0 = max($0, snapshot.workers) } }
        let (run, port) = try await startInBackground(options, config: config, hooks: hooks)
        let stopped = try spawnWorker("stopped", port: port, size: 1024, token: "term-token", config: config)
        let other = try spawnWorker("other", port: port, size: 1024, token: "term-token", config: config)
        for _ in 0..<500 where joined.withLockedValue({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(joined.withLockedValue { $0 } == 2)
        try await Task.sleep(for: .milliseconds(500))  // both are a quarter into their first invocation
        let signalled = ContinuousClock.now
        kill(stopped, SIGTERM)
        let status = await reap(stopped)
        let exitedAfter = ContinuousClock.now - signalled
        let report = try await run.value
        let runTookAfterSignal = ContinuousClock.now - signalled
        await reap(other)
        try? await proxyServer.close()
        try? await group.shutdownGracefully()
        #expect(ProcessLauncher.exitStatus(status) == 0, "the stopped worker exits 0 (status \(ProcessLauncher.exitStatus(status)))")
        #expect(exitedAfter < .seconds(5), "\(exitedAfter)")
        let c = try #require(report.configs.first)
        #expect(c.invocations.count == 3 && c.invocations.failed == 0)
        #expect(c.calls?.count == 120, "every call counted once: the given-back invocation's calls are not")
        #expect(c.reassigned == 1)
        #expect(runTookAfterSignal < silence, "re-queued at once, not after --worker-silence: \(runTookAfterSignal)")
    }

    /// 9,000 keys of 990 bytes (S3 allows 1,024) in the default shard: about 9 MB of keys for one
    /// invocation, over the worker's 8 MiB line; they go in chunks, locally and to external workers.
    @Test(.enabled(if: cgroups != nil, cgroupsReason))
    func aShardOverTheLineLimitRunsEveryCallLocallyAndExternally() async throws {
        let config = try TestTarget.configuration(.https)
        let bucket = "fb-it-longkeys"
        // 990 bytes in segments of at most 255, as SeaweedFS stores them.
        let keys = (0..<9000).map { i in ["a", "b", "c"].map { String(repeating: $0, count: 250) + "/" }.joined() + String(format: "%0237d", i) }
        try await S3Client.withClient(configuration: config, transport: .async, maxConnections: 32) { client in
            _ = try await client.perform(.createBucket(bucket))
            let present = Set(try await client.listAll(bucket: bucket).objects.map(\.key))
            try await withThrowingTaskGroup(of: Void.self) { group in
                var missing = keys.filter { !present.contains($0) }.makeIterator()
                for _ in 0..<32 {
                    guard let k = missing.next() else { break }
                    group.addTask { _ = try await client.perform(.putObject(bucket: bucket, key: k, body: [1])) }
                }
                while try await group.next() != nil {
                    if let k = missing.next() { group.addTask { _ = try await client.perform(.putObject(bucket: bucket, key: k, body: [1])) } }
                }
            }
        }
        let local = try await FanoutRun.execute(s3: config, options: try localOptions("lk", bucket: bucket, sizes: [1024], strategies: [.async(32)],
                                                                                         invocations: 1), logger: logger).report
        let l = try #require(local.configs.first)
        #expect(l.invocations.count == 1 && l.invocations.failed == 0)
        #expect(l.calls?.count == 9000 && l.calls?.errors == 0)
        #expect(local.abandoned == nil)

        let options = try externalOptions("ek", bucket: bucket, expect: 1, wait: .seconds(60), token: "long-token",
                                          size: 1024, strategies: [.async(32)], invocations: 1)
        let (run, port) = try await startInBackground(options, config: config)
        let worker = try spawnWorker("long-1", port: port, size: 1024, token: "long-token", config: config)
        let external = try await run.value
        await reap(worker)
        let e = try #require(external.configs.first)
        #expect(e.invocations.count == 1 && e.calls?.count == 9000 && e.calls?.errors == 0)
    }

    @Test func garbageAndIntrudersAreCutOffWhileTheRunGoesOn() async throws {
        let config = try await seeded("fb-it-ext", objects: 10)
        var options = try externalOptions("e", bucket: "fb-it-ext", expect: 1, wait: .seconds(60), token: "right-token",
                                          size: 1024, strategies: [.async(4)], invocations: 2)
        options.maxLineBytes = 4096
        let (run, port) = try await startInBackground(options, config: config)

        // Garbage: a challenge comes, then an error line, then the connection closes.
        var lines = try RawClient.exchange(port: port, send: Array("this is not json\n".utf8))
        #expect(lines.first?.contains("\"type\":\"challenge\"") == true)
        #expect(lines.dropFirst().first?.contains("\"type\":\"error\"") == true)
        // An oversized line is refused before it ends.
        lines = try RawClient.exchange(port: port, send: Array(repeating: UInt8(ascii: "x"), count: 10_000))
        #expect(lines.contains { $0.contains("longer than 4096") })
        // Invalid UTF-8.
        lines = try RawClient.exchange(port: port, send: [0x7B, 0xFF, 0xFE, 0x7D, 0x0A])
        #expect(lines.contains { $0.contains("UTF-8") })
        // A wrong token gets a reject.
        let hello = Message.hello(Hello(workerId: "intruder", version: "x", sizeMb: 1024, limits: .none, auth: String(repeating: "0", count: 64)))
        lines = try RawClient.exchange(port: port, send: MessageCodec.encode(hello) + [0x0A])
        #expect(lines.contains { $0.contains("\"type\":\"reject\"") && $0.contains("authentication failed") })
        // A message out of order (a result before any hello).
        lines = try RawClient.exchange(port: port, send: Array("{\"type\":\"shutdown\"}\n".utf8))
        #expect(lines.contains { $0.contains("expected hello") })

        // Now a real worker with the right token: the run completes with exact counts.
        let worker = try spawnWorker("real-1", port: port, size: 1024, token: "right-token", config: config)
        let report = try await run.value
        let status = await reap(worker)
        let c = try #require(report.configs.first)
        #expect(c.invocations.count == 2)
        #expect(c.calls?.count == 20)
        #expect(c.calls?.errors == 0)
        #expect(status == 0, "the worker exits cleanly on shutdown")
    }
}

/// A bare TCP client: send bytes, read lines until the peer closes (or 5 s pass).
enum RawClient {
    static func connected(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw FanbenchError("connect failed") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// `rounds` GETs on one keep-alive connection; each exchange's latency in ms.
    static func timedExchanges(port: Int, rounds: Int, until marker: String, thinkMs: Double = 0) throws -> [Double] {
        let fd = try connected(port: port)
        defer { close(fd) }
        let request = Array("GET /b/k?acl= HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        var out: [Double] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        for _ in 0..<rounds {
            if thinkMs > 0 { usleep(useconds_t(Double.random(in: 0..<thinkMs) * 1000)) }
            let t0 = monotonicNanoseconds()
            _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var got: [UInt8] = []
            while !String(decoding: got, as: UTF8.self).contains(marker) {
                let n = receive(fd, &buffer)
                guard n > 0 else { throw FanbenchError("connection closed mid-response") }
                got += buffer[0..<n]
            }
            out.append(Double(monotonicNanoseconds() - t0) / 1e6)
        }
        return out
    }

    /// `recv` that goes on after a signal: with SO_RCVTIMEO set, Linux never restarts it, and a
    /// read ended so would look like the peer closing. (This process catches no signal today.)
    static func receive(_ fd: Int32, _ buffer: inout [UInt8]) -> Int {
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }

    /// One `\n`-terminated line from a blocking socket.
    static func readLine(_ fd: Int32) -> String? {
        var bytes: [UInt8] = []
        var byte: [UInt8] = [0]
        while receive(fd, &byte) == 1 {
            if byte[0] == 0x0A { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte[0])
        }
        return nil
    }

    /// Sends one protocol message as a line.
    static func sendLine(_ fd: Int32, _ message: Message) {
        let line = MessageCodec.encode(message) + [0x0A]
        _ = line.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    static func exchange(port: Int, send bytes: [UInt8]) throws -> [String] {
        let fd = try connected(port: port)
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = receive(fd, &buffer)
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
