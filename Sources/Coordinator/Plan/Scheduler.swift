/// Dispatch as a state machine, without I/O: which invocation goes to which worker, what
/// happens when a worker dies or goes silent (its invocation is re-queued on another worker
/// of the same size, a bounded number of times), and when the run is done. Times are
/// monotonic nanoseconds passed in, so tests drive the clock.
package struct Scheduler: Sendable {
    package enum Action: Sendable, Equatable {
        /// Send this invocation to this worker.
        case assign(invocationID: String, workerID: String)
        /// This worker is considered dead: close its connection.
        case dropWorker(workerID: String, reason: String)
        /// The invocation will not be tried again.
        case abandon(invocationID: String, reason: String)
    }

    struct WorkerState: Sendable {
        var sizeMB: Int
        var busyWith: String?
        var lastHeard: UInt64
        /// Serves one invocation, then leaves (cold starts).
        var singleUse = false
    }

    package private(set) var specs: [String: InvocationSpec] = [:]
    /// Invocations waiting, per memory size, in dispatch order (re-queued ones first).
    private var pending: [Int: Queue] = [:]
    private var workers: [String: WorkerState] = [:]
    /// Workers with nothing to do: the only ones a dispatch looks at.
    private var idle: Set<String> = []
    /// Invocations not finished yet (pending or running), per memory size.
    private var unfinished: [Int: Int] = [:]
    /// Invocations assigned and not yet finished.
    package private(set) var running = 0
    /// The latest time any event carried: a new assignment starts its worker's silence clock here.
    private var now: UInt64 = 0
    /// The worker each failed invocation last failed on: it is offered to others first.
    private var failedOn: [String: String] = [:]
    private var attempts: [String: Int] = [:]
    package private(set) var completed: Set<String> = []
    package private(set) var abandoned: [String: String] = [:]
    /// Re-queued invocations per configuration index.
    package private(set) var reassigned: [Int: Int] = [:]
    package let maxAttempts: Int
    /// Stop dispatching (an interrupted run lets running invocations finish, starts no more).
    package private(set) var draining = false
    /// Sizes that have had a worker, and since when one that has has none (ns).
    private var everServed: Set<Int> = []
    private var unservedSince: [Int: UInt64] = [:]

    package init(plan: RunPlan, maxAttempts: Int = 3) {
        for spec in plan.invocations {
            specs[spec.id] = spec
            pending[spec.config.size.memoryMB, default: Queue()].append(spec.id)
            unfinished[spec.config.size.memoryMB, default: 0] += 1
        }
        self.maxAttempts = max(1, maxAttempts)
    }

    package var isDone: Bool { completed.count + abandoned.count == specs.count }

    /// Whether `invocation` is (still) running on `worker`.
    package func isAssigned(_ invocation: String, to worker: String) -> Bool { workers[worker]?.busyWith == invocation }

    /// From now on nothing new is assigned.
    package mutating func drain() { draining = true }
    package var total: Int { specs.count }
    package var workerCount: Int { workers.count }

    /// Invocations of this size not finished yet (pending or running).
    package func remaining(sizeMB: Int) -> Int { unfinished[sizeMB] ?? 0 }

    package mutating func workerJoined(_ id: String, sizeMB: Int, singleUse: Bool = false, now: UInt64) -> [Action] {
        self.now = max(self.now, now)
        workers[id] = WorkerState(sizeMB: sizeMB, busyWith: nil, lastHeard: now, singleUse: singleUse)
        idle.insert(id)
        everServed.insert(sizeMB)
        unservedSince[sizeMB] = nil
        return dispatch()
    }

    /// Any message from a worker proves it alive.
    package mutating func heard(from id: String, now: UInt64) {
        self.now = max(self.now, now)
        workers[id]?.lastHeard = now
    }

    /// The worker's connection is gone; whatever it ran goes back to the queue.
    /// `why` is what is known of the loss (the worker's last error line), for the abandonment reason.
    package mutating func workerLost(_ id: String, why: String? = nil) -> [Action] {
        guard let state = workers.removeValue(forKey: id) else { return [] }
        idle.remove(id)
        if state.busyWith != nil { running -= 1 }
        var actions: [Action] = []
        if let running = state.busyWith {
            if draining {
                // The run is being stopped: the invocation was interrupted, not lost. It stays
                // unfinished (the run is incomplete) without an attempt or a re-assignment counted.
                pending[state.sizeMB, default: Queue()].pushFront(running)
            } else {
                actions += requeue(running, reason: "worker \(id) was lost" + (why.map { " (\($0))" } ?? ""))
            }
        }
        return actions + dispatch()
    }

    /// A result arrived. Returns whether to count it: only the worker the invocation is
    /// assigned to can complete it, once (a late result from a worker presumed dead is dropped).
    package mutating func resultArrived(_ invocationID: String, from workerID: String, now: UInt64) -> (accept: Bool, actions: [Action]) {
        guard workers[workerID]?.busyWith == invocationID, !completed.contains(invocationID) else { return (false, []) }
        self.now = max(self.now, now)
        freed(workerID, now: now, leaving: false)
        completed.insert(invocationID)
        failedOn.removeValue(forKey: invocationID)
        if let size = specs[invocationID]?.config.size.memoryMB { unfinished[size, default: 1] -= 1 }
        return (true, dispatch())
    }

    /// The worker could not run the invocation; it is tried again elsewhere while attempts last.
    /// A retiring worker (one told to stop) gets nothing more, and its invocation goes back to
    /// the queue without the attempt counting against it: the invocation did not fail.
    package mutating func invocationFailed(_ invocationID: String, from workerID: String, reason: String, retire: Bool = false,
                                           now: UInt64) -> [Action] {
        guard workers[workerID]?.busyWith == invocationID else { return [] }
        self.now = max(self.now, now)
        freed(workerID, now: now, leaving: retire)
        if !retire { failedOn[invocationID] = workerID }
        return requeue(invocationID, reason: reason, countAttempt: !retire) + dispatch()
    }

    /// Busy workers silent for longer than `silence` ns are dropped and their work re-queued.
    package mutating func checkSilence(now: UInt64, silence: UInt64) -> [Action] {
        self.now = max(self.now, now)
        var actions: [Action] = []
        for (id, state) in workers where state.busyWith != nil && now > state.lastHeard && now - state.lastHeard > silence {
            actions.append(.dropWorker(workerID: id, reason: "silent for more than \(silence / 1_000_000_000) s"))
            actions += workerLost(id)
        }
        return actions
    }

    /// A size that had workers and has work left but no worker for `timeout` ns (all were lost
    /// and none came back): its waiting invocations are given up, each with the reason, instead
    /// of the run waiting for ever. A cold size (workers that leave after one invocation) is
    /// between workers for moments only; the clock starts when the last one is gone.
    package mutating func checkUnserved(now: UInt64, timeout: UInt64) -> [Action] {
        self.now = max(self.now, now)
        guard !draining else { return [] }
        var served = Set<Int>()
        for w in workers.values { served.insert(w.sizeMB) }
        var actions: [Action] = []
        for size in everServed.sorted() where (unfinished[size] ?? 0) > 0 {
            if served.contains(size) {
                unservedSince[size] = nil
                continue
            }
            let since = unservedSince[size] ?? now
            unservedSince[size] = since
            guard now &- since >= timeout else { continue }
            let reason = "no \(size) MB worker for \(timeout / 1_000_000_000) s: every one was lost and none replaced them (start workers of that size, or give --wait-timeout more)"
            while let id = pending[size]?.popFirst() {
                abandoned[id] = reason
                unfinished[size, default: 1] -= 1
                actions.append(.abandon(invocationID: id, reason: reason))
            }
        }
        return actions
    }

    private mutating func requeue(_ invocationID: String, reason: String, countAttempt: Bool = true) -> [Action] {
        let n = attempts[invocationID, default: 1]
        guard !countAttempt || n < maxAttempts else {
            abandoned[invocationID] = "\(reason); gave up after \(n) attempts"
            if let size = specs[invocationID]?.config.size.memoryMB { unfinished[size, default: 1] -= 1 }
            return [.abandon(invocationID: invocationID, reason: abandoned[invocationID]!)]
        }
        if countAttempt { attempts[invocationID] = n + 1 }
        if let spec = specs[invocationID] {
            reassigned[spec.config.index, default: 0] += 1
            pending[spec.config.size.memoryMB, default: Queue()].pushFront(invocationID)
        }
        return []
    }

    /// The worker finished (or gave back) its invocation: idle again, or gone when it leaves
    /// after one (a cold start) or was told to stop.
    private mutating func freed(_ workerID: String, now: UInt64, leaving: Bool) {
        running -= 1
        workers[workerID]?.busyWith = nil
        workers[workerID]?.lastHeard = now
        if leaving || workers[workerID]?.singleUse == true {
            workers.removeValue(forKey: workerID)
        } else {
            idle.insert(workerID)
        }
    }

    private mutating func dispatch() -> [Action] {
        guard !draining else { return [] }
        var actions: [Action] = []
        // Idle workers only (usually the one that just finished), in id order for determinism.
        for id in idle.count == 1 ? Array(idle) : idle.sorted() {
            guard let size = workers[id]?.sizeMB, let invocation = next(for: id, size: size) else { continue }
            idle.remove(id)
            workers[id]?.busyWith = invocation
            workers[id]?.lastHeard = now  // its silence is counted from the assignment, not from when it went idle
            running += 1
            if attempts[invocation] == nil { attempts[invocation] = 1 }
            actions.append(.assign(invocationID: invocation, workerID: id))
        }
        return actions
    }

    /// The invocation for idle worker `id`: the next one waiting for its size — but one that
    /// last failed on this very worker goes to another worker of the size when there is one
    /// (this one takes the next invocation instead, or waits while that is the only one).
    private mutating func next(for id: String, size: Int) -> String? {
        guard let first = pending[size]?.popFirst() else { return nil }
        guard failedOn[first] == id, workers.contains(where: { $0.key != id && $0.value.sizeMB == size }) else { return first }
        let other = pending[size]?.popFirst()
        pending[size]?.pushFront(first)
        return other
    }

    /// A FIFO with a front for re-queued work: O(1) at both ends, no shifting.
    struct Queue: Sendable {
        private var items: [String] = []
        private var head = 0
        private var front: [String] = []

        mutating func append(_ id: String) { items.append(id) }
        mutating func pushFront(_ id: String) { front.append(id) }

        mutating func popFirst() -> String? {
            if let id = front.popLast() { return id }
            guard head < items.count else { return nil }
            defer {
                head += 1
                if head > 4096 && head * 2 > items.count {
                    items.removeFirst(head)
                    head = 0
                }
            }
            return items[head]
        }
    }
}
