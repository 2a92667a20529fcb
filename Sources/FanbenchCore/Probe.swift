import FanbenchS3

/// A pass over a bucket from this process: list, then the per-key call on every key with one
/// strategy; timings and CPU per call. The building block of `fanbench probe` and the
/// client benchmark (the fan-out run adds workers, caps and reports on top).
public enum Probe {
    public struct Options: Sendable {
        public var bucket: String
        public var prefix: String?
        public var operation: ObjectOperation = .getObjectAcl
        public var strategy: Strategy = .serial
        public var passes: Int = 3
        /// Stop after this many keys (nil: all).
        public var keyLimit: Int?

        public init(bucket: String) { self.bucket = bucket }
    }

    public struct Pass: Sendable {
        public var index: Int
        public var listMs: Double
        public var listPages: Int
        public var keys: Int
        public var calls: CallRecorder
        public var callsWallMs: Double
        public var cpuUserUs: Int
        public var cpuSystemUs: Int

        public var callsPerSecond: Double { callsWallMs > 0 ? Double(calls.calls) / (callsWallMs / 1000) : 0 }
        public var cpuPerCallUs: Double { calls.calls > 0 ? Double(cpuUserUs + cpuSystemUs) / Double(calls.calls) : 0 }
    }

    public static func run(configuration: S3ClientConfiguration, options: Options,
                           onPass: (Pass) -> Void) async throws {
        guard options.passes >= 1 else { throw FanbenchError("--passes must be 1 or more", exitCode: 2) }
        let runner = try CallRunner(strategy: options.strategy, configuration: configuration)
        do {
            for index in 1...options.passes {
                let listStart = monotonicNanoseconds()
                let listing = try await runner.list(bucket: options.bucket, prefix: options.prefix)
                let listMs = Double(monotonicNanoseconds() - listStart) / 1e6
                var keys = listing.objects.map(\.key)
                if let limit = options.keyLimit { keys = Array(keys.prefix(limit)) }
                guard !keys.isEmpty else {
                    throw FanbenchError("bucket '\(options.bucket)' has no keys\(options.prefix.map { " under prefix '\($0)'" } ?? ""): fill it with `fanbench seed --bucket \(options.bucket) --objects 100`")
                }
                let cpu0 = processCPUMicroseconds()
                let t0 = monotonicNanoseconds()
                let recorder = await runner.run(options.operation, bucket: options.bucket, keys: keys)
                let wallMs = Double(monotonicNanoseconds() - t0) / 1e6
                let cpu1 = processCPUMicroseconds()
                onPass(Pass(index: index, listMs: listMs, listPages: listing.pages, keys: keys.count, calls: recorder,
                            callsWallMs: wallMs, cpuUserUs: cpu1.user - cpu0.user, cpuSystemUs: cpu1.system - cpu0.system))
            }
        } catch {
            await runner.shutdown()
            throw error
        }
        await runner.shutdown()
    }
}
