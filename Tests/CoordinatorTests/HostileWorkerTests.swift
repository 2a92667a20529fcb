import FanbenchBase
import FanbenchCoordinator
import FanbenchProtocol
import FanbenchReport
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing

/// Workers that hold the token but lie: each gets an `error`, is dropped, and its invocation
/// goes back to the queue, while the run's aggregates stay exactly as they were. Real TCP on
/// loopback against the coordinator's server; after each lie an honest worker finishes the run,
/// so the test also shows the re-queued invocation is counted once.
@Suite(.timeLimit(.minutes(2)))
struct HostileWorkerTests {
    static let token = "hostile-test-token"
    static let keys = ["k1", "k2", "k3"]

    /// A server for a 1,024 MB serial plan of `invocations` invocations of the three keys.
    func withServer(invocations: Int = 1, maxLineBytes: Int = 1 << 20,
                    _ body: (Int, RunCoordinator) async throws -> Void) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let plan = try RunPlan.make(sizes: [try LambdaSize(memoryMB: 1024)], strategies: [.serial], invocations: invocations,
                                    keys: Self.keys, shardSize: nil)
        let target = TargetSpec(endpoint: "http://s3", bucket: "b", region: "us-east-1", pathStyle: true)
        let coordinator = RunCoordinator(plan: plan, maxAttempts: 5, logger: logger) { spec in
            Assign(invocationId: spec.id, op: "head-object", strategy: "serial", concurrency: 1, keys: spec.keys, list: nil, target: target)
        }
        var configuration = CoordinatorServer.Configuration(token: Self.token)
        configuration.maxLineBytes = maxLineBytes
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await CoordinatorServer.bind(HostPort(host: "127.0.0.1", port: 0), configuration: configuration,
                                                      coordinator: coordinator, group: group, logger: logger)
        let serving = Task { try await server.run() }
        defer { serving.cancel() }
        try await body(server.port, coordinator)
        serving.cancel()
        try? await serving.value
        try await group.shutdownGracefully()
    }

    /// One worker's connection, message by message.
    final class Worker {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

        init(port: Int, id: String) async throws {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { ch in MessageStream.configure(ch, maxLineBytes: 1 << 20) }
            inbound = channel.inbound.makeAsyncIterator()
            outbound = channel.outbound
            guard case .challenge(let challenge)? = try await MessageStream.next(&inbound) else { throw TestFailure("no challenge") }
            let hello = Hello(protocol: ProtocolVersion.current, workerId: id, version: "test", sizeMb: 1024,
                              limits: WorkerLimits(cpu: 0.58, memoryBytes: 1 << 30, cores: 2, cgroup: "v1"),
                              auth: TokenAuth.answer(token: HostileWorkerTests.token, nonce: challenge.nonce))
            try await send(.hello(hello))
            guard case .welcome? = try await MessageStream.next(&inbound) else { throw TestFailure("no welcome") }
        }

        func send(_ message: Message) async throws { try await send(line: String(decoding: MessageCodec.encode(message), as: UTF8.self)) }
        func send(line: String) async throws { try await outbound.write(ByteBuffer(string: line + "\n")) }

        /// The next assignment's invocation id.
        func assignment() async throws -> String {
            while let m = try await MessageStream.next(&inbound) {
                if case .assign(let a) = m { return a.invocationId }
            }
            throw TestFailure("closed before an assignment")
        }

        /// What the coordinator says until it closes the connection: the error's reason.
        func refusal() async throws -> String? {
            var reason: String?
            do {
                while let m = try await MessageStream.next(&inbound) {
                    if case .error(let e) = m { reason = e.reason }
                }
            } catch {}
            return reason
        }

        func close() async { try? await channel.channel.close() }
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// An honest result for `id`: three calls, one per key.
    static func result(_ id: String) -> InvocationResult {
        InvocationResult(invocationId: id, durationMs: 12.5, calls: 3, errors: [:], retries: 0,
                         histogram: HistogramSnapshot(counts: [[2000, 1], [3000, 2]]), maxMemoryBytes: 50 << 20,
                         cpuMs: 4, throttledMs: 0)
    }

    /// Everything a configuration's aggregate counts, to compare before and after.
    static func figures(_ a: ConfigAggregate) -> String {
        "\(a.invocations) inv, \(a.durationsMs) ms, \(a.calls.calls) calls, \(a.calls.latency.totalCount) timed, \(a.calls.retries) retries, "
            + "\(a.calls.errors) errors, \(a.maxMemoryBytes) B, \(a.cpuMs) cpu, \(a.throttledMs) throttled, \(a.billedMs) billed, \(a.initMs) init"
    }

    /// A lying worker takes the first invocation and sends `lie` (a line) for it; the refusal must
    /// contain `expect`; nothing is counted; then an honest worker finishes and is counted once.
    func expectRefused(_ expect: String, maxLineBytes: Int = 1 << 20, lie: (String) throws -> String) async throws {
        try await withServer(maxLineBytes: maxLineBytes) { port, coordinator in
            let before = Self.figures(await coordinator.aggregates[0])
            let liar = try await Worker(port: port, id: "liar")
            let invocation = try await liar.assignment()
            try await liar.send(line: try lie(invocation))
            let reason = try await liar.refusal()
            #expect(reason?.contains(expect) == true, "refusal: \(reason ?? "none")")
            try await coordinator.waitUntil { $0.workerCount == 0 }
            #expect(Self.figures(await coordinator.aggregates[0]) == before, "the aggregates moved")
            #expect(await coordinator.aggregates[0].reassigned == 1, "its invocation went back to the queue")
            #expect(await coordinator.isDone == false)

            let honest = try await Worker(port: port, id: "honest")
            #expect(try await honest.assignment() == invocation)
            try await honest.send(.result(Self.result(invocation)))
            try await coordinator.waitUntil { $0.isDone }
            let after = await coordinator.aggregates[0]
            #expect(after.invocations == 1 && after.calls.calls == 3 && after.calls.latency.totalCount == 3)
            await honest.close()
        }
    }

    func encoded(_ r: InvocationResult) -> String { String(decoding: MessageCodec.encode(.result(r)), as: UTF8.self) }

    @Test func aResultForAnInvocationNotItsOwn() async throws {
        try await expectRefused("not assigned to this worker") { _ in encoded(Self.result("run-x-0-0-0")) }
    }

    @Test func aSecondResultForOneAlreadyCounted() async throws {
        try await withServer(invocations: 2) { port, coordinator in
            let worker = try await Worker(port: port, id: "twice")
            let first = try await worker.assignment()
            try await worker.send(.result(Self.result(first)))
            let second = try await worker.assignment()
            #expect(second != first)
            let counted = Self.figures(await coordinator.aggregates[0])
            try await worker.send(.result(Self.result(first)))
            #expect(try await worker.refusal()?.contains("a second result for invocation \(first)") == true)
            try await coordinator.waitUntil { $0.workerCount == 0 }
            #expect(Self.figures(await coordinator.aggregates[0]) == counted)
            #expect(await coordinator.aggregates[0].reassigned == 1, "the invocation it held went back")
            let honest = try await Worker(port: port, id: "honest")
            let again = try await honest.assignment()
            #expect(again == second)
            try await honest.send(.result(Self.result(again)))
            try await coordinator.waitUntil { $0.isDone }
            #expect(await coordinator.aggregates[0].invocations == 2)
            await honest.close()
        }
    }

    /// A figure no honest worker sends, and what its refusal names.
    struct Lie: Sendable, CustomTestStringConvertible {
        var name: String
        var expect: String
        var apply: @Sendable (inout InvocationResult) -> Void
        init(_ name: String, _ expect: String, _ apply: @escaping @Sendable (inout InvocationResult) -> Void) {
            self.name = name
            self.expect = expect
            self.apply = apply
        }
        var testDescription: String { name }
    }

    static let lies: [Lie] = [
        Lie("negative", "duration_ms is negative") { $0.durationMs = -5 },
        Lie("longer than it was open", "the invocation was open") { $0.durationMs = 86_400_000 },
        Lie("negative cpu", "cpu_ms is negative") { $0.cpuMs = -1 },
        Lie("a listing longer than the invocation", "list_ms of 5000") { $0.listMs = 5000 },
        Lie("an absurd init", "init_ms of 10000000000.0 is more than the 3600000 possible") { $0.initMs = 1e10 },
        Lie("negative calls", "calls is negative") { $0.calls = -3 },
        Lie("negative retries", "retries is negative") { $0.retries = -1 },
        Lie("absurd retries", "retries for 3 calls") { $0.retries = 1_000_000 },
        Lie("absurd memory", "max_memory_bytes") { $0.maxMemoryBytes = .max },
        Lie("negative error count", "counted -2 times") { $0.errors = ["SlowDown": -2] },
        Lie("more errors than calls", "7 errors for 3 calls") { $0.errors = ["SlowDown": 7] },
        Lie("calls the keys disagree with", "2 calls for an invocation of 3 keys") { $0.calls = 2; $0.histogram.counts = [[2000, 2]] },
        Lie("a histogram that does not count the calls", "a histogram of 1 calls for 3 calls") { $0.histogram.counts = [[2000, 1]] },
        Lie("an absurd latency", "a call latency of 4000000000000") { $0.histogram.counts = [[2000, 1], [4_000_000_000_000, 2]] },
        Lie("a huge bucket count", "more than 10000000 calls") { $0.histogram.counts = [[2000, .max]] },
        Lie("buckets out of order", "not ascending") { $0.histogram.counts = [[3000, 2], [2000, 1]] },
        Lie("a bucket of three numbers", "not [value, count]") { $0.histogram.counts = [[2000, 1, 9], [3000, 2]] },
        Lie("another unit", "unit ns") { $0.histogram.unit = "ns" },
    ]

    @Test(arguments: lies)
    func anImpossibleFigure(_ lie: Lie) async throws {
        try await expectRefused(lie.expect) { id in
            var r = Self.result(id)
            lie.apply(&r)
            return encoded(r)
        }
    }

    @Test func numbersJSONCannotHold() async throws {
        // NaN is not JSON, and 1e400 is no Double: the line is refused as it stands.
        try await expectRefused("not valid JSON") { id in try replacing("\"duration_ms\":12.5", with: "\"duration_ms\":NaN", in: id) }
        try await expectRefused("result: ") { id in try replacing("\"duration_ms\":12.5", with: "\"duration_ms\":1e400", in: id) }
    }

    func replacing(_ field: String, with lie: String, in id: String) throws -> String {
        let line = encoded(Self.result(id))
        guard line.contains(field) else { throw TestFailure("\(field) is not in \(line)") }
        return line.replacingOccurrences(of: field, with: lie)
    }

    @Test func aHistogramOfTooManyBuckets() async throws {
        try await expectRefused("a histogram of 60000 buckets", maxLineBytes: 4 << 20) { id in
            var r = Self.result(id)
            r.histogram.counts = (1...60_000).map { [UInt64($0), 1] }
            r.calls = 3
            return encoded(r)
        }
    }

    @Test func aHundredMegabyteResultLine() async throws {
        // The default line limit (8 MiB) refuses it without reading it to the end; the rest of
        // the 100 MB never needs to arrive.
        try await withServer(maxLineBytes: defaultMaxLineBytes) { port, coordinator in
            let before = Self.figures(await coordinator.aggregates[0])
            let liar = try await Worker(port: port, id: "flood")
            let invocation = try await liar.assignment()
            let chunk = String(repeating: "9", count: 1 << 20)
            try await liar.outbound.write(ByteBuffer(string: "{\"type\":\"result\",\"invocation_id\":\"\(invocation)\",\"duration_ms\":"))
            var sent = 0
            do {
                for _ in 0..<100 {
                    try await liar.outbound.write(ByteBuffer(string: chunk))
                    sent += 1
                }
            } catch {}
            // The server may close before reading the rest, and its reset can swallow the error
            // line on the way back; when the line arrives it names the limit.
            if let reason = try await liar.refusal() { #expect(reason.contains("longer than \(defaultMaxLineBytes)"), "\(reason)") }
            #expect(sent < 100, "the coordinator read on to the end of a 100 MB line")
            try await coordinator.waitUntil { $0.workerCount == 0 }
            #expect(Self.figures(await coordinator.aggregates[0]) == before)
            #expect(await coordinator.aggregates[0].reassigned == 1)
        }
    }

    @Test func checksAnHonestWorkersFiguresPass() {
        // The bounds are the ones an honest worker cannot reach: its own kind of result passes,
        // including a call at the histogram's very top and a cold start's init.
        var r = Self.result("i")
        r.initMs = 900
        r.histogram.counts = [[2000, 2], [ResultCheck.maxLatencyUs, 1]]
        let limits = WorkerLimits(cpu: 0.58, memoryBytes: 1 << 30, cores: 2, cgroup: "v1")
        #expect(ResultCheck.problem(with: r, keys: 3, builtIn: true, maxAttempts: 3, openMs: 12, limits: limits) == nil)
        var recorder = CallRecorder()
        recorder.record(nanoseconds: 3_600_000_000_000, retries: 0)  // an hour: clamped, still counted
        #expect(ResultCheck.histogramProblem(recorder.snapshot(), calls: 1) == nil)
        // A function that does not report its calls sends none; its figures still must be true.
        r.callsMeasured = false
        r.calls = 0
        r.histogram.counts = []
        #expect(ResultCheck.problem(with: r, keys: 3, builtIn: false, maxAttempts: 3, openMs: 12, limits: limits) == nil)
        r.durationMs = .nan
        #expect(ResultCheck.problem(with: r, keys: 3, builtIn: false, maxAttempts: 3, openMs: 12, limits: limits)?.contains("nan") == true)
    }
}
