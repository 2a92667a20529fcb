import AsyncHTTPClient
import FanbenchBase
import FanbenchProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// `fanbench-worker` as a Lambda custom runtime (`bootstrap`): when AWS_LAMBDA_RUNTIME_API is
/// set it takes events (`fanbench.event/v1`) from `/next`, runs each with the S3 executor and
/// posts the `InvocationResult` as the response — under fanbench's own Runtime API, to measure
/// Swift through the same door as any other function, and on real Lambda.
package struct LambdaBootstrap: Sendable {
    package let runtimeAPI: String
    package let executor: S3InvocationExecutor
    /// The strategy for events that name none (FANBENCH_STRATEGY, default serial).
    package let strategy: Strategy
    package let logger: Logger

    package init(runtimeAPI: String, executor: S3InvocationExecutor, strategy: Strategy, logger: Logger) {
        self.runtimeAPI = runtimeAPI
        self.executor = executor
        self.strategy = strategy
        self.logger = logger
    }

    /// The bootstrap's environment, read as Lambda gives it; nil when this is not a runtime.
    package static func fromEnvironment(_ env: [String: String], executor: S3InvocationExecutor, logger: Logger) throws(FanbenchError) -> LambdaBootstrap? {
        guard let api = env["AWS_LAMBDA_RUNTIME_API"], !api.isEmpty else { return nil }
        let strategy = try Strategy(parsing: env["FANBENCH_STRATEGY"].flatMap { $0.isEmpty ? nil : $0 } ?? "serial")
        if case .function = strategy { throw FanbenchError("FANBENCH_STRATEGY must be a built-in strategy (serial, threads:N, async:N)", exitCode: 2) }
        return LambdaBootstrap(runtimeAPI: api, executor: executor, strategy: strategy, logger: logger)
    }

    private var base: String { "http://\(runtimeAPI)/2018-06-01/runtime" }

    /// Serves events until the Runtime API goes away (then returns) or the task is cancelled.
    package func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: nil)
        configuration.decompression = .disabled
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await serve(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func serve(_ client: HTTPClient) async throws {
        let decoder = JSONCoding.decoder()
        let encoder = JSONCoding.encoder()
        while !Task.isCancelled {
            let next: HTTPClientResponse
            do {
                next = try await client.execute(HTTPClientRequest(url: base + "/invocation/next"), deadline: .distantFuture)
            } catch {
                logger.info("the Runtime API is gone: \(error)")
                return
            }
            let body = try await next.body.collect(upTo: RuntimeAPIServer.maxPayloadBytes)
            guard next.status == .ok, let id = next.headers.first(name: "Lambda-Runtime-Aws-Request-Id") else {
                throw FanbenchError("the Runtime API answered /next with \(next.status.code) and no request id")
            }
            let event: FunctionEvent
            do {
                event = try decoder.decode(FunctionEvent.self, from: Data(body.readableBytesView))
            } catch {
                try await post(client, "/invocation/\(id)/error", type: "InvalidEvent",
                               json: RuntimeAPIServer.errorJSON("the event is not a fanbench.event/v1 (\(error))", type: "InvalidEvent"))
                continue
            }
            let outcome = await executor.run(event.assign(defaultStrategy: strategy), progress: NIOLockedValueBox(0))
            switch outcome {
            case .result(let result):
                try await post(client, "/invocation/\(id)/response", type: nil, json: String(decoding: try encoder.encode(result), as: UTF8.self))
            case .failed(let failed):
                try await post(client, "/invocation/\(id)/error", type: "Fanbench.InvocationFailed",
                               json: RuntimeAPIServer.errorJSON(failed.reason, type: "Fanbench.InvocationFailed"))
            default:
                try await post(client, "/invocation/\(id)/error", type: "Fanbench.InvocationFailed",
                               json: RuntimeAPIServer.errorJSON("unexpected outcome \(outcome.type)", type: "Fanbench.InvocationFailed"))
            }
        }
    }

    private func post(_ client: HTTPClient, _ path: String, type: String?, json: String) async throws {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let type { request.headers.add(name: "Lambda-Runtime-Function-Error-Type", value: type) }
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await client.execute(request, deadline: .now() + .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 16)
        if response.status.code >= 300 {
            logger.warning("the Runtime API refused \(path): \(response.status.code)")
        }
    }

}
