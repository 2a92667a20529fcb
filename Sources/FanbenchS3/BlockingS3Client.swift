#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking S3 client on one libcurl easy handle (one keep-alive connection): for the
/// serial strategy and for each thread of the threads strategy. Use it from one thread at a time.
public final class BlockingS3Client: @unchecked Sendable {
    public let configuration: S3ClientConfiguration
    private let easy: CurlEasy
    private let preparer: S3RequestPreparer
    private let now: @Sendable () -> AmzDate

    public init(configuration: S3ClientConfiguration, now: @escaping @Sendable () -> AmzDate = AmzDate.now) throws(S3Error) {
        self.configuration = configuration
        easy = try CurlEasy(configuration: configuration.transportConfiguration(maxConnections: 1))
        preparer = S3RequestPreparer(configuration: configuration)
        self.now = now
    }

    /// Sends one operation, retrying as the policy says; blocks the calling thread.
    public func perform<Output>(_ operation: S3Operation<Output>) throws(S3Error) -> S3Call<Output> {
        var attempt = 1
        while true {
            do {
                let response = try easy.perform(preparer.prepare(operation.request, date: now()))
                return S3Call(value: try preparer.interpret(response, for: operation), retries: attempt - 1)
            } catch {
                let wait = try configuration.retry.next(after: error, attempt: &attempt, random: Double.random(in: 0..<1))
                let us = wait.components.seconds * 1_000_000 + wait.components.attoseconds / 1_000_000_000_000
                usleep(useconds_t(clamping: us))
            }
        }
    }

    /// Lists every key under `prefix`, following continuation tokens.
    public func listAll(bucket: String, prefix: String? = nil, pageSize: Int? = nil) throws(S3Error) -> S3Listing {
        var pager = S3ListingPager(bucket: bucket, prefix: prefix, pageSize: pageSize)
        while let page = pager.next { pager.received(try perform(page)) }
        return pager.listing
    }
}
