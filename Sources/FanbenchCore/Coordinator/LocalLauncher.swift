import FanbenchProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// Runs the workers of a local run: one size at a time, as many workers of that size as fit in
/// the CPU budget (at least one; a size bigger than the budget runs alone and is reported as
/// oversubscribed), each in its own capped cgroup before it runs any code of its own. Workers
/// that die are replaced (bounded). Every child and cgroup is removed on every exit path.
public final class LocalLauncher: Sendable {
    public struct Options: Sendable {
        public var workerBinary: String
        public var coordinatorAddress: String
        public var token: String
        /// Environment for workers (S3 credentials, as a Lambda's role gives them).
        public var environment: [String: String]
        public var logDirectory: String
        public var runID: String
        /// Sum of running workers' CPU caps, in cores.
        public var cpuBudget: Double
        public var hostCores: Int
        public var workersPerSize: Int
        /// nil: no caps (--allow-uncapped).
        public var cgroups: CgroupManager?
        public var maxRespawns = 5
        /// A fresh worker per invocation (`--cold`).
        public var cold = false

        public init(workerBinary: String, coordinatorAddress: String, token: String, environment: [String: String],
                    logDirectory: String, runID: String, cpuBudget: Double, hostCores: Int, workersPerSize: Int, cgroups: CgroupManager?, cold: Bool = false) {
            self.workerBinary = workerBinary
            self.coordinatorAddress = coordinatorAddress
            self.token = token
            self.environment = environment
            self.logDirectory = logDirectory
            self.runID = runID
            self.cpuBudget = cpuBudget
            self.hostCores = hostCores
            self.workersPerSize = workersPerSize
            self.cgroups = cgroups
            self.cold = cold
        }
    }

    struct Child: Sendable {
        var pid: pid_t
        var group: CgroupManager.Group?
        var workerID: String
    }

    public let options: Options
    private let children = NIOLockedValueBox<[Child]>([])
    private let counter = NIOLockedValueBox(0)
    /// Sizes that ran with more CPU than the budget allowed.
    public let oversubscribed = NIOLockedValueBox<[Int]>([])
    private let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Workers of one size that fit the budget together.
    public static func workersThatFit(size: LambdaSize, budget: Double, wanted: Int) -> Int {
        max(1, min(wanted, Int((budget / size.cpu).rounded(.down))))
    }

    /// Runs every size's phase in turn until the coordinator has nothing left for it.
    public func run(sizes: [LambdaSize], coordinator: RunCoordinator) async throws {
        defer { stopAll() }
        for size in sizes {
            let n = Self.workersThatFit(size: size, budget: options.cpuBudget, wanted: options.workersPerSize)
            if size.cpu > options.cpuBudget { oversubscribed.withLockedValue { $0.append(size.memoryMB) } }
            for _ in 0..<n { try spawn(size) }
            var respawns = 0
            while await coordinator.remaining(sizeMB: size.memoryMB) > 0 {
                try Task.checkCancellation()
                for (dead, cleanExit) in reapDead() {
                    await coordinator.lost(dead.workerID)
                    if options.cold && cleanExit {
                        // A cold worker serves one invocation and exits: start the next one.
                        if await coordinator.remaining(sizeMB: size.memoryMB) > 0 { try spawn(size) }
                        continue
                    }
                    respawns += 1
                    guard respawns <= options.maxRespawns else {
                        throw FanbenchError("workers of \(size.memoryMB) MB keep dying (\(respawns) so far): see the logs in \(options.logDirectory)")
                    }
                    logger.warning("worker died; starting a replacement", metadata: ["worker": "\(dead.workerID)"])
                    try spawn(size)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            stopAll()
        }
    }

    /// PIDs of running workers (tests kill one to prove re-queueing).
    public var runningPIDs: [pid_t] { children.withLockedValue { $0.map(\.pid) } }

    private func spawn(_ size: LambdaSize) throws {
        let n = counter.withLockedValue { v -> Int in v += 1; return v }
        let workerID = "\(options.runID)-\(size.memoryMB)mb-\(n)"
        let group = try options.cgroups?.create(name: "\(options.runID)-w\(n)", size: size, hostCores: options.hostCores)
        var env = options.environment
        env["FANBENCH_TOKEN"] = options.token
        env["FANBENCH_SPAWN_NS"] = String(monotonicNanoseconds())
        let (exe, args) = CgroupManager.joinAndExec(group, executable: options.workerBinary, arguments: [
            "--coordinator", options.coordinatorAddress, "--size-mb", String(size.memoryMB), "--worker-id", workerID,
        ] + (options.cold ? ["--once"] : []))
        do {
            let pid = try ProcessLauncher.spawn(executable: exe, arguments: args,
                                                logPath: options.logDirectory + "/\(workerID).log", environment: env)
            children.withLockedValue { $0.append(Child(pid: pid, group: group, workerID: workerID)) }
        } catch {
            if let group { options.cgroups?.remove(group) }
            throw error
        }
    }

    /// Children that exited, each with whether it exited cleanly (status 0).
    private func reapDead() -> [(Child, Bool)] {
        children.withLockedValue { list in
            var dead: [(Child, Bool)] = []
            for c in list {
                var status: Int32 = 0
                if waitpid(c.pid, &status, WNOHANG) == c.pid {
                    // WIFEXITED && WEXITSTATUS == 0
                    dead.append((c, (status & 0x7f) == 0 && ((status >> 8) & 0xff) == 0))
                }
            }
            list.removeAll { c in dead.contains { $0.0.pid == c.pid } }
            for (d, _) in dead { if let g = d.group { options.cgroups?.remove(g) } }
            return dead
        }
    }

    /// Kills every worker and removes every cgroup; safe to call more than once, from any path.
    public func stopAll() {
        let all = children.withLockedValue { c -> [Child] in defer { c = [] }; return c }
        for c in all { kill(c.pid, SIGKILL) }
        for c in all {
            var status: Int32 = 0
            waitpid(c.pid, &status, 0)
            if let g = c.group { options.cgroups?.remove(g) }
        }
        options.cgroups?.removeBaseIfEmpty()
    }
}
