import FanbenchBase
import FanbenchS3

/// Fills a bucket with N objects, in parallel, idempotently: objects already there with the
/// right size are left alone.
package enum Seeder {
    package struct Result: Sendable {
        package var created: Int
        package var existing: Int
        package var seconds: Double
    }

    /// The key of object `index` of `count` under `prefix`: `<prefix>obj-000042`.
    package static func key(_ index: Int, count: Int, prefix: String) -> String {
        let width = max(6, String(max(0, count - 1)).count)
        let digits = String(index)
        return prefix + "obj-" + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// A new bucket's writes can fail for some seconds on a store still making its volumes
    /// (SeaweedFS answers 500 "volume N not found" while its volume server creates the volumes
    /// the master has just assigned — unevenly: writes to some volumes go through while others
    /// are still missing; seen for ~8 s). So the first missing object is written alone, and
    /// every write — that one and the rest, in parallel once one has gone through — is tried
    /// again every `pause` while it fails with a retryable error, until `window`
    /// after the first write began.
    package static func seed(client: S3Client, bucket: String, objects count: Int, size: Int, prefix: String,
                            inFlight: Int = 32, window: Duration = .seconds(30),
                            pause: Duration = .seconds(1)) async throws -> Result {
        guard count >= 0 else { throw FanbenchError("--objects must be 0 or more", exitCode: 2) }
        guard size >= 0 else { throw FanbenchError("--size must be 0 or more bytes", exitCode: 2) }
        let start = monotonicNanoseconds()
        _ = try await client.perform(.createBucket(bucket))
        let present = try await client.listAll(bucket: bucket, prefix: prefix).objects
        var sizes: [String: Int64] = [:]
        for o in present { sizes[o.key] = o.size }
        let missing = (0..<count).map { key($0, count: count, prefix: prefix) }.filter { sizes[$0] != Int64(size) }
        let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let deadline = ContinuousClock.now + window
        @Sendable func put(_ key: String) async throws {
            while true {
                do {
                    _ = try await client.perform(.putObject(bucket: bucket, key: key, body: body))
                    return
                } catch {
                    guard error.isRetryable, ContinuousClock.now + pause < deadline else { throw error }
                    try await Task.sleep(for: pause)
                }
            }
        }
        if let first = missing.first { try await put(first) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var iterator = missing.dropFirst().makeIterator()
            for _ in 0..<max(1, inFlight) {
                guard let k = iterator.next() else { break }
                group.addTask { try await put(k) }
            }
            while try await group.next() != nil {
                if let k = iterator.next() { group.addTask { try await put(k) } }
            }
        }
        return Result(created: missing.count, existing: count - missing.count,
                      seconds: Double(monotonicNanoseconds() - start) / 1e9)
    }
}
