import AsyncHTTPClient
import FanbenchBase
@testable import FanbenchWorker
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The Runtime API as a runtime sees it: real HTTP/1.1 on loopback, Lambda's status codes and
/// `{errorMessage, errorType}` bodies for every request a runtime can get wrong.
@Suite(.timeLimit(.minutes(1)))
struct RuntimeAPIServerTests {
    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var errorType: String? {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["errorType"] as? String
        }
    }

    func call(_ client: HTTPClient, _ server: RuntimeAPIServer, _ method: HTTPMethod, _ path: String, body: String? = nil,
              headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://\(server.address)\(path)")
        request.method = method
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    func withServer(_ body: (HTTPClient, RuntimeAPIServer) async throws -> Void) async throws {
        let server = try await RuntimeAPIServer.start()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await body(client, server)
        } catch {
            try? await client.shutdown()
            await server.close()
            throw error
        }
        try await client.shutdown()
        await server.close()
    }

    func event(_ id: String) -> RuntimeEvent {
        RuntimeEvent(id: id, body: Array(#"{"keys":["a"]}"#.utf8), deadlineMs: 1_900_000_000_000,
                     functionArn: "arn:aws:lambda:us-east-1:000000000000:function:f", traceId: "Root=1-0-0;Parent=0;Sampled=0")
    }

    static let next = "/2018-06-01/runtime/invocation/next"

    @Test func nextBlocksUntilAnEventAndCarriesLambdasHeaders() async throws {
        try await withServer { client, server in
            let pending = Task { try await call(client, server, .GET, Self.next) }
            // The runtime's first /next ends init; the event is offered only after it.
            guard case .ready = await server.signals.receive(until: .now + .seconds(5)) else {
                Issue.record("no ready signal")
                return
            }
            server.offer(event("req-1"))
            let answer = try await pending.value
            #expect(answer.status == 200)
            #expect(answer.body == #"{"keys":["a"]}"#)
            #expect(answer.headers.first(name: "Lambda-Runtime-Aws-Request-Id") == "req-1")
            #expect(answer.headers.first(name: "Lambda-Runtime-Deadline-Ms") == "1900000000000")
            #expect(answer.headers.first(name: "Lambda-Runtime-Invoked-Function-Arn")?.hasSuffix(":function:f") == true)
            #expect(answer.headers.first(name: "Lambda-Runtime-Trace-Id")?.hasPrefix("Root=") == true)
            #expect(answer.headers.first(name: "Content-Type") == "application/json")
            #expect(answer.headers.first(name: "Content-Length") == "14")
            #expect(server.handedOutAt("req-1") != nil, "the event is in flight, with when it left")
        }
    }

    @Test func responsesAreCheckedAgainstTheInvocationInFlight() async throws {
        try await withServer { client, server in
            server.offer(event("req-2"))
            _ = try await call(client, server, .GET, Self.next)
            // An id that is not in flight: 400 InvalidRequestID.
            let unknown = try await call(client, server, .POST, "/2018-06-01/runtime/invocation/nope/response", body: "{}")
            #expect(unknown.status == 400)
            #expect(unknown.errorType == "InvalidRequestID")
            // The response: 202 {"status":"OK"}.
            let ok = try await call(client, server, .POST, "/2018-06-01/runtime/invocation/req-2/response", body: #"{"done":true}"#)
            #expect(ok.status == 202)
            #expect(ok.body == #"{"status":"OK"}"#)
            // A second answer for it: 403 InvalidStateTransition.
            let again = try await call(client, server, .POST, "/2018-06-01/runtime/invocation/req-2/error", body: "{}")
            #expect(again.status == 403)
            #expect(again.errorType == "InvalidStateTransition")
            // init/error after init: 403 too.
            let lateInit = try await call(client, server, .POST, "/2018-06-01/runtime/init/error", body: "{}")
            #expect(lateInit.status == 403)
            var sawResponse = false
            while let s = await server.signals.receive(until: .now + .milliseconds(200)) {
                if case .response(let id, let body, _, _) = s { sawResponse = id == "req-2" && String(decoding: body, as: UTF8.self) == #"{"done":true}"# }
            }
            #expect(sawResponse)
        }
    }

    @Test func anErrorTakesTheTypeFromTheHeaderOrTheBody() async throws {
        try await withServer { client, server in
            server.offer(event("req-3"))
            _ = try await call(client, server, .GET, Self.next)
            let posted = try await call(client, server, .POST, "/2018-06-01/runtime/invocation/req-3/error",
                                        body: #"{"errorMessage":"bad","errorType":"ValueError"}"#)
            #expect(posted.status == 202)
            server.offer(event("req-4"))
            _ = try await call(client, server, .GET, Self.next)
            _ = try await call(client, server, .POST, "/2018-06-01/runtime/invocation/req-4/error", body: "not json",
                               headers: [("Lambda-Runtime-Function-Error-Type", "Custom.Error")])
            var types: [String: String] = [:]
            while let s = await server.signals.receive(until: .now + .milliseconds(200)) {
                if case .error(let id, let type, _, _, _) = s { types[id] = type }
            }
            #expect(types == ["req-3": "ValueError", "req-4": "Custom.Error"])
        }
    }

    @Test func aBodyOverSixMegabytesIsRefusedAndFailsTheInvocation() async throws {
        try await withServer { client, server in
            server.offer(event("req-5"))
            _ = try await call(client, server, .GET, Self.next)
            let big = String(repeating: "x", count: RuntimeAPIServer.maxPayloadBytes + 1)
            let answer = try await call(client, server, .POST, "/2018-06-01/runtime/invocation/req-5/response", body: big)
            #expect(answer.status == 413)
            #expect(answer.errorType == "RequestEntityTooLarge")
            var failed: String?
            while let s = await server.signals.receive(until: .now + .milliseconds(200)) {
                if case .error(let id, let type, _, _, _) = s, id == "req-5" { failed = type }
            }
            #expect(failed == "Function.ResponseSizeTooLarge")
        }
    }

    @Test func wrongPathsAndMethodsGetLambdasStatusCodes() async throws {
        try await withServer { client, server in
            let wrongMethod = try await call(client, server, .POST, Self.next, body: "{}")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.errorType == "MethodNotAllowed")
            let wrongGet = try await call(client, server, .GET, "/2018-06-01/runtime/invocation/x/response")
            #expect(wrongGet.status == 405)
            let unknown = try await call(client, server, .GET, "/2018-06-01/runtime/invocation")
            #expect(unknown.status == 404)
            #expect(unknown.errorType == "NotFound")
            let elsewhere = try await call(client, server, .GET, "/2015-03-31/functions")
            #expect(elsewhere.status == 404)
        }
    }

    @Test func initErrorBeforeTheFirstNextIsAccepted() async throws {
        try await withServer { client, server in
            let answer = try await call(client, server, .POST, "/2018-06-01/runtime/init/error",
                                        body: #"{"errorMessage":"no config","errorType":"Runtime.ConfigError"}"#)
            #expect(answer.status == 202)
            guard case .initError(let type, _, _) = await server.signals.receive(until: .now + .seconds(5)) else {
                Issue.record("no init error signal")
                return
            }
            #expect(type == "Runtime.ConfigError")
        }
    }
}
