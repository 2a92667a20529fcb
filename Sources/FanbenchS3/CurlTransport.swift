import NIOConcurrencyHelpers
import NIOPosix

/// libcurl behind the async `S3Transport` protocol: blocking easy handles, each used by one
/// thread of a dedicated pool (never the cooperative pool or an event loop), connections kept alive.
/// For blocking callers (the serial and threads strategies) use `CurlEasy` or `BlockingS3Client` directly.
public final class CurlTransport: S3Transport {
    private let configuration: TransportConfiguration
    private let threadPool: NIOThreadPool
    private let idle: NIOLockedValueBox<[CurlEasy]>

    public init(configuration: TransportConfiguration) throws(S3Error) {
        self.configuration = configuration
        var handles: [CurlEasy] = []
        for _ in 0..<configuration.maxConnections {
            handles.append(try CurlEasy(configuration: configuration))
        }
        idle = NIOLockedValueBox(handles)
        threadPool = NIOThreadPool(numberOfThreads: configuration.maxConnections)
        threadPool.start()
    }

    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await threadPool.runIfActive { [idle, configuration] in
            // As many handles as threads: a thread always finds one free; make one if not.
            let easy = try idle.withLockedValue { $0.popLast() } ?? CurlEasy(configuration: configuration)
            defer { idle.withLockedValue { $0.append(easy) } }
            return try easy.perform(request)
        }
    }

    public func shutdown() async {
        try? await threadPool.shutdownGracefully()
        idle.withLockedValue { $0.removeAll() }
    }
}
