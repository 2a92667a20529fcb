import FanbenchBase
import FanbenchProtocol
import FanbenchS3
import Foundation
import NIOConcurrencyHelpers

/// Runs per-key calls with one strategy, keeping its clients warm across batches as a
/// Lambda's module-level client is: blocking libcurl clients on dedicated OS threads for
/// `serial` and `threads:N`, AsyncHTTPClient for `async:N`.
package final class CallRunner: Sendable {
    package let strategy: Strategy
    private let blockingClients: [BlockingS3Client]
    private let asyncClient: S3Client?

    package init(strategy: Strategy, configuration: S3ClientConfiguration) throws {
        self.strategy = strategy
        switch strategy {
        case .serial, .threads:
            blockingClients = try (0..<strategy.concurrency).map { _ in try BlockingS3Client(configuration: configuration) }
            asyncClient = nil
        case .async(let n):
            blockingClients = []
            let transport = try AsyncHTTPTransport(configuration: configuration.transportConfiguration(maxConnections: n))
            asyncClient = S3Client(configuration: configuration, transport: transport)
        case .function(let name):
            throw FanbenchError("function:\(name) runs through the Runtime API, not the S3 executor")
        }
    }

    /// Lists the bucket as the strategy's own client would (the seed's handler lists first).
    package func list(bucket: String, prefix: String?) async throws -> S3Listing {
        if let asyncClient { return try await asyncClient.listAll(bucket: bucket, prefix: prefix) }
        let client = blockingClients[0]
        return try await onThreads(1) { _ in Result { () throws(S3Error) in try client.listAll(bucket: bucket, prefix: prefix) } }[0].get()
    }

    /// Makes `operation` on every key and records each call.
    package func run(_ operation: ObjectOperation, bucket: String, keys: [String], progress: NIOLockedValueBox<Int>? = nil) async -> CallRecorder {
        let next = NIOLockedValueBox(0)
        @Sendable func take() -> String? {
            next.withLockedValue { i in
                guard i < keys.count else { return nil }
                defer { i += 1 }
                return keys[i]
            }
        }
        var total = CallRecorder()
        if let asyncClient {
            await withTaskGroup(of: CallRecorder.self) { group in
                for _ in 0..<min(strategy.concurrency, max(1, keys.count)) {
                    group.addTask {
                        var recorder = CallRecorder()
                        while let key = take() {
                            let start = monotonicNanoseconds()
                            do throws(S3Error) {
                                let retries = try await operation.call(asyncClient, bucket: bucket, key: key)
                                recorder.record(startNs: start, endNs: monotonicNanoseconds(), retries: retries)
                            } catch {
                                recorder.record(startNs: start, endNs: monotonicNanoseconds(), retries: error.retries, errorCode: error.code)
                            }
                            progress?.withLockedValue { $0 += 1 }
                        }
                        return recorder
                    }
                }
                for await r in group { total.merge(r) }
            }
            return total
        }
        let clients = blockingClients
        let recorders = await onThreads(min(clients.count, max(1, keys.count))) { index in
            var recorder = CallRecorder()
            let client = clients[index]
            while let key = take() {
                let start = monotonicNanoseconds()
                do throws(S3Error) {
                    let retries = try operation.call(client, bucket: bucket, key: key)
                    recorder.record(startNs: start, endNs: monotonicNanoseconds(), retries: retries)
                } catch {
                    recorder.record(startNs: start, endNs: monotonicNanoseconds(), retries: error.retries, errorCode: error.code)
                }
                progress?.withLockedValue { $0 += 1 }
            }
            return recorder
        }
        for r in recorders { total.merge(r) }
        return total
    }

    package func shutdown() async {
        await asyncClient?.transport.shutdown()
    }
}

/// Runs `body` on `count` new OS threads (blocking work never runs on the cooperative pool)
/// and returns their results in index order.
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) async -> [T] {
    guard count > 0 else { return [] }  // no thread would ever resume the continuation
    return await withCheckedContinuation { (continuation: CheckedContinuation<[T], Never>) in
        let state = NIOLockedValueBox<(results: [T?], remaining: Int)>((Array(repeating: nil, count: count), count))
        for index in 0..<count {
            let thread = Thread {
                let value = body(index)
                let done: [T]? = state.withLockedValue { s in
                    s.results[index] = value
                    s.remaining -= 1
                    return s.remaining == 0 ? s.results.map { $0! } : nil
                }
                if let done { continuation.resume(returning: done) }
            }
            thread.stackSize = 512 * 1024
            thread.start()
        }
    }
}
