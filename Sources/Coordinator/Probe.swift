import Foundation
import FanbenchBase
import FanbenchProtocol
import FanbenchS3
import FanbenchWorker

/// A pass over a bucket from this process: list, then the per-key call on every key with one
/// strategy; timings and CPU per call. The building block of `fanbench probe` and the
/// client benchmark (the fan-out run adds workers, caps and reports on top).
package enum Probe {
    package struct Options: Sendable {
        package var bucket: String
        package var prefix: String?
        package var operation: ObjectOperation = .getObjectAcl
        package var strategy: Strategy = .serial
        package var passes: Int = 3
        /// Stop after this many keys (nil: all).
        package var keyLimit: Int?

        package init(bucket: String) { self.bucket = bucket }
    }

    package struct Pass: Sendable {
        package var index: Int
        package var listMs: Double
        package var listPages: Int
        package var keys: Int
        package var calls: CallRecorder
        package var callsWallMs: Double
        package var cpuUserUs: Int
        package var cpuSystemUs: Int

        package var callsPerSecond: Double { callsWallMs > 0 ? Double(calls.calls) / (callsWallMs / 1000) : 0 }
        package var cpuPerCallUs: Double { calls.calls > 0 ? Double(cpuUserUs + cpuSystemUs) / Double(calls.calls) : 0 }
    }

    package static func run(configuration: S3ClientConfiguration, options: Options,
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

extension Probe.Pass {
    /// One line for a person.
    package var text: String {
        let p = self
        func ms(_ v: Double) -> String { String(format: "%.2f", v) }
        let errors = p.calls.errors.isEmpty ? "0" : p.calls.errors.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ",")
        return "pass \(p.index): list \(ms(p.listMs)) ms (\(p.listPages) page\(p.listPages == 1 ? "" : "s"), \(p.keys) keys) · "
            + "\(p.calls.calls) calls in \(ms(p.callsWallMs)) ms, \(String(format: "%.0f", p.callsPerSecond)) calls/s · "
            + "call p50 \(ms(p.calls.percentileMs(50))) p99 \(ms(p.calls.percentileMs(99))) max \(ms(p.calls.percentileMs(100))) ms · "
            + "CPU \(String(format: "%.1f", p.cpuPerCallUs)) µs/call · errors \(errors) · retries \(p.calls.retries)"
    }

    /// One JSON object.
    package func json(strategy: Strategy, operation: ObjectOperation) -> String {
        let p = self
        let object: [String: Any] = [
            "pass": p.index, "strategy": strategy.name, "concurrency": strategy.concurrency, "op": operation.rawValue,
            "list_ms": p.listMs, "keys": p.keys, "calls": p.calls.calls, "calls_wall_ms": p.callsWallMs,
            "calls_per_s": p.callsPerSecond, "cpu_user_us": p.cpuUserUs, "cpu_system_us": p.cpuSystemUs,
            "cpu_us_per_call": p.cpuPerCallUs, "p50_ms": p.calls.percentileMs(50), "p99_ms": p.calls.percentileMs(99),
            "max_ms": p.calls.percentileMs(100), "errors": p.calls.errors, "retries": p.calls.retries,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
