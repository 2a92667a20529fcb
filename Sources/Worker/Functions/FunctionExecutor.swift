import FanbenchBase
import FanbenchProtocol
import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// Runs `function:NAME` invocations as Lambda runs a function (DESIGN.md, Functions): the
/// handler's own process — any language, unmodified — spawned inside this worker's cgroup and
/// served the Runtime API on loopback. A warm sandbox is kept across invocations of the same
/// function, as a warm Lambda keeps its execution environment; a runtime that died, timed out
/// or failed init is replaced by a cold one on the next invocation. Each failure carries
/// Lambda's name for it and counts as the invocation's error, not as a lost invocation.
package actor FunctionExecutor: InvocationExecutor {
    package struct Options: Sendable {
        /// The size this worker stands for (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, the REPORT line).
        package var sizeMB: Int
        /// Where each function's log goes (`NAME.log`).
        package var logDirectory: String
        /// The worker's environment: S3 credentials and PATH are passed on from it, nothing else.
        package var environment: [String: String]

        /// A cgroup of its own for the sandbox (`fanbench lambda serve`), instead of a child of the worker's.
        package var sandboxGroup: SandboxMeter.Group?
        /// One emulated vCPU, µs per 100 ms: the handler's process is paced to it (`VCPUPacer`;
        /// a profile's vCPU slower than a host core, above one vCPU of quota; nil: unpaced).
        package var vcpuQuotaMicros: Int?
        /// The init phase's CPU quota as a multiple of the size's (`InitCPUBoost`; 1: none).
        package var initCPUMultiplier: Double = 1
        /// CPU µs the function's quota is charged each time one of its threads blocks (`BlockCharge`; 0: none).
        package var blockCostMicros: Double = 0
        /// At most this many blocks charged per ms of the function's own CPU (`BlockCharge`; 0: every block).
        package var blocksPerCPUMs: Double = 0
        /// A live CPU scale's quotas (`LiveQuota`): the init boost and the pacer write through it.
        package var liveQuota: LiveQuota?

        package init(sizeMB: Int, logDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                     sandboxGroup: SandboxMeter.Group? = nil) {
            self.sizeMB = sizeMB
            self.logDirectory = logDirectory
            self.environment = environment
            self.sandboxGroup = sandboxGroup
        }
    }

    /// One invocation as Lambda's service sees it: the handler's answer (or Lambda's error) and
    /// what the REPORT line says.
    package struct Invocation: Sendable {
        package var requestId: String
        package var response: Result<[UInt8], FunctionError>
        package var durationMs: Double
        package var initMs: Double?
        package var peakBytes: Int64
        package var cpuNs: UInt64
        package var throttledMs: Double
        /// The invocation's log as CloudWatch would hold it (its last 4 KiB): handler output, END, REPORT.
        package var log: String
    }

    private struct Sandbox {
        var definition: FunctionDefinition
        var pid: pid_t
        var generation: Int
        var exited = false
        /// Signalled when the runtime's output pipe is drained.
        var output: DispatchSemaphore
    }

    private let options: Options
    private let cgroup: CgroupReader
    private var server: RuntimeAPIServer?
    private var meter: SandboxMeter?
    private var sandbox: Sandbox?
    private var generation = 0
    private var logs: [String: FunctionLog] = [:]
    private let throttle: CgroupReader.ThrottleSource?
    private let encoder = JSONCoding.encoder()
    private let decoder = JSONCoding.decoder()
    private let pacer: VCPUPacer?
    private let initBoost: InitCPUBoost?
    private let blockCharge: BlockCharge?

    package init(options: Options, cgroup: CgroupReader = CgroupReader()) {
        self.options = options
        self.cgroup = cgroup
        throttle = cgroup.throttleSource()
        pacer = options.vcpuQuotaMicros.flatMap { VCPUPacer(reader: cgroup, quotaMicros: $0, live: options.liveQuota) }
        blockCharge = BlockCharge(costMicros: options.blockCostMicros, capPerCPUMs: options.blocksPerCPUMs)
        initBoost = options.initCPUMultiplier > 1
            ? InitCPUBoost(reader: cgroup, multiplier: options.initCPUMultiplier,
                           cores: cgroup.limits().cores ?? ProcessInfo.processInfo.activeProcessorCount, live: options.liveQuota)
            : nil
    }

    private func throttledMs() -> Double { throttle?.throttledMs() ?? 0 }

    private func log(_ name: String) -> FunctionLog {
        if let l = logs[name] { return l }
        let l = FunctionLog(path: options.logDirectory + "/" + name + ".log")
        logs[name] = l
        return l
    }

    package func run(_ assign: Assign, receivedNs: UInt64, progress: NIOLockedValueBox<Int>) async -> Message {
        guard let definition = assign.function else {
            return .failed(Failed(invocationId: assign.invocationId, reason: "a function invocation came without its function's definition"))
        }
        let payload = Array((try? encoder.encode(FunctionEvent(assign))) ?? Data("{}".utf8))
        let invocation: Invocation
        switch await invoke(definition, payload: payload, target: assign.target) {
        case .failure(let failed):
            return .failed(Failed(invocationId: assign.invocationId, reason: failed.reason))
        case .success(let i):
            invocation = i
        }
        var r = InvocationResult(
            invocationId: assign.invocationId, durationMs: invocation.durationMs, initMs: invocation.initMs, calls: 0, errors: [:],
            retries: 0, histogram: HistogramSnapshot(counts: []), maxMemoryBytes: invocation.peakBytes,
            cpuMs: Double(invocation.cpuNs) / 1e6, throttledMs: invocation.throttledMs, callsMeasured: false, functionError: nil)
        switch invocation.response {
        case .failure(let error):
            r.functionError = error
        case .success(let body):
            // fanbench's own bootstrap answers with its call-level figures: keep them.
            if let reported = try? decoder.decode(InvocationResult.self, from: Data(body)) {
                r.calls = reported.calls
                r.errors = reported.errors
                r.retries = reported.retries
                r.histogram = reported.histogram
                r.listMs = reported.listMs
                r.callsMeasured = reported.callsMeasured ?? true
                progress.withLockedValue { $0 = reported.calls }
            }
        }
        return .result(r)
    }

    package struct InvokeFailure: Error, Sendable {
        package var reason: String
    }

    /// Invokes `definition` with `payload` as its event, in its warm sandbox or a cold one;
    /// fails only when there was no way to run it (not when the function failed).
    package func invoke(_ definition: FunctionDefinition, payload: [UInt8], target: TargetSpec) async -> Result<Invocation, InvokeFailure> {
        let server: RuntimeAPIServer
        do {
            server = try await apiServer()
        } catch {
            return .failure(InvokeFailure(reason: "cannot serve the Runtime API on loopback: \(error)"))
        }
        let meter = self.meter ?? (options.sandboxGroup.map(SandboxMeter.init(group:)) ?? SandboxMeter(reader: cgroup, name: "fanbench-sandbox-\(getpid())"))
        self.meter = meter
        let log = self.log(definition.name)
        let throttled0 = throttledMs()
        log.beginCapture()

        // A cold start when there is no live sandbox for this function.
        var initMs: Double?
        /// Starts a sandbox: its Init Duration, or on an init failure the invocation (Lambda's init error).
        func coldStart() async -> (initMs: Double?, failed: Invocation?) {
            await stopSandbox()
            let started = monotonicNanoseconds()
            initBoost?.begin()
            let outcome = await startSandbox(definition, target: target, server: server, meter: meter, log: log)
            initBoost?.end()
            switch outcome {
            case .success(let readyAt):
                return (Double(readyAt &- started) / 1e6, nil)
            case .failure(let error):
                let elapsed = Double(monotonicNanoseconds() &- started) / 1e6
                let peak = sandbox.map { meter.peakBytes(pid: $0.pid) } ?? 0
                await stopSandbox()
                let id = UUID().uuidString.lowercased()
                log.line("INIT_REPORT Init Duration: \(Self.ms(elapsed)) ms\tPhase: init\tStatus: error\tError Type: \(error.type)")
                writeReport(log, id: id, durationMs: 0, initMs: elapsed, peak: peak, error: error)
                return (nil, Invocation(requestId: id, response: .failure(error), durationMs: 0, initMs: elapsed,
                                        peakBytes: peak, cpuNs: 0, throttledMs: max(0, throttledMs() - throttled0), log: log.captured()))
            }
        }
        if sandbox?.definition != definition || sandbox?.exited != false {
            let started = await coldStart()
            if let failed = started.failed { return .success(failed) }
            initMs = started.initMs
        }
        guard var current = sandbox else { return .failure(InvokeFailure(reason: "the sandbox vanished")) }

        let id = UUID().uuidString.lowercased()
        let timeout = Duration.milliseconds(Int64(definition.timeoutS * 1000))
        var offered = ContinuousClock.now
        let event = RuntimeEvent(
            id: id, body: payload,
            deadlineMs: Int64(Date().timeIntervalSince1970 * 1000) + Int64(definition.timeoutS * 1000),
            functionArn: "arn:aws:lambda:\(target.region):000000000000:function:\(definition.name)",
            traceId: Self.traceID())
        var cpu0 = meter.cpuNanoseconds(pid: current.pid)
        let oom0 = meter.oomKills() ?? 0
        log.line("START RequestId: \(id) Version: $LATEST")
        var handedOut = monotonicNanoseconds()
        server.offer(event)

        var outcome: Result<[UInt8], FunctionError>?
        var endedAt = handedOut
        while outcome == nil {
            guard let signal = await server.signals.receive(until: offered + timeout) else {
                endedAt = monotonicNanoseconds()
                handedOut = server.handedOutAt(id) ?? handedOut
                outcome = .failure(FunctionError(type: "Sandbox.Timedout", message: "Task timed out after \(String(format: "%.2f", definition.timeoutS)) seconds"))
                await stopSandbox()
                break
            }
            switch signal {
            case .response(let i, let body, let out, let at) where i == id:
                (handedOut, endedAt) = (out, at)
                outcome = .success(body)
            case .error(let i, let type, let body, let out, let at) where i == id:
                (handedOut, endedAt) = (out, at)
                outcome = .failure(FunctionError(type: type, message: RuntimeAPIServer.errorMessage(in: body) ?? type))
            case .exited(let g, _, _, _) where g == current.generation && server.handedOutAt(id) == nil:
                // The runtime went before it took the event (it exited after its last answer, as
                // a runtime may between events): the event was never delivered, so a new runtime
                // gets it, cold, as on Lambda — the invocation does not fail for it.
                sandbox?.exited = true
                let started = await coldStart()
                if let failed = started.failed { return .success(failed) }
                initMs = started.initMs
                guard let restarted = sandbox else { return .failure(InvokeFailure(reason: "the sandbox vanished")) }
                current = restarted
                cpu0 = meter.cpuNanoseconds(pid: current.pid)
                offered = .now
                server.offer(event)
            case .exited(let g, let status, let signal, let at) where g == current.generation:
                endedAt = at
                handedOut = server.handedOutAt(id) ?? handedOut
                sandbox?.exited = true
                let oom = (meter.oomKills() ?? 0) > oom0
                Self.awaitOutput(current.output)
                outcome = .failure(Self.exitError(status: status, signal: signal, oom: oom, sizeMB: options.sizeMB, tail: log.tail(lines: 3)))
                await stopSandbox()
            default:
                continue
            }
        }
        server.finish(id)
        let durationMs = endedAt > handedOut ? Double(endedAt - handedOut) / 1e6 : 0
        let peak = meter.peakBytes(pid: current.pid)
        let cpuNs = meter.cpuNanoseconds(pid: current.pid) &- cpu0
        let throttled = max(0, throttledMs() - throttled0)
        guard let outcome else { fatalError("unreachable: the loop ends with an outcome") }
        let error: FunctionError? = if case .failure(let e) = outcome { e } else { nil }
        writeReport(log, id: id, durationMs: durationMs, initMs: initMs, peak: peak, error: error)
        return .success(Invocation(requestId: id, response: outcome, durationMs: durationMs, initMs: initMs,
                                   peakBytes: peak, cpuNs: cpuNs, throttledMs: throttled, log: log.captured()))
    }

    /// Stops the sandbox, if one runs (the next function invocation starts cold).
    package func suspend() async {
        await stopSandbox()
    }

    package func shutdown() async {
        await stopSandbox()
        meter?.remove()
        meter = nil
        await server?.close()
        server = nil
    }

    // MARK: the sandbox

    private func apiServer() async throws -> RuntimeAPIServer {
        if let server { return server }
        let s = try await RuntimeAPIServer.start()
        server = s
        return s
    }

    /// Spawns the runtime and waits for its first `/next`; the time it came, or the init error.
    private func startSandbox(_ definition: FunctionDefinition, target: TargetSpec, server: RuntimeAPIServer, meter: SandboxMeter,
                              log: FunctionLog) async -> Result<UInt64, FunctionError> {
        server.reset()
        meter.reset()
        meter.grantHeadroom()
        log.clearTail()
        let oom0 = meter.oomKills() ?? 0
        generation += 1
        let generation = self.generation
        guard let command = definition.command.first, !command.isEmpty else {
            return .failure(FunctionError(type: "Runtime.InvalidEntrypoint", message: "function \(definition.name) has an empty command"))
        }
        // A relative path is the code folder's (Lambda runs `./bootstrap` from /var/task); a bare name is on PATH.
        guard let executable = ProcessLauncher.which(command, path: options.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
                                                     relativeTo: definition.code) else {
            return .failure(FunctionError(type: "Runtime.InvalidEntrypoint",
                                          message: "command '\(command)' not found on PATH or not executable: install it or give its full path in the function's command"
                                              + (command.contains(".fanbench/python") ? " (this one comes from scripts/install-deps --functions)" : "")))
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: definition.code, isDirectory: &isDirectory), isDirectory.boolValue else {
            return .failure(FunctionError(type: "Runtime.InvalidEntrypoint", message: "code folder '\(definition.code)' does not exist on this worker"))
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0, fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(fds[1], F_SETFD, FD_CLOEXEC) == 0 else {
            return .failure(FunctionError(type: "Runtime.Unknown", message: "cannot make a pipe for the runtime's output: \(String(cString: strerror(errno)))"))
        }
        let pid: pid_t
        do {
            pid = try ProcessLauncher.spawnJoined(executable: executable, arguments: Array(definition.command.dropFirst()),
                                                  environment: environment(definition, target: target, server: server),
                                                  workingDirectory: definition.code, outputDescriptor: fds[1], cgroupProcs: meter.procsFiles)
        } catch {
            close(fds[0])
            close(fds[1])
            return .failure(FunctionError(type: "Runtime.InvalidEntrypoint", message: "\(error.message): check the function's command and code folder"))
        }
        close(fds[1])
        meter.adopt(pid)
        pacer?.start(pid: pid)
        blockCharge?.start(pid: pid)
        let output = log.drain(fds[0])
        sandbox = Sandbox(definition: definition, pid: pid, generation: generation, output: output)
        let signals = server.signals
        let waiter = Thread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            let signal = status & 0x7f
            signals.post(.exited(generation: generation, status: (status >> 8) & 0xff, signal: signal == 0 ? nil : signal, at: monotonicNanoseconds()))
        }
        waiter.name = "function-waiter"
        waiter.start()

        let deadline = ContinuousClock.now + .milliseconds(Int64(definition.initTimeoutS * 1000))
        while true {
            guard let signal = await signals.receive(until: deadline) else {
                return .failure(FunctionError(type: "Runtime.InitTimeout", message: "init timed out after \(String(format: "%.2f", definition.initTimeoutS)) seconds: the runtime never called /next\(Self.tailNote(log))"))
            }
            switch signal {
            case .ready(let at):
                return .success(at)
            case .initError(let type, let body, _):
                return .failure(FunctionError(type: type, message: RuntimeAPIServer.errorMessage(in: body) ?? "the runtime posted /init/error\(Self.tailNote(log))"))
            case .exited(let g, let status, let sig, _) where g == generation:
                sandbox?.exited = true
                Self.awaitOutput(output)
                return .failure(Self.exitError(status: status, signal: sig, oom: (meter.oomKills() ?? 0) > oom0, sizeMB: options.sizeMB, tail: log.tail(lines: 3)))
            default:
                continue
            }
        }
    }

    /// Kills the sandbox's process group (and anything left in its cgroup) and waits until it is reaped.
    private func stopSandbox() async {
        guard let s = sandbox else { return }
        sandbox = nil
        guard let server else { return }
        if !s.exited {
            kill(-s.pid, SIGKILL)
            kill(s.pid, SIGKILL)
            let deadline = ContinuousClock.now + .seconds(5)
            while let signal = await server.signals.receive(until: deadline) {
                if case .exited(let g, _, _, _) = signal, g == s.generation { break }
            }
        }
        pacer?.stop()
        blockCharge?.stop()
        meter?.killAll()
        meter?.revokeHeadroom()
        server.reset()
    }

    /// Lambda's environment for a runtime, the S3 target's, then the function's own.
    private func environment(_ definition: FunctionDefinition, target: TargetSpec, server: RuntimeAPIServer) -> [String: String] {
        let worker = options.environment
        var env: [String: String] = [
            "PATH": worker["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "HOME": worker["HOME"] ?? "/tmp",
            "AWS_LAMBDA_RUNTIME_API": server.address,
            "_HANDLER": definition.handlerName,
            "LAMBDA_TASK_ROOT": definition.code,
            "LAMBDA_RUNTIME_DIR": definition.code,
            "AWS_LAMBDA_FUNCTION_NAME": definition.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": String(options.sizeMB),
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/\(definition.name)",
            "AWS_LAMBDA_LOG_STREAM_NAME": Self.logStreamName(),
            "AWS_REGION": target.region,
            "AWS_DEFAULT_REGION": target.region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_fanbench",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_ENDPOINT_URL": target.endpoint,
        ]
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "LD_LIBRARY_PATH"] {
            if let v = worker[name], !v.isEmpty { env[name] = v }
        }
        if let ca = target.caBundle { env["AWS_CA_BUNDLE"] = TrustStore.forFunctions(caBundle: ca) }
        if target.pathStyle, let config = pathStyleConfig() {
            // SDKs read the addressing style from their config file, not from a variable.
            env["AWS_CONFIG_FILE"] = config
        }
        for (k, v) in definition.env where k != "AWS_LAMBDA_RUNTIME_API" { env[k] = v }
        return env
    }

    private var pathStyleConfigPath: String?

    private func pathStyleConfig() -> String? {
        if let pathStyleConfigPath { return pathStyleConfigPath }
        let path = options.logDirectory + "/aws-config-path-style"
        try? FileManager.default.createDirectory(atPath: options.logDirectory, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: Data("[default]\ns3 =\n    addressing_style = path\n".utf8)) else { return nil }
        pathStyleConfigPath = path
        return path
    }

    // MARK: results and the log

    /// Lambda's REPORT line (and, before it, END), in Lambda's field order.
    private func writeReport(_ log: FunctionLog, id: String, durationMs: Double, initMs: Double?, peak: Int64, error: FunctionError?) {
        if let error { log.line("\(id)\t\(error.type)\t\(error.message)") }
        log.line("END RequestId: \(id)")
        let billed = (durationMs + (initMs ?? 0)).rounded(.up)
        var line = "REPORT RequestId: \(id)\tDuration: \(Self.ms(durationMs)) ms\tBilled Duration: \(Int(billed)) ms"
            + "\tMemory Size: \(options.sizeMB) MB\tMax Memory Used: \(Int((Double(peak) / 1_048_576).rounded(.up))) MB"
        if let initMs { line += "\tInit Duration: \(Self.ms(initMs)) ms" }
        if let error { line += "\tStatus: \(error.type == "Sandbox.Timedout" ? "timeout" : "error")\tError Type: \(error.type)" }
        log.line(line)
    }

    static func ms(_ v: Double) -> String { String(format: "%.2f", v) }

    static func exitError(status: Int32, signal: Int32?, oom: Bool, sizeMB: Int, tail: String) -> FunctionError {
        let how: String
        if let signal {
            how = signal == SIGKILL ? "signal: killed" : "signal: \(signal)"
        } else {
            how = "exit status \(status)"
        }
        var message = "Runtime exited with error: \(how)"
        if oom { message += " (out of memory: the sandbox used all of its \(sizeMB) MB)" }
        if !tail.isEmpty { message += "; last output: \(tail.replacingOccurrences(of: "\n", with: " | ").prefix(400))" }
        return FunctionError(type: "Runtime.ExitError", message: message)
    }

    /// A runtime exited: its output pipe closes with it (unless a child it left holds it), so the
    /// last lines it wrote reach the log within moments; wait for them up to 500 ms.
    static func awaitOutput(_ drained: DispatchSemaphore) {
        if drained.wait(timeout: .now() + .milliseconds(500)) == .success { drained.signal() }
    }

    static func tailNote(_ log: FunctionLog) -> String {
        let tail = log.tail(lines: 3)
        return tail.isEmpty ? "" : "; last output: \(tail.replacingOccurrences(of: "\n", with: " | ").prefix(400))"
    }

    static func traceID() -> String {
        let time = String(UInt32(Date().timeIntervalSince1970), radix: 16)
        let random = (0..<3).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }.joined()
        let parent = String(format: "%016llx", UInt64.random(in: 0...UInt64.max))
        return "Root=1-\(time)-\(random);Parent=\(parent);Sampled=0"
    }

    static func logStreamName() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy/MM/dd"
        f.timeZone = TimeZone(identifier: "UTC")
        return "\(f.string(from: Date()))/[$LATEST]\(String(format: "%016llx%016llx", UInt64.random(in: 0...UInt64.max), UInt64.random(in: 0...UInt64.max)))"
    }
}

/// Sends each assignment to the executor for its kind: `function` to the Runtime API, the
/// built-in strategies to the S3 executor.
/// A live sandbox is stopped before a built-in strategy runs: the strategy gets the size to
/// itself, as it would on its own Lambda.
package struct RoutingExecutor: InvocationExecutor {
    package let s3: any InvocationExecutor
    package let functions: FunctionExecutor

    package init(s3: any InvocationExecutor, functions: FunctionExecutor) {
        self.s3 = s3
        self.functions = functions
    }

    package func run(_ assign: Assign, receivedNs: UInt64, progress: NIOLockedValueBox<Int>) async -> Message {
        if assign.strategy == "function" { return await functions.run(assign, receivedNs: receivedNs, progress: progress) }
        await functions.suspend()
        return await s3.run(assign, receivedNs: receivedNs, progress: progress)
    }

    package func shutdown() async {
        await functions.shutdown()
        await s3.shutdown()
    }
}
