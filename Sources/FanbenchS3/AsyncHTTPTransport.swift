import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// AsyncHTTPClient (SwiftNIO) behind `S3Transport`: non-blocking, one event-loop thread,
/// a connection pool sized to the in-flight limit, HTTP/1.1 keep-alive.
public final class AsyncHTTPTransport: S3Transport {
    private let client: HTTPClient
    private let group: MultiThreadedEventLoopGroup
    private let requestTimeout: TimeAmount

    public init(configuration: TransportConfiguration, eventLoopThreads: Int = 1) throws(S3Error) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = configuration.caBundlePath {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            } catch {
                throw S3Error(kind: .tls, code: "TLSError", message: "cannot read CA bundle \(ca): \(error)")
            }
        }
        var config = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .milliseconds(Int64(configuration.connectTimeout.roundedUpMilliseconds)),
                           read: .milliseconds(Int64(configuration.requestTimeout.roundedUpMilliseconds))),
            connectionPool: .init(idleTimeout: .seconds(60),
                                  concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnections),
            decompression: .disabled
        )
        config.httpVersion = .http1Only
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, eventLoopThreads))
        client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: config)
        requestTimeout = .milliseconds(Int64(configuration.requestTimeout.roundedUpMilliseconds))
    }

    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        var r = HTTPClientRequest(url: request.url)
        r.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { r.headers.add(name: name, value: value) }
        if !request.body.isEmpty || request.method == "PUT" || request.method == "POST" {
            r.body = .bytes(ByteBuffer(bytes: request.body))
        }
        do {
            let response = try await client.execute(r, timeout: requestTimeout)
            let status = Int(response.status.code)
            let headers = response.headers.map { (name: $0.name.lowercased(), value: $0.value) }
            let isError = status >= 300
            if request.discardResponseBody && !isError {
                var length = 0
                for try await chunk in response.body { length += chunk.readableBytes }
                return HTTPResponse(status: status, headers: headers, body: [], bodyLength: length)
            }
            var body: [UInt8] = []
            var length = 0
            for try await chunk in response.body {
                length += chunk.readableBytes
                let room = isError ? max(0, maxErrorBodyBytes - body.count) : chunk.readableBytes
                body.append(contentsOf: chunk.readableBytesView.prefix(room))
            }
            return HTTPResponse(status: status, headers: headers, body: body, bodyLength: length)
        } catch let error as S3Error {
            throw error
        } catch {
            throw Self.classify(error)
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
        try? await group.shutdownGracefully()
    }

    /// Maps AsyncHTTPClient and NIO failures onto S3Error kinds.
    static func classify(_ error: any Error) -> S3Error {
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout, .readTimeout, .writeTimeout, .deadlineExceeded:
                return S3Error(kind: .timeout, code: "Timeout", message: "\(e)")
            case .remoteConnectionClosed:
                return S3Error(kind: .connectionReset, code: "ConnectionReset", message: "\(e)")
            case .invalidURL, .emptyHost, .emptyScheme:
                return S3Error(kind: .invalidRequest, code: "InvalidURL", message: "\(e)")
            default:
                break
            }
        }
        if let e = error as? IOError {
            switch e.errnoCode {
            case ECONNREFUSED: return S3Error(kind: .connectionRefused, code: "ConnectionRefused", message: "\(e)")
            case ECONNRESET, EPIPE: return S3Error(kind: .connectionReset, code: "ConnectionReset", message: "\(e)")
            default: break
            }
        }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            return S3Error(kind: .tls, code: "TLSError", message: "\(error)")
        }
        if error is NIOConnectionError {
            let text = "\(error)"
            if text.contains("refused") || text.contains("ECONNREFUSED") || text.contains("errno: 111") {
                return S3Error(kind: .connectionRefused, code: "ConnectionRefused", message: text)
            }
            if text.contains("resolve") || text.contains("DNS") {
                return S3Error(kind: .dns, code: "DNSError", message: text)
            }
            return S3Error(kind: .connectionRefused, code: "ConnectFailed", message: text)
        }
        if error is NIOConnectionError || error is SocketAddressError {
            return S3Error(kind: .dns, code: "DNSError", message: "\(error)")
        }
        if error is ChannelError {
            return S3Error(kind: .connectionReset, code: "ConnectionReset", message: "\(error)")
        }
        return S3Error(kind: .transport, code: "TransportError", message: "\(error)")
    }
}
