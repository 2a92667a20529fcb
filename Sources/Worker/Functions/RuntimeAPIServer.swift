import FanbenchBase
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// What the Runtime API tells the function executor, in the order it happened.
package enum RuntimeSignal: Sendable {
    /// The runtime asked for its first event: init is over.
    case ready(at: UInt64)
    /// The invocation's answer, with when its event left on a `/next` answer (`handedOut`)
    /// and when the answer came (`at`).
    case response(id: String, body: [UInt8], handedOut: UInt64, at: UInt64)
    /// `/invocation/{id}/error`, or a response Lambda refuses (too large).
    case error(id: String, type: String, body: [UInt8], handedOut: UInt64, at: UInt64)
    case initError(type: String, body: [UInt8], at: UInt64)
    /// The runtime's process exited (from its waiter), with its wait status decoded as a shell does.
    case exited(generation: Int, status: Int32, signal: Int32?, at: UInt64)
}

/// One event waiting for, or handed out on, a `/next`.
package struct RuntimeEvent: Sendable {
    package var id: String
    package var body: [UInt8]
    package var deadlineMs: Int64
    package var functionArn: String
    package var traceId: String
}

/// The Lambda Runtime API 2018-06-01 (DESIGN.md, Functions), served on loopback to the one
/// sandbox a worker runs: `/next` blocks until the executor offers an event; responses,
/// errors and init errors are checked against the invocation in flight and answered with the
/// status codes and `{errorMessage, errorType}` bodies Lambda's runtime API uses.
package final class RuntimeAPIServer: Sendable {
    /// Lambda's limit on a synchronous response (and so on what a runtime may post), bytes.
    package static let maxPayloadBytes = 6_291_556
    package static let prefix = "/2018-06-01/runtime"

    package let port: Int
    package let signals: Mailbox<RuntimeSignal>
    let state: NIOLockedValueBox<RuntimeAPIState>
    private let channel: any Channel

    private init(port: Int, channel: any Channel, signals: Mailbox<RuntimeSignal>, state: NIOLockedValueBox<RuntimeAPIState>) {
        self.port = port
        self.channel = channel
        self.signals = signals
        self.state = state
    }

    /// Binds 127.0.0.1 on a port of its own.
    package static func start(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RuntimeAPIServer {
        let signals = Mailbox<RuntimeSignal>()
        let state = NIOLockedValueBox(RuntimeAPIState())
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(RuntimeAPIHandler(state: state, signals: signals))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return RuntimeAPIServer(port: channel.localAddress?.port ?? 0, channel: channel, signals: signals, state: state)
    }

    package var address: String { "127.0.0.1:\(port)" }

    /// `errorType` of a Lambda error body, when it is one.
    package static func errorType(in body: [UInt8]) -> String? {
        guard !body.isEmpty, let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return (object["errorType"] as? String).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `errorMessage` of a Lambda error body, else its first 400 bytes as text.
    package static func errorMessage(in body: [UInt8]) -> String? {
        guard !body.isEmpty else { return nil }
        if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let m = object["errorMessage"] as? String {
            return String(m.prefix(1000))
        }
        return String(decoding: body.prefix(400), as: UTF8.self)
    }

    /// Lambda's error body: `{"errorMessage": …, "errorType": …}`.
    package static func errorJSON(_ message: String, type: String) -> String {
        let object = ["errorMessage": message, "errorType": type]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// A new sandbox is starting: forget the previous one's invocation and waiting `/next`s.
    package func reset() {
        let parked = state.withLockedValue { s -> [EventLoopPromise<RuntimeEvent>] in
            defer { s = RuntimeAPIState() }
            return s.parked.map(\.promise)
        }
        for p in parked { p.fail(ChannelError.ioOnClosedChannel) }
        signals.drain()
    }

    /// Offers `event` to the runtime: answered now to a waiting `/next`, else to the next one.
    package func offer(_ event: RuntimeEvent) {
        let waiting = state.withLockedValue { s -> EventLoopPromise<RuntimeEvent>? in
            if s.parked.isEmpty {
                s.queued = event
                return nil
            }
            return s.parked.removeFirst().promise
        }
        waiting?.succeed(event)
    }

    /// The invocation is over on the executor's side (answered, timed out, or its runtime died):
    /// a late post for it gets "already answered".
    package func finish(_ id: String) {
        state.withLockedValue { s in
            if s.inFlight == id { s.inFlight = nil }
            if s.queued?.id == id { s.queued = nil }
            s.markFinished(id)
        }
    }

    /// When the event `id` was written out, while it is in flight.
    package func handedOutAt(_ id: String) -> UInt64? {
        state.withLockedValue { $0.inFlight == id ? $0.handedOutAt : nil }
    }

    package func close() async {
        reset()
        try? await channel.close()
    }
}

struct RuntimeAPIState {
    struct Parked {
        var token: Int
        var promise: EventLoopPromise<RuntimeEvent>
    }

    var queued: RuntimeEvent?
    var parked: [Parked] = []
    var inFlight: String?
    /// When the event in flight was written out (monotonic ns).
    var handedOutAt: UInt64 = 0
    var sawNext = false
    var nextToken = 0
    /// Recently finished request ids, oldest first (bounded), for "already answered".
    var finished: [String] = []

    mutating func markFinished(_ id: String) {
        guard !finished.contains(id) else { return }
        finished.append(id)
        if finished.count > 64 { finished.removeFirst(finished.count - 64) }
    }
}

/// One connection from the runtime. Requests are handled whole (bodies past the 6 MB limit are
/// counted, not kept); `/next` answers when an event is offered.
final class RuntimeAPIHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: NIOLockedValueBox<RuntimeAPIState>
    private let signals: Mailbox<RuntimeSignal>
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var bodyBytes = 0
    /// The token of this connection's parked `/next`, if one waits.
    private var parkedToken: Int?

    init(state: NIOLockedValueBox<RuntimeAPIState>, signals: Mailbox<RuntimeSignal>) {
        self.state = state
        self.signals = signals
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            bodyBytes = 0
        case .body(var buffer):
            bodyBytes += buffer.readableBytes
            if bodyBytes <= RuntimeAPIServer.maxPayloadBytes, let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            handle(context: context, head: head)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let token = parkedToken {
            let promise = state.withLockedValue { s -> EventLoopPromise<RuntimeEvent>? in
                guard let i = s.parked.firstIndex(where: { $0.token == token }) else { return nil }
                return s.parked.remove(at: i).promise
            }
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
        context.fireChannelInactive()
    }

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard path.hasPrefix(RuntimeAPIServer.prefix + "/") else {
            return reply(context, head, .notFound, error: "NotFound", "no such resource: \(path) (the Runtime API lives under \(RuntimeAPIServer.prefix)/)")
        }
        let parts = path.dropFirst(RuntimeAPIServer.prefix.count + 1).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 2 where parts == ["invocation", "next"]:
            guard head.method == .GET else { return methodNotAllowed(context, head, "GET") }
            next(context: context, head: head)
        case 2 where parts == ["init", "error"]:
            guard head.method == .POST else { return methodNotAllowed(context, head, "POST") }
            initError(context: context, head: head)
        case 3 where parts[0] == "invocation" && (parts[2] == "response" || parts[2] == "error") && !parts[1].isEmpty:
            guard head.method == .POST else { return methodNotAllowed(context, head, "POST") }
            post(context: context, head: head, id: parts[1], isError: parts[2] == "error")
        default:
            reply(context, head, .notFound, error: "NotFound", "no such resource: \(path)")
        }
    }

    private func next(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let now = monotonicNanoseconds()
        let promise = context.eventLoop.makePromise(of: RuntimeEvent.self)
        let (first, queued, token) = state.withLockedValue { s -> (Bool, RuntimeEvent?, Int) in
            let first = !s.sawNext
            s.sawNext = true
            if let q = s.queued {
                s.queued = nil
                s.inFlight = q.id
                return (first, q, 0)
            }
            s.nextToken += 1
            s.parked.append(.init(token: s.nextToken, promise: promise))
            return (first, nil, s.nextToken)
        }
        if first { signals.post(.ready(at: now)) }
        if let queued {
            promise.succeed(queued)
        } else {
            parkedToken = token
        }
        let keepAlive = head.isKeepAlive
        promise.futureResult.assumeIsolated().whenComplete { [self] result in
            parkedToken = nil
            guard case .success(let event) = result else { return }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(event.body.count))
            headers.add(name: "Lambda-Runtime-Aws-Request-Id", value: event.id)
            headers.add(name: "Lambda-Runtime-Deadline-Ms", value: String(event.deadlineMs))
            headers.add(name: "Lambda-Runtime-Invoked-Function-Arn", value: event.functionArn)
            headers.add(name: "Lambda-Runtime-Trace-Id", value: event.traceId)
            var buffer = context.channel.allocator.buffer(capacity: event.body.count)
            buffer.writeBytes(event.body)
            // "Event out" is the moment before the write: the runtime's answer (on another
            // connection, maybe another thread) can never be stamped earlier.
            let at = monotonicNanoseconds()
            state.withLockedValue {
                $0.inFlight = event.id
                $0.handedOutAt = at
            }
            write(context, version: head.version, keepAlive: keepAlive, status: .ok, headers: headers, body: buffer)
        }
    }

    private func post(context: ChannelHandlerContext, head: HTTPRequestHead, id: String, isError: Bool) {
        let now = monotonicNanoseconds()
        enum Verdict { case unknown, answered, ok(handedOut: UInt64) }
        let verdict = state.withLockedValue { s -> Verdict in
            if s.inFlight == id {
                s.inFlight = nil
                s.markFinished(id)
                return .ok(handedOut: s.handedOutAt)
            }
            return s.finished.contains(id) ? .answered : .unknown
        }
        let handedOut: UInt64
        switch verdict {
        case .unknown:
            return reply(context, head, .badRequest, error: "InvalidRequestID", "Invalid request ID: \(id.prefix(200)) is not the invocation in flight")
        case .answered:
            return reply(context, head, .forbidden, error: "InvalidStateTransition",
                         "Invalid state transition: invocation \(id.prefix(200)) was already answered")
        case .ok(let at):
            handedOut = at
        }
        if bodyBytes > RuntimeAPIServer.maxPayloadBytes {
            let message = "Response payload size (\(bodyBytes) bytes) exceeded maximum allowed payload size (\(RuntimeAPIServer.maxPayloadBytes) bytes)."
            signals.post(.error(id: id, type: "Function.ResponseSizeTooLarge", body: Array("{\"errorMessage\":\"\(message)\",\"errorType\":\"Function.ResponseSizeTooLarge\"}".utf8),
                                handedOut: handedOut, at: now))
            return reply(context, head, .payloadTooLarge, error: "RequestEntityTooLarge", message)
        }
        if isError {
            let type = head.headers.first(name: "Lambda-Runtime-Function-Error-Type").flatMap { $0.isEmpty ? nil : $0 }
                ?? RuntimeAPIServer.errorType(in: body) ?? "Unhandled"
            signals.post(.error(id: id, type: String(type.prefix(200)), body: body, handedOut: handedOut, at: now))
        } else {
            signals.post(.response(id: id, body: body, handedOut: handedOut, at: now))
        }
        reply(context, head, .accepted, json: #"{"status":"OK"}"#)
    }

    private func initError(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let now = monotonicNanoseconds()
        let allowed = state.withLockedValue { !$0.sawNext }
        guard allowed else {
            return reply(context, head, .forbidden, error: "InvalidStateTransition", "Invalid state transition: init is over (the runtime already called /next)")
        }
        let type = head.headers.first(name: "Lambda-Runtime-Function-Error-Type").flatMap { $0.isEmpty ? nil : $0 }
            ?? RuntimeAPIServer.errorType(in: body) ?? "Runtime.Unknown"
        signals.post(.initError(type: String(type.prefix(200)), body: Array(body.prefix(64 * 1024)), at: now))
        reply(context, head, .accepted, json: #"{"status":"OK"}"#)
    }

    private func methodNotAllowed(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ allowed: String) {
        reply(context, head, .methodNotAllowed, error: "MethodNotAllowed", "\(head.method) is not allowed on \(head.uri.prefix(200)): use \(allowed)")
    }

    private func reply(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, error type: String, _ message: String) {
        reply(context, head, status, json: RuntimeAPIServer.errorJSON(message, type: type))
    }

    private func reply(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, json: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(json.utf8.count))
        var buffer = context.channel.allocator.buffer(capacity: json.utf8.count)
        buffer.writeString(json)
        write(context, version: head.version, keepAlive: head.isKeepAlive, status: status, headers: headers, body: buffer)
    }

    private func write(_ context: ChannelHandlerContext, version: HTTPVersion, keepAlive: Bool, status: HTTPResponseStatus,
                       headers: HTTPHeaders, body: ByteBuffer) {
        var headers = headers
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let done = context.writeAndFlushPromise()
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}

private extension ChannelHandlerContext {
    func writeAndFlushPromise() -> EventLoopPromise<Void> { eventLoop.makePromise() }
}
