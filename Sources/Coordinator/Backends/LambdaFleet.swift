import FanbenchBase
import FanbenchLambda
import FanbenchProtocol
import FanbenchReport
import FanbenchWorker
import Foundation
import Logging
import NIOConcurrencyHelpers
import Synchronization

/// The Lambda backend (`fanbench run --workers lambda`): each invocation is a synchronous Invoke
/// of `PREFIX-<MB>` (a plan's function: `PREFIX-NAME-<MB>`) whose payload is the assignment as a
/// `fanbench.event/v1` and whose answer is the worker's `InvocationResult`. The REPORT line of
/// the log tail gives Duration, Billed Duration, Init Duration and Max Memory Used, as Lambda
/// measured them. Each size gets `maxConcurrency` slots the scheduler sees as workers; one
/// limiter caps the Invokes in flight over all sizes. 429 and 5xx are retried with backoff and
/// counted; what retrying cannot mend (no such function, refused credentials, a function that is
/// not a fanbench worker) stops the run with one line.
package final class LambdaFleet: Sendable {
    package struct Options: Sendable {
        package var client: LambdaClient
        package var functionPrefix: String
        package var maxConcurrency = 10
        /// Retries of one Invoke after 429 or a 5xx before the attempt counts as failed.
        package var maxRetries = 8
        package var baseBackoff: Duration = .milliseconds(200)
        package var realLambda: Bool

        package init(client: LambdaClient, functionPrefix: String, realLambda: Bool) {
            self.client = client
            self.functionPrefix = functionPrefix
            self.realLambda = realLambda
        }
    }

    package let options: Options
    private let coordinator: RunCoordinator
    private let logger: Logger
    private let limiter: Limiter
    private let counters = NIOLockedValueBox((throttled: 0, serverErrors: 0))
    private let tasks = NIOLockedValueBox([Int: Task<Void, Never>]())
    private let nextTask = Atomic<Int>(0)
    private let fatal: AsyncStream<String>.Continuation
    /// The first thing that stops the run, when one happens.
    package let fatalErrors: AsyncStream<String>

    package init(options: Options, coordinator: RunCoordinator, logger: Logger) {
        self.options = options
        self.coordinator = coordinator
        self.logger = logger
        limiter = Limiter(permits: options.maxConcurrency)
        (fatalErrors, fatal) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(1))
    }

    package var throttled: Int { counters.withLockedValue { $0.throttled } }
    package var serverErrors: Int { counters.withLockedValue { $0.serverErrors } }

    /// The function an invocation of `strategy` at `sizeMB` calls.
    package static func functionName(prefix: String, strategy: String, function: String?, sizeMB: Int) -> String {
        if strategy == "function", let function { return LambdaDeployer.functionName(prefix: prefix + "-" + function, sizeMB: sizeMB) }
        return LambdaDeployer.functionName(prefix: prefix, sizeMB: sizeMB)
    }

    /// Registers the slots of every size with the coordinator; dispatch starts as they join.
    package func start(sizes: [LambdaSize]) async {
        for size in sizes {
            let limits = WorkerLimits(cpu: size.cpu, memoryBytes: size.memoryBytes, cores: nil, cgroup: "lambda")
            for slot in 0..<options.maxConcurrency {
                let id = "lambda-\(size.memoryMB)-\(slot + 1)"
                let link = LambdaLink(fleet: self, worker: id, size: size)
                if let refused = await coordinator.register(id, sizeMB: size.memoryMB, limits: limits, singleUse: false,
                                                            maxLineBytes: 1 << 30, link: link) {
                    logger.warning("a Lambda slot was refused", metadata: ["slot": "\(id)", "reason": "\(refused)"])
                }
            }
        }
    }

    /// Stops the Invokes still running (the run is over or stopped).
    package func shutdown() async {
        fatal.finish()
        let running = tasks.withLockedValue { t in
            defer { t.removeAll() }
            return Array(t.values)
        }
        for t in running { t.cancel() }
        for t in running { await t.value }
    }

    fileprivate func dispatch(_ assign: Assign, worker: String, size: LambdaSize) {
        let key = nextTask.wrappingAdd(1, ordering: .relaxed).oldValue
        let task = Task {
            await self.invoke(assign, worker: worker, size: size)
            _ = self.tasks.withLockedValue { $0.removeValue(forKey: key) }
        }
        tasks.withLockedValue { $0[key] = task }
    }

    private func stop(_ message: String) {
        fatal.yield(message)
    }

    private func invoke(_ assign: Assign, worker: String, size: LambdaSize) async {
        let name = Self.functionName(prefix: options.functionPrefix, strategy: assign.strategy, function: assign.function?.name,
                                     sizeMB: size.memoryMB)
        let payload: [UInt8]
        do {
            payload = Array(try JSONCoding.encoder().encode(FunctionEvent(assign)))
        } catch {
            return stop("cannot encode the event for \(name): \(error)")
        }
        // Heartbeats while it waits for a slot and for Lambda: the run's silence check is for lost workers, not slow functions.
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(2))
                _ = await coordinator.receive(.progress(Progress(invocationId: assign.invocationId, callsDone: 0)), from: worker)
            }
        }
        defer { heartbeat.cancel() }
        guard await limiter.acquire() else { return }
        defer { Task { await limiter.release() } }

        var attempt = 0
        let response: LambdaInvokeResponse
        while true {
            if Task.isCancelled { return }
            do {
                response = try await options.client.invoke(name, payload: payload)
                break
            } catch let e as LambdaAPIError {
                guard e.isRetryable else { return stop(Self.explain(e, function: name, prefix: options.functionPrefix, sizeMB: size.memoryMB)) }
                counters.withLockedValue { if e.status == 429 { $0.throttled += 1 } else { $0.serverErrors += 1 } }
                attempt += 1
                if attempt > options.maxRetries {
                    _ = await coordinator.receive(.failed(Failed(invocationId: assign.invocationId,
                                                                 reason: "Invoke \(name) failed \(attempt) times, last: \(e.status) \(e.type): \(e.message)")), from: worker)
                    return
                }
                // Full jitter over an exponential backoff, capped at 10 s.
                let cap = min(Double(options.baseBackoff.nanoseconds) * pow(2, Double(attempt - 1)), 10e9)
                try? await Task.sleep(for: .nanoseconds(Int64(Double.random(in: cap / 2...cap))))
            } catch {
                return stop("Invoke \(name) failed: \(error)")
            }
        }
        switch Self.interpret(response, assign: assign, function: name, prefix: options.functionPrefix, size: size) {
        case .success(let result):
            // A function's answer is untrusted too: a result that cannot be true is not counted,
            // and the invocation is tried again (the attempt counts), the slot kept.
            if let refused = await coordinator.receive(.result(result), from: worker) {
                _ = await coordinator.receive(.failed(Failed(invocationId: assign.invocationId, reason: "its result was refused: \(refused)")), from: worker)
            }
        case .failure(let stopping): stop(stopping.message)
        }
    }

    /// Why an answer stops the run (one line with what to do).
    package struct Stop: Error, Sendable { package var message: String }

    /// An Invoke's answer as the invocation's result: the worker's figures, Lambda's REPORT line
    /// over them (duration, init, memory, and the billed duration, which only the REPORT line gives),
    /// or the function's error; or why the run cannot go on (not a fanbench worker, another size).
    package static func interpret(_ response: LambdaInvokeResponse, assign: Assign, function name: String, prefix: String,
                                  size: LambdaSize) -> Result<InvocationResult, Stop> {
        let report = response.logTail.flatMap { LambdaLogReport.parse(log: $0) }
        if let mb = report?.memorySizeMB, mb != size.memoryMB {
            // Its figures would be another size's.
            return .failure(Stop(message: "function \(name) runs with \(mb) MB, not the \(size.memoryMB) MB it is named for: run fanbench lambda deploy --name-prefix \(prefix) --sizes \(size.memoryMB) to set it back"))
        }
        var result: InvocationResult
        if let functionError = response.functionError {
            result = InvocationResult(
                invocationId: assign.invocationId, durationMs: 0, calls: 0, errors: [:], retries: 0, histogram: HistogramSnapshot(counts: []),
                maxMemoryBytes: 0, cpuMs: 0, throttledMs: 0, callsMeasured: false,
                functionError: FunctionError(type: RuntimeAPIServer.errorType(in: response.payload) ?? functionError,
                                             message: RuntimeAPIServer.errorMessage(in: response.payload) ?? functionError))
        } else if let reported = try? JSONCoding.decoder().decode(InvocationResult.self, from: Data(response.payload)) {
            result = reported
            result.invocationId = assign.invocationId
        } else if assign.strategy == "function" {
            // A plan's own function answers with whatever it answers: its calls are n/a.
            result = InvocationResult(invocationId: assign.invocationId, durationMs: 0, calls: 0, errors: [:], retries: 0,
                                      histogram: HistogramSnapshot(counts: []), maxMemoryBytes: 0, cpuMs: 0, throttledMs: 0, callsMeasured: false)
        } else {
            let echoed = (try? JSONCoding.decoder().decode(FunctionEvent.self, from: Data(response.payload))) != nil
            let shown = String(decoding: response.payload.prefix(80), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
            return .failure(Stop(message: "function \(name) is not a fanbench worker: it answered \(echoed ? "with the event it was sent (as moto's Lambda does)" : "'\(shown)'") instead of a fanbench result; deploy the worker with fanbench lambda deploy --name-prefix \(prefix) --sizes \(size.memoryMB), or rehearse with fanbench lambda serve"))
        }
        // What Lambda billed comes from its REPORT line only, never from the function's own answer.
        result.billedMs = report?.billedDurationMs
        if let report {
            result.durationMs = report.durationMs
            result.initMs = report.initDurationMs
            if let mb = report.maxMemoryUsedMB { result.maxMemoryBytes = Int64(mb * 1_048_576) }
        }
        return .success(result)
    }

    /// What to do about an error retrying cannot mend.
    static func explain(_ e: LambdaAPIError, function: String, prefix: String, sizeMB: Int) -> String {
        switch (e.status, e.type) {
        case (404, _), (_, "ResourceNotFoundException"):
            return "function \(function) does not exist (\(e.type)): deploy it with fanbench lambda deploy --name-prefix \(prefix) --sizes \(sizeMB) --role ARN, or serve it locally with fanbench lambda serve --name-prefix \(prefix) --sizes \(sizeMB)"
        case (413, _), (_, "RequestTooLargeException"):
            return "the invocation's payload is over Lambda's 6 MB Invoke limit (\(e.type)): lower --shard-size"
        case (401, _), (403, _):
            return "Lambda refused to invoke \(function): \(e.status) \(e.type): \(e.message); check the credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID) and that they may lambda:InvokeFunction"
        default:
            return "Invoke \(function) failed: \(e.status) \(e.type): \(e.message)"
        }
    }
}

/// A slot of the fleet as the coordinator sees a worker: an assignment sent to it is an Invoke.
struct LambdaLink: WorkerLink {
    let fleet: LambdaFleet
    let worker: String
    let size: LambdaSize

    func send(_ message: Message) async throws {
        if case .assign(let assign) = message { fleet.dispatch(assign, worker: worker, size: size) }
    }

    func send(_ messages: [Message]) async throws {
        for m in messages { try await send(m) }
    }

    func close() {}
}

/// At most `permits` holders at once; waiters are served in order.
actor Limiter {
    private var available: Int
    private var waiters: [CheckedContinuation<Bool, Never>] = []

    init(permits: Int) { available = permits }

    /// False when the task was cancelled while waiting.
    func acquire() async -> Bool {
        if available > 0 {
            available -= 1
            return true
        }
        return await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if !waiters.isEmpty {
            waiters.removeFirst().resume(returning: true)
        } else {
            available += 1
        }
    }
}
