import AsyncHTTPClient
import FanbenchBase
import FanbenchS3
import Foundation
import NIOCore
import NIOHTTP1

/// What a Lambda API call answered with when it was not a success: the HTTP status, Lambda's
/// error type (`ResourceNotFoundException`, `TooManyRequestsException` …) and its message.
package struct LambdaAPIError: Error, Sendable, CustomStringConvertible, UserFacingError {
    package var status: Int
    package var type: String
    package var message: String
    package var operation: String

    package init(status: Int, type: String, message: String, operation: String) {
        self.status = status
        self.type = type
        self.message = message
        self.operation = operation
    }

    package var description: String { "\(operation): \(status) \(type): \(message)" }
    package var userMessage: String { description }
    package var exitStatus: Int32 { 1 }
    /// Worth trying again after a while: throttled, a conflicting update in progress (a function
    /// still Pending), a 5xx, or no answer at all (status 0).
    package var isRetryable: Bool { status == 429 || status >= 500 || status == 0 || type == "ResourceConflictException" }
}

/// A Lambda function's configuration as the API gives it (the fields fanbench reads and sets).
package struct LambdaFunctionConfiguration: Codable, Sendable, Equatable {
    package struct Environment: Codable, Sendable, Equatable {
        package var Variables: [String: String]?
    }
    package var FunctionName: String
    package var FunctionArn: String?
    package var Runtime: String?
    package var Role: String?
    package var Handler: String?
    package var MemorySize: Int?
    package var Timeout: Int?
    package var CodeSha256: String?
    package var CodeSize: Int?
    package var Environment: Environment?
    package var Architectures: [String]?
    package var State: String?
    package var StateReason: String?
    package var LastUpdateStatus: String?
    package var LastUpdateStatusReason: String?
    package var LastModified: String?
}

/// What an Invoke answered with.
package struct LambdaInvokeResponse: Sendable {
    package var payload: [UInt8]
    /// `X-Amz-Function-Error`: `Unhandled` or `Handled` when the function failed.
    package var functionError: String?
    /// `X-Amz-Log-Result`, decoded: the last 4 KB of the invocation's log.
    package var logTail: String?

    package init(payload: [UInt8], functionError: String? = nil, logTail: String? = nil) {
        self.payload = payload
        self.functionError = functionError
        self.logTail = logTail
    }
}

/// The Lambda API (2015-03-31) over HTTPS with SigV4 for the `lambda` service: the control
/// plane calls fanbench deploys with, and Invoke. Built from the documented API, tested
/// against moto's server and `fanbench lambda serve`.
package final class LambdaClient: Sendable {
    package let endpoint: URL
    package let region: String
    private let signer: SigV4Signer
    private let client: HTTPClient
    package static let apiVersion = "2015-03-31"

    /// How long one call may take: an Invoke runs up to the function's timeout (at most 900 s).
    private let callTimeout: Duration

    /// - Parameter endpoint: e.g. `https://lambda.us-east-1.amazonaws.com`, or a local endpoint.
    /// The process-wide HTTP client carries the calls (pooled connections, the system's trust
    /// store): nothing to shut down, whatever path a command leaves by.
    package init(endpoint: URL, region: String, credentials: S3Credentials, callTimeout: Duration = .seconds(960)) {
        self.endpoint = endpoint
        self.region = region
        self.callTimeout = callTimeout
        signer = SigV4Signer(credentials: credentials, region: region, service: "lambda")
        client = HTTPClient.shared
    }

    /// AWS's endpoint for `region`.
    package static func awsEndpoint(region: String) -> URL {
        URL(string: "https://lambda.\(region).amazonaws.com")!
    }

    // MARK: control plane

    /// The function's configuration, or nil when there is no such function.
    package func getFunctionConfiguration(_ name: String) async throws -> LambdaFunctionConfiguration? {
        do {
            return try await call("GetFunctionConfiguration", .GET, "/functions/\(name)/configuration", as: LambdaFunctionConfiguration.self)
        } catch let e as LambdaAPIError where e.status == 404 {
            return nil
        }
    }

    package struct CreateFunction: Encodable, Sendable {
        /// The zip itself (base64, up to 50 MB zipped) or where it was put in S3.
        package struct Code: Encodable, Sendable {
            package var ZipFile: String?
            package var S3Bucket: String?
            package var S3Key: String?
            package var Architectures: [String]?
            package static func zip(_ bytes: [UInt8]) -> Code { Code(ZipFile: Data(bytes).base64EncodedString()) }
            package static func s3(bucket: String, key: String) -> Code { Code(S3Bucket: bucket, S3Key: key) }
        }
        package var FunctionName: String
        package var Runtime = "provided.al2023"
        package var Role: String
        package var Handler = "bootstrap"
        package var Code: Code
        package var Description: String
        package var MemorySize: Int
        package var Timeout: Int
        package var Environment: LambdaFunctionConfiguration.Environment
        package var Architectures: [String]
        package var Publish = false
    }

    package func createFunction(_ request: CreateFunction) async throws -> LambdaFunctionConfiguration {
        try await call("CreateFunction", .POST, "/functions", body: request, as: LambdaFunctionConfiguration.self)
    }

    package func updateFunctionCode(_ name: String, code: CreateFunction.Code, architecture: String) async throws -> LambdaFunctionConfiguration {
        var body = code
        body.Architectures = [architecture]
        return try await call("UpdateFunctionCode", .PUT, "/functions/\(name)/code", body: body, as: LambdaFunctionConfiguration.self)
    }

    package struct UpdateConfiguration: Encodable, Sendable {
        package var Role: String?
        package var MemorySize: Int?
        package var Timeout: Int?
        package var Environment: LambdaFunctionConfiguration.Environment?
        package var Runtime: String?
        package var Handler: String?
        package init() {}
    }

    package func updateFunctionConfiguration(_ name: String, _ update: UpdateConfiguration) async throws -> LambdaFunctionConfiguration {
        try await call("UpdateFunctionConfiguration", .PUT, "/functions/\(name)/configuration", body: update,
                       as: LambdaFunctionConfiguration.self)
    }

    package func deleteFunction(_ name: String) async throws {
        _ = try await raw("DeleteFunction", .DELETE, "/functions/\(name)", query: [], body: nil)
    }

    private struct FunctionList: Decodable {
        var Functions: [LambdaFunctionConfiguration]?
        var NextMarker: String?
    }

    /// Every function of the account in this region (all pages).
    package func listFunctions() async throws -> [LambdaFunctionConfiguration] {
        var all: [LambdaFunctionConfiguration] = []
        var marker: String?
        repeat {
            var query = [(name: "MaxItems", value: "50")]
            if let marker { query.append(("Marker", marker)) }
            let page = try await call("ListFunctions", .GET, "/functions/", query: query, as: FunctionList.self)
            all += page.Functions ?? []
            marker = page.NextMarker.flatMap { $0.isEmpty ? nil : $0 }
        } while marker != nil
        return all
    }

    // MARK: Invoke

    /// A synchronous Invoke (`RequestResponse`) with the log tail. Lambda's own errors (throttled,
    /// not found, too large …) throw `LambdaAPIError`; a function's error comes back in
    /// `functionError`.
    package func invoke(_ name: String, payload: [UInt8]) async throws -> LambdaInvokeResponse {
        let response = try await raw("Invoke", .POST, "/functions/\(name)/invocations", query: [], body: payload,
                                     headers: [("X-Amz-Invocation-Type", "RequestResponse"), ("X-Amz-Log-Type", "Tail")])
        let tail = response.headers.first(name: "X-Amz-Log-Result").flatMap { Data(base64Encoded: $0) }
            .map { String(decoding: $0, as: UTF8.self) }
        return LambdaInvokeResponse(payload: response.body, functionError: response.headers.first(name: "X-Amz-Function-Error"),
                                    logTail: tail)
    }

    // MARK: the wire

    private struct Raw {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    private func call<Response: Decodable>(_ operation: String, _ method: HTTPMethod, _ path: String,
                                           query: [(name: String, value: String)] = [], as: Response.Type) async throws -> Response {
        try decode(try await raw(operation, method, path, query: query, body: nil), operation)
    }

    private func call<Request: Encodable, Response: Decodable>(_ operation: String, _ method: HTTPMethod, _ path: String,
                                                              body: Request, as: Response.Type) async throws -> Response {
        let data = try JSONEncoder().encode(body)
        return try decode(try await raw(operation, method, path, query: [], body: Array(data)), operation)
    }

    private func decode<Response: Decodable>(_ raw: Raw, _ operation: String) throws -> Response {
        do {
            return try JSONDecoder().decode(Response.self, from: Data(raw.body))
        } catch {
            throw LambdaAPIError(status: raw.status, type: "InvalidResponse",
                                 message: "the endpoint's answer is not Lambda's (\(String(decoding: raw.body.prefix(200), as: UTF8.self)))",
                                 operation: operation)
        }
    }

    private func raw(_ operation: String, _ method: HTTPMethod, _ path: String, query: [(name: String, value: String)],
                     body: [UInt8]?, headers extra: [(String, String)] = []) async throws -> Raw {
        let fullPath = endpoint.path.trimmingSuffix("/") + "/" + Self.apiVersion + path
        let wirePath = URIEncoding.encode(fullPath, keepSlash: true)
        let host = endpoint.port.map { "\(endpoint.host ?? ""):\($0)" } ?? (endpoint.host ?? "")
        var headers: [(name: String, value: String)] = [("host", host)]
        for (n, v) in extra { headers.append((n, v)) }
        let bytes = body ?? []
        if body != nil { headers.append(("content-type", "application/json")) }
        if let token = signer.credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        let date = AmzDate.now()
        headers.append(("x-amz-date", date.dateTime))
        let signature = signer.signExactly(method: method.rawValue, canonicalURI: SigV4Verifier.canonicalURI(wirePath), query: query,
                                           headers: headers, payloadHash: sha256Hex(bytes), date: date)
        let queryText = query.isEmpty ? "" : "?" + query.map { URIEncoding.encode($0.name) + "=" + URIEncoding.encode($0.value) }.joined(separator: "&")
        var request = HTTPClientRequest(url: "\(endpoint.scheme ?? "https")://\(host)\(wirePath)\(queryText)")
        request.method = method
        for (n, v) in signature.headers where n != "host" { request.headers.add(name: n, value: v) }
        if body != nil {
            request.body = .bytes(ByteBuffer(bytes: bytes))
            request.headers.add(name: "content-length", value: String(bytes.count))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .init(callTimeout))
        } catch {
            throw LambdaAPIError(status: 0, type: "ConnectionError", message: "cannot reach \(endpoint.absoluteString) (\(error)): check --lambda-endpoint (or AWS_ENDPOINT_URL_LAMBDA), --region and the network",
                                 operation: operation)
        }
        let collected = try await response.body.collect(upTo: 16 << 20)
        let out = Raw(status: Int(response.status.code), headers: response.headers, body: Array(collected.readableBytesView))
        guard (200..<300).contains(out.status) else { throw Self.apiError(out, operation) }
        return out
    }

    /// Lambda's error: the type from `x-amzn-ErrorType` (up to its first `:`), else the body's
    /// `__type`/`Type`/`code`; the message from the body's `message`/`Message`.
    private static func apiError(_ raw: Raw, _ operation: String) -> LambdaAPIError {
        let object = (try? JSONSerialization.jsonObject(with: Data(raw.body))) as? [String: Any] ?? [:]
        var type = raw.headers.first(name: "x-amzn-ErrorType").map { String($0.split(separator: ":").first ?? "") }
        if type == nil || type!.isEmpty {
            type = (object["__type"] as? String ?? object["code"] as? String ?? object["Type"] as? String).map {
                String($0.split(separator: "#").last ?? "")
            }
        }
        let message = object["message"] as? String ?? object["Message"] as? String
            ?? String(decoding: raw.body.prefix(300), as: UTF8.self)
        return LambdaAPIError(status: raw.status, type: type ?? "HTTP\(raw.status)", message: message, operation: operation)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }
}
