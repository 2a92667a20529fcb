import FanbenchBase
import FanbenchProtocol
import FanbenchReport
import Foundation
import GRDB

/// Every run, kept in one SQLite file (WAL, versioned migrations) through GRDB. Writes happen
/// as results arrive, one transaction each, so a run cut short — Ctrl-C, SIGKILL of the
/// coordinator, power loss — is kept with everything that had finished. Reports are rebuilt
/// from the stored invocations (in arrival order), so any percentile can be recomputed later.
/// No secret is stored: credentials never reach the coordinator's run data.
package final class RunStore: Sendable {
    package let path: String
    private let pool: DatabasePool

    /// A run as `fanbench runs` lists it.
    package struct Summary: Sendable, Equatable {
        package var id: String
        package var startedAt: Date
        package var finishedAt: Date?
        package var status: String
        package var endpoint: String
        package var bucket: String
        package var op: String
        package var configs: Int
        package var invocations: Int
        package var plannedInvocations: Int
        package var emulated: Bool
    }

    /// Opens (creating when needed) the store at `path` and brings its schema up to date.
    package init(path: String) throws(StoreError) {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError.cannotOpen(path, "cannot create its folder (\(error.localizedDescription))")
        }
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        // WAL with synchronous NORMAL: a commit does not wait for an fsync (results are written
        // from the coordinator's dispatch path); a power cut can lose the last commits, never the file.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            do {
                try Self.migrator.migrate(pool)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_ERROR {
                // Another process (a second `fanbench run`, or a reader) created the same new
                // file at the same moment and won: its migrations are in now; check again.
                try Self.migrator.migrate(pool)
            }
        } catch {
            throw StoreError.cannotOpen(path, Self.describe(error))
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: runs, configurations, invocations, errors") { db in
            try db.execute(sql: """
                CREATE TABLE run (
                    id TEXT PRIMARY KEY NOT NULL,
                    started_at DOUBLE NOT NULL,
                    finished_at DOUBLE,
                    status TEXT NOT NULL,            -- running, complete, incomplete, failed
                    error TEXT,
                    pid INTEGER NOT NULL,
                    hostname TEXT NOT NULL,
                    fanbench_version TEXT NOT NULL,
                    host_cores INTEGER NOT NULL,
                    host_cgroup TEXT NOT NULL,
                    endpoint TEXT NOT NULL,
                    bucket TEXT NOT NULL,
                    prefix TEXT,
                    op TEXT NOT NULL,
                    emulation_profile TEXT,
                    emulation_rtt_ms DOUBLE,
                    emulation_jitter TEXT,
                    emulation_tls BOOLEAN,
                    planned_invocations INTEGER NOT NULL,
                    plan_json TEXT NOT NULL
                );
                CREATE TABLE config (
                    run_id TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    idx INTEGER NOT NULL,
                    memory_mb INTEGER NOT NULL,
                    strategy TEXT NOT NULL,
                    concurrency INTEGER NOT NULL,
                    failed INTEGER NOT NULL DEFAULT 0,
                    reassigned INTEGER NOT NULL DEFAULT 0,
                    latency_histogram_json TEXT,     -- merged at the end: sparse [µs, count] pairs
                    PRIMARY KEY (run_id, idx)
                );
                CREATE TABLE invocation (
                    run_id TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,            -- arrival order
                    invocation_id TEXT NOT NULL,
                    config_idx INTEGER NOT NULL,
                    worker_id TEXT NOT NULL,
                    received_at DOUBLE NOT NULL,
                    duration_ms DOUBLE NOT NULL,
                    init_ms DOUBLE,
                    list_ms DOUBLE,
                    calls INTEGER NOT NULL,
                    errors INTEGER NOT NULL,
                    retries INTEGER NOT NULL,
                    cpu_ms DOUBLE NOT NULL,
                    max_memory_bytes INTEGER NOT NULL,
                    throttled_ms DOUBLE NOT NULL,
                    limits_json TEXT NOT NULL,
                    latency_histogram_json TEXT NOT NULL,
                    PRIMARY KEY (run_id, seq),
                    FOREIGN KEY (run_id, config_idx) REFERENCES config(run_id, idx)
                );
                CREATE TABLE invocation_error (
                    run_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    code TEXT NOT NULL,
                    count INTEGER NOT NULL,
                    PRIMARY KEY (run_id, seq, code),
                    FOREIGN KEY (run_id, seq) REFERENCES invocation(run_id, seq) ON DELETE CASCADE
                );
                CREATE INDEX run_started ON run(started_at);
                """)
        }
        m.registerMigration("v2: abandoned invocations and why") { db in
            try db.execute(sql: """
                CREATE TABLE abandoned (
                    run_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    invocation_id TEXT NOT NULL,
                    config_idx INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    PRIMARY KEY (run_id, seq),
                    FOREIGN KEY (run_id, config_idx) REFERENCES config(run_id, idx)
                );
                """)
        }
        m.registerMigration("v3: functions (Lambda handlers) and their failures") { db in
            try db.execute(sql: """
                ALTER TABLE config ADD COLUMN function TEXT;               -- the name, for strategy 'function'
                ALTER TABLE invocation ADD COLUMN calls_measured BOOLEAN;  -- NULL: measured; 0: a function's own calls (n/a)
                ALTER TABLE invocation ADD COLUMN function_error_type TEXT;
                ALTER TABLE invocation ADD COLUMN function_error_message TEXT;
                """)
        }
        m.registerMigration("v4: what Lambda billed (the Lambda backend's REPORT lines)") { db in
            try db.execute(sql: "ALTER TABLE invocation ADD COLUMN billed_ms REAL;  -- NULL: estimated from the duration\n")
        }
        m.registerMigration("v5: the timeline (attempts), call waterfalls, tuning searches (fanbench tune)") { db in
            try db.execute(sql: """
                CREATE TABLE attempt (           -- the invocation timeline: every attempt, on the coordinator's clock
                    run_id TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,            -- the order attempts ended
                    invocation_id TEXT NOT NULL,
                    config_idx INTEGER NOT NULL,
                    worker_id TEXT NOT NULL,
                    start_ms DOUBLE NOT NULL,        -- from the run's start
                    end_ms DOUBLE NOT NULL,
                    outcome TEXT NOT NULL,           -- ok, failed, requeued
                    PRIMARY KEY (run_id, seq)
                );
                ALTER TABLE invocation ADD COLUMN call_spans_json TEXT;  -- [[start_us, end_us], …] of the first calls
                CREATE TABLE tune (
                    id TEXT PRIMARY KEY NOT NULL,
                    started_at DOUBLE NOT NULL,
                    result_json TEXT NOT NULL        -- schema fanbench.tune/v1; its points name the runs that measured them
                );
                """)
        }
        m.registerMigration("v6: the worker's own overhead around each invocation's calls") { db in
            try db.execute(sql: """
                ALTER TABLE invocation ADD COLUMN overhead_start_us INTEGER;   -- assignment received → first call
                ALTER TABLE invocation ADD COLUMN overhead_finish_us INTEGER;  -- last call → result ready
                """)
        }
        m.registerMigration("v7: the whole emulation (profile hash, CPU probe and scale)") { db in
            try db.execute(sql: "ALTER TABLE run ADD COLUMN emulation_json TEXT")  // RunReport.Emulation; the emulation_* columns stay for queries
        }
        m.registerMigration("v8: what `fanbench resume` needs to continue a run") { db in
            try db.execute(sql: "ALTER TABLE run ADD COLUMN resume_json TEXT")  // the coordinator's RunRecipe (no secrets)
        }
        return m
    }

    /// A stored invocation's worker overhead, when both halves were kept.
    private static func overhead(_ start: Int64?, _ finish: Int64?) -> [UInt32]? {
        guard let start, let finish else { return nil }
        return [UInt32(clamping: start), UInt32(clamping: finish)]
    }

    /// Keeps a tuning search's result (its points' runs are stored as runs).
    package func saveTune(_ result: TuneResult) throws {
        let json = String(decoding: try Self.encoder.encode(result), as: UTF8.self)
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO tune (id, started_at, result_json) VALUES (?, ?, ?)",
                           arguments: [result.id, result.startedAt.timeIntervalSince1970, json])
        }
    }

    package func tune(_ id: String) throws -> TuneResult? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT result_json FROM tune WHERE id = ?", arguments: [id])
                .map { try Self.decoder.decode(TuneResult.self, from: Data($0.utf8)) }
        }
    }

    // MARK: writing, as the run happens

    /// Records a planned run (status `running`) and its configurations; `recipe`: what
    /// `fanbench resume` needs to run the rest of it (JSON, no secrets).
    package func begin(_ header: RunReport, configs: [ConfigSpec], plannedInvocations: Int, recipe: String? = nil) throws {
        let plan = String(decoding: try Self.encoder.encode(header.plan), as: UTF8.self)
        let emulation = try header.target.emulation.map { String(decoding: try Self.encoder.encode($0), as: UTF8.self) }
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO run (id, started_at, status, pid, hostname, fanbench_version, host_cores, host_cgroup, endpoint, bucket,
                                 prefix, op, emulation_profile, emulation_rtt_ms, emulation_jitter, emulation_tls, planned_invocations, plan_json,
                                 emulation_json)
                VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [header.runId, header.startedAt.timeIntervalSince1970, Int(getpid()), Self.hostname,
                                 header.fanbenchVersion, header.host.cores, header.host.cgroup, header.target.endpoint,
                                 header.target.bucket, header.target.prefix, header.target.op, header.target.emulation?.profile,
                                 header.target.emulation?.rttMs, header.target.emulation?.jitter, header.target.emulation?.tls,
                                 plannedInvocations, plan, emulation])
            if let recipe { try db.execute(sql: "UPDATE run SET resume_json = ? WHERE id = ?", arguments: [recipe, header.runId]) }
            for c in configs {
                try db.execute(sql: "INSERT INTO config (run_id, idx, memory_mb, strategy, concurrency, function) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [header.runId, c.index, c.size.memoryMB, c.strategy.name, c.strategy.concurrency, c.strategy.functionName])
            }
        }
    }

    /// One write of a run as it happens; `apply` puts many in one transaction.
    package enum Write: Sendable {
        /// A counted invocation result, with the limits and id of the worker that ran it.
        case result(configIndex: Int, InvocationResult, WorkerLimits, worker: String)
        /// An attempt ended (the timeline); kept up to the report's limit.
        case attempt(RunReport.Attempt)
        /// An invocation was given up, with the reason (kept in the order they were).
        case abandoned(configIndex: Int, invocation: String, reason: String)
        /// A configuration's abandoned-invocation and re-assignment counts changed.
        case counters(configIndex: Int, failed: Int, reassigned: Int)
    }

    /// Applies `writes` in order, in one transaction: all of them or, on an error, none.
    package func apply(runID: String, _ writes: [Write]) throws {
        guard !writes.isEmpty else { return }
        // Encoded before the transaction, so the writer holds the lock for SQL only.
        let encoded: [EncodedResult?] = try writes.map { w in
            guard case .result(_, let result, let limits, _) = w else { return nil }
            return try EncodedResult(result, limits)
        }
        try pool.write { db in
            for (w, e) in zip(writes, encoded) {
                switch w {
                case .result(let configIndex, let result, _, let worker):
                    try Self.insert(db, runID: runID, configIndex: configIndex, result: result, encoded: e!, workerID: worker)
                case .attempt(let a):
                    let seq = try Self.nextSeq(db, "attempt", runID)
                    guard seq <= RunReport.maxTimelineAttempts else { continue }
                    try db.cachedStatement(sql: "INSERT INTO attempt (run_id, seq, invocation_id, config_idx, worker_id, start_ms, end_ms, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                        .execute(arguments: [runID, seq, a.invocation, a.config, a.worker, a.startMs, a.endMs, a.outcome])
                case .abandoned(let configIndex, let invocation, let reason):
                    let seq = try Self.nextSeq(db, "abandoned", runID)
                    try db.cachedStatement(sql: "INSERT INTO abandoned (run_id, seq, invocation_id, config_idx, reason) VALUES (?, ?, ?, ?, ?)")
                        .execute(arguments: [runID, seq, invocation, configIndex, reason])
                case .counters(let configIndex, let failed, let reassigned):
                    try db.cachedStatement(sql: "UPDATE config SET failed = ?, reassigned = ? WHERE run_id = ? AND idx = ?")
                        .execute(arguments: [failed, reassigned, runID, configIndex])
                }
            }
        }
    }

    /// A result's JSON columns.
    private struct EncodedResult {
        var limits: String
        var histogram: String
        var spans: String?
        init(_ result: InvocationResult, _ limits: WorkerLimits) throws {
            self.limits = String(decoding: try RunStore.encoder.encode(limits), as: UTF8.self)
            histogram = try PairsJSON.histogram(result.histogram) ?? String(decoding: try RunStore.encoder.encode(result.histogram), as: UTF8.self)
            spans = result.callSpansUs.map(PairsJSON.pairs)
        }
    }

    private static func nextSeq(_ db: Database, _ table: String, _ runID: String) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT COALESCE(MAX(seq), 0) + 1 FROM \(table) WHERE run_id = ?"), arguments: [runID]) ?? 1
    }

    private static func insert(_ db: Database, runID: String, configIndex: Int, result: InvocationResult, encoded e: EncodedResult,
                               workerID: String) throws {
        let overhead = result.workerOverheadUs.flatMap { $0.count == 2 ? $0 : nil }
        let seq = try nextSeq(db, "invocation", runID)
        try db.cachedStatement(sql: """
            INSERT INTO invocation (run_id, seq, invocation_id, config_idx, worker_id, received_at, duration_ms, init_ms, list_ms,
                                    calls, errors, retries, cpu_ms, max_memory_bytes, throttled_ms, limits_json, latency_histogram_json,
                                    calls_measured, function_error_type, function_error_message, billed_ms, call_spans_json,
                                    overhead_start_us, overhead_finish_us)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [runID, seq, result.invocationId, configIndex, workerID, Date().timeIntervalSince1970,
                                     result.durationMs, result.initMs, result.listMs, result.calls, result.errors.values.reduce(0, +),
                                     result.retries, result.cpuMs, result.maxMemoryBytes, result.throttledMs, e.limits, e.histogram,
                                     result.callsMeasured, result.functionError?.type, result.functionError?.message, result.billedMs, e.spans,
                                     overhead.map { Int64($0[0]) }, overhead.map { Int64($0[1]) }])
        for (code, count) in result.errors.sorted(by: { $0.key < $1.key }) {
            try db.cachedStatement(sql: "INSERT INTO invocation_error (run_id, seq, code, count) VALUES (?, ?, ?, ?)")
                .execute(arguments: [runID, seq, code, count])
        }
    }

    /// A stored histogram: the fast path for the text this store writes, JSONDecoder for anything else.
    static func histogram(_ text: String) throws -> HistogramSnapshot {
        if let h = PairsJSON.parseHistogram(text) { return h }
        return try decoder.decode(HistogramSnapshot.self, from: Data(text.utf8))
    }

    static func spans(_ text: String?) throws -> [[UInt32]]? {
        guard let text else { return nil }
        if let pairs = PairsJSON.parsePairs(text), pairs.allSatisfy({ $0.allSatisfy { $0 <= UInt32.max } }) {
            return pairs.map { $0.map { UInt32($0) } }
        }
        return try decoder.decode([[UInt32]].self, from: Data(text.utf8))
    }

    /// Closes a run: its final status (and error), the final plan (with the sizes that ran
    /// oversubscribed), and each configuration's merged latency histogram.
    /// `finishedAt`: the run's own end (so the stored report says what the run's JSON said), else now.
    /// `emulation`: the emulation as the run ended (a live CPU scale's summary added), else as it began.
    package func finish(runID: String, status: String, error: String? = nil, plan: RunReport.Plan? = nil, finishedAt: Date? = nil,
                        emulation: RunReport.Emulation? = nil) throws {
        let planJSON = try plan.map { String(decoding: try Self.encoder.encode($0), as: UTF8.self) }
        let emulationJSON = try emulation.map { String(decoding: try Self.encoder.encode($0), as: UTF8.self) }
        try pool.write { db in
            try db.execute(sql: "UPDATE run SET status = ?, error = ?, finished_at = ?, plan_json = COALESCE(?, plan_json), emulation_json = COALESCE(?, emulation_json) WHERE id = ?",
                           arguments: [status, error, (finishedAt ?? Date()).timeIntervalSince1970, planJSON, emulationJSON, runID])
            var merged: [Int: CallRecorder] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT config_idx, latency_histogram_json FROM invocation WHERE run_id = ?", arguments: [runID]) {
                let snapshot = try Self.histogram(row["latency_histogram_json"])
                merged[row["config_idx"], default: CallRecorder()].add(snapshot)
            }
            for (index, recorder) in merged {
                let snapshot = recorder.snapshot()
                let json = try PairsJSON.histogram(snapshot) ?? String(decoding: try Self.encoder.encode(snapshot), as: UTF8.self)
                try db.execute(sql: "UPDATE config SET latency_histogram_json = ? WHERE run_id = ? AND idx = ?", arguments: [json, runID, index])
            }
        }
    }

    /// What a run left behind, for `fanbench resume`.
    package struct Unfinished: Sendable {
        package var runID: String
        /// `complete`, `incomplete` (its coordinator is gone), `running`, `failed`.
        package var status: String
        package var pid: Int
        package var hostname: String
        package var fanbenchVersion: String
        package var endpoint: String
        package var bucket: String
        package var recipe: String?
        /// Invocations with a stored outcome: a result, or given up (abandoned).
        package var done: Set<String>
        /// Each configuration's abandoned and re-assigned counts so far.
        package var counters: [Int: (failed: Int, reassigned: Int)]
        /// Where the stored timeline ends, ms from the run's start.
        package var timelineEndMs: Double
        package var emulationJSON: String?
    }

    package func unfinished(_ id: String) throws -> Unfinished {
        let runID = try resolve(id)
        return try pool.read { db in
            guard let run = try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [runID]) else {
                throw StoreError.unknownRun(runID, in: path)
            }
            var done = Set(try String.fetchAll(db, sql: "SELECT invocation_id FROM invocation WHERE run_id = ?", arguments: [runID]))
            done.formUnion(try String.fetchAll(db, sql: "SELECT invocation_id FROM abandoned WHERE run_id = ?", arguments: [runID]))
            var counters: [Int: (failed: Int, reassigned: Int)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT idx, failed, reassigned FROM config WHERE run_id = ?", arguments: [runID]) {
                counters[row["idx"]] = (row["failed"], row["reassigned"])
            }
            let end = try Double.fetchOne(db, sql: "SELECT MAX(end_ms) FROM attempt WHERE run_id = ?", arguments: [runID]) ?? 0
            return Unfinished(runID: runID, status: Self.status(run), pid: run["pid"], hostname: run["hostname"],
                              fanbenchVersion: run["fanbench_version"], endpoint: run["endpoint"], bucket: run["bucket"],
                              recipe: run["resume_json"], done: done, counters: counters, timelineEndMs: end,
                              emulationJSON: run["emulation_json"])
        }
    }

    /// Takes an unfinished run over for this process (`fanbench resume`): `running` again, under its id.
    package func reopen(_ runID: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE run SET status = 'running', error = NULL, finished_at = NULL, pid = ?, hostname = ? WHERE id = ?",
                           arguments: [Int(getpid()), Self.hostname, runID])
        }
    }

    // MARK: reading

    package func runs() throws -> [Summary] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT r.*, (SELECT COUNT(*) FROM config c WHERE c.run_id = r.id) AS n_configs,
                            (SELECT COUNT(*) FROM invocation i WHERE i.run_id = r.id) AS n_invocations
                FROM run r ORDER BY r.started_at, r.id
                """).map { row in
                Summary(id: row["id"], startedAt: Date(timeIntervalSince1970: row["started_at"]),
                        finishedAt: (row["finished_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                        status: Self.status(row), endpoint: row["endpoint"], bucket: row["bucket"], op: row["op"],
                        configs: row["n_configs"], invocations: row["n_invocations"],
                        plannedInvocations: row["planned_invocations"], emulated: (row["emulation_profile"] as String?) != nil)
            }
        }
    }

    /// The id `latest` stands for, or the id given when it exists.
    package func resolve(_ id: String) throws -> String {
        let found: String? = try pool.read { db in
            id == "latest"
                ? try String.fetchOne(db, sql: "SELECT id FROM run ORDER BY started_at DESC, id DESC LIMIT 1")
                : try String.fetchOne(db, sql: "SELECT id FROM run WHERE id = ?", arguments: [id])
        }
        guard let found else {
            throw StoreError.unknownRun(id, in: path)
        }
        return found
    }

    /// Rebuilds the report of run `id` from its stored invocations, exactly as the run computed it.
    package func report(_ id: String) throws -> RunReport {
        let runID = try resolve(id)
        return try pool.read { db in
            guard let run = try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [runID]) else {
                throw StoreError.unknownRun(runID, in: path)
            }
            let emulation: RunReport.Emulation? = try (run["emulation_json"] as String?).map {
                try Self.decoder.decode(RunReport.Emulation.self, from: Data($0.utf8))
            } ?? (run["emulation_profile"] as String?).map {
                RunReport.Emulation(profile: $0, rttMs: run["emulation_rtt_ms"], jitter: run["emulation_jitter"], tls: run["emulation_tls"])
            }
            // Quotas scaled by the profile's CPU probe are what "enforced" is checked against.
            let cpuScale = emulation?.cpu.flatMap { $0.applied ? $0.scale : nil } ?? 1
            var aggregates: [ConfigAggregate] = []
            var counters: [Int: (failed: Int, reassigned: Int)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM config WHERE run_id = ? ORDER BY idx", arguments: [runID]) {
                let strategy = try Strategy(name: row["strategy"], concurrency: row["concurrency"], function: row["function"])
                let spec = ConfigSpec(index: row["idx"], size: try LambdaSize(memoryMB: row["memory_mb"]), strategy: strategy)
                var aggregate = ConfigAggregate(config: spec)
                aggregate.cpuScale = cpuScale
                aggregates.append(aggregate)
                counters[spec.index] = (row["failed"], row["reassigned"])
            }
            let errors = try Row.fetchAll(db, sql: "SELECT seq, code, count FROM invocation_error WHERE run_id = ?", arguments: [runID])
            var errorsBySeq: [Int: [String: Int]] = [:]
            for e in errors { errorsBySeq[e["seq"], default: [:]][e["code"]] = e["count"] }
            let position = Dictionary(uniqueKeysWithValues: aggregates.enumerated().map { ($1.config.index, $0) })
            var limitsByText: [String: WorkerLimits] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM invocation WHERE run_id = ? ORDER BY seq", arguments: [runID]) {
                let seq: Int = row["seq"]
                let result = InvocationResult(
                    invocationId: row["invocation_id"], durationMs: row["duration_ms"], initMs: row["init_ms"], listMs: row["list_ms"],
                    calls: row["calls"], errors: errorsBySeq[seq] ?? [:], retries: row["retries"],
                    histogram: try Self.histogram(row["latency_histogram_json"]),
                    maxMemoryBytes: row["max_memory_bytes"], cpuMs: row["cpu_ms"], throttledMs: row["throttled_ms"],
                    callsMeasured: row["calls_measured"],
                    functionError: (row["function_error_type"] as String?).map { FunctionError(type: $0, message: row["function_error_message"] ?? "") },
                    billedMs: row["billed_ms"],
                    callSpansUs: try Self.spans(row["call_spans_json"]),
                    workerOverheadUs: Self.overhead(row["overhead_start_us"], row["overhead_finish_us"]))
                // A worker's limits are the same text on each of its rows: decoded once.
                let limitsText: String = row["limits_json"]
                let limits: WorkerLimits
                if let known = limitsByText[limitsText] {
                    limits = known
                } else {
                    limits = try Self.decoder.decode(WorkerLimits.self, from: Data(limitsText.utf8))
                    limitsByText[limitsText] = limits
                }
                guard let i = position[row["config_idx"]] else { continue }
                aggregates[i].add(result, limits: limits)
            }
            for i in aggregates.indices {
                aggregates[i].failed = counters[aggregates[i].config.index]?.failed ?? 0
                aggregates[i].reassigned = counters[aggregates[i].config.index]?.reassigned ?? 0
            }
            let plan = try Self.decoder.decode(RunReport.Plan.self, from: Data((run["plan_json"] as String).utf8))
            let abandoned = try Row.fetchAll(db, sql: "SELECT invocation_id, config_idx, reason FROM abandoned WHERE run_id = ? ORDER BY seq",
                                             arguments: [runID]).compactMap { row -> RunReport.Abandoned? in
                guard let i = position[row["config_idx"]] else { return nil }
                let config = aggregates[i].config
                return RunReport.Abandoned(invocation: row["invocation_id"], memoryMb: config.size.memoryMB,
                                           strategy: config.strategy.description, reason: row["reason"])
            }
            var report = RunReport(
                runId: runID, fanbenchVersion: run["fanbench_version"], status: Self.status(run),
                startedAt: Date(timeIntervalSince1970: run["started_at"]),
                finishedAt: (run["finished_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                host: .init(cores: run["host_cores"], cgroup: run["host_cgroup"]),
                target: .init(endpoint: run["endpoint"], bucket: run["bucket"], prefix: run["prefix"], op: run["op"], emulation: emulation),
                plan: plan, configs: aggregates.map(RunReport.config(from:)))
            report.abandoned = abandoned.isEmpty ? nil : abandoned
            let attempts = try Row.fetchAll(db, sql: "SELECT * FROM attempt WHERE run_id = ? ORDER BY seq", arguments: [runID]).map { row in
                RunReport.Attempt(invocation: row["invocation_id"], worker: row["worker_id"], config: row["config_idx"],
                                  startMs: row["start_ms"], endMs: row["end_ms"], outcome: row["outcome"])
            }
            report.timeline = attempts.isEmpty ? nil : attempts
            return report
        }
    }

    /// SQLite's own consistency check: "ok" when the file is sound.
    package func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }

    /// `running` rows whose coordinator is gone (killed, or the machine lost power) read as `incomplete`.
    static func status(_ row: Row) -> String {
        let status: String = row["status"]
        guard status == "running" else { return status }
        let pid: Int = row["pid"], host: String = row["hostname"]
        if host == hostname {
            return isCoordinatorAlive(pid: pid) ? "running" : "incomplete"
        }
        return "running"
    }

    static func isCoordinatorAlive(pid: Int) -> Bool {
        guard pid > 0, kill(pid_t(pid), 0) == 0 || errno == EPERM else { return false }
        // The pid may have been reused by another program since.
        let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        return cmdline.isEmpty || cmdline.contains("fanbench")
    }

    static let hostname: String = ProcessInfo.processInfo.hostName

    static var encoder: JSONEncoder { JSONCoding.encoder() }
    static var decoder: JSONDecoder { JSONCoding.decoder() }

    static func describe(_ error: any Error) -> String {
        if let e = error as? DatabaseError, e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED {
            return "it is locked by another writer (another fanbench run, or a sqlite3 session with a transaction open) and stayed locked for 10 s"
        }
        if let e = error as? DatabaseError { return e.message ?? "\(e.resultCode)" }
        return "\(error)"
    }
}
