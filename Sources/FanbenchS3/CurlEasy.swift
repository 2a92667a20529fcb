import CCurl

private let curlGlobalInit: Void = {
    curl_global_init(Int(CURL_GLOBAL_DEFAULT))
}()

/// One libcurl easy handle: a blocking HTTP client that keeps its connection alive
/// between calls. Not thread-safe: one thread uses it at a time (pools hand it out exclusively).
public final class CurlEasy: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    private let sink = ResponseSink()
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let configuration: TransportConfiguration

    public init(configuration: TransportConfiguration) throws(S3Error) {
        _ = curlGlobalInit
        guard let h = curl_easy_init() else {
            throw S3Error(kind: .transport, code: "CurlInitFailed", message: "libcurl could not create a handle")
        }
        handle = h
        self.configuration = configuration
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let opaque = Unmanaged.passUnretained(sink).toOpaque()
        fb_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        fb_curl_setopt_long(h, CURLOPT_TCP_NODELAY, 1)
        fb_curl_setopt_long(h, CURLOPT_PATH_AS_IS, 1)
        // S3 calls go straight to the endpoint; an empty proxy also stops libcurl from reading
        // the *_proxy variables on every request.
        fb_curl_setopt_string(h, CURLOPT_PROXY, "")
        fb_curl_setopt_long(h, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        fb_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, configuration.connectTimeout.roundedUpMilliseconds)
        fb_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, configuration.requestTimeout.roundedUpMilliseconds)
        fb_curl_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer)
        fb_curl_setopt_write_function(h, curlWriteCallback)
        fb_curl_setopt_pointer(h, CURLOPT_WRITEDATA, opaque)
        fb_curl_setopt_header_function(h, curlHeaderCallback)
        fb_curl_setopt_pointer(h, CURLOPT_HEADERDATA, opaque)
        if let ca = configuration.caBundlePath {
            fb_curl_setopt_string(h, CURLOPT_CAINFO, ca)
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Sends one request on this handle's (kept-alive) connection and waits for the answer.
    public func perform(_ request: HTTPRequest) throws(S3Error) -> HTTPResponse {
        let h = handle
        sink.reset(discard: request.discardResponseBody)
        errorBuffer[0] = 0
        fb_curl_setopt_string(h, CURLOPT_URL, request.url)

        var list: UnsafeMutablePointer<curl_slist>? = nil
        var hasContentType = false
        for (name, value) in request.headers {
            if name == "content-type" { hasContentType = true }
            list = curl_slist_append(list, name + ": " + value)
        }
        list = curl_slist_append(list, "Expect:")
        list = curl_slist_append(list, "Accept:")
        if !hasContentType { list = curl_slist_append(list, "Content-Type:") }
        defer { curl_slist_free_all(list) }
        fb_curl_setopt_slist(h, CURLOPT_HTTPHEADER, list)

        let code: CURLcode = request.body.withUnsafeBufferPointer { body in
            switch request.method {
            case "GET":
                fb_curl_setopt_long(h, CURLOPT_HTTPGET, 1)
                fb_curl_setopt_pointer(h, CURLOPT_CUSTOMREQUEST, nil)
            case "HEAD":
                fb_curl_setopt_long(h, CURLOPT_HTTPGET, 1)
                fb_curl_setopt_long(h, CURLOPT_NOBODY, 1)
                fb_curl_setopt_pointer(h, CURLOPT_CUSTOMREQUEST, nil)
            case "PUT", "POST":
                fb_curl_setopt_off_t(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                fb_curl_setopt_pointer(h, CURLOPT_POSTFIELDS, body.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) } ?? emptyBody)
                fb_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)
            default:
                fb_curl_setopt_long(h, CURLOPT_HTTPGET, 1)
                fb_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)
            }
            return curl_easy_perform(h)
        }
        guard code == CURLE_OK else {
            throw curlError(code)
        }
        var status = 0
        fb_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, rawHeaders: sink.rawHeaders, body: sink.body, bodyLength: sink.bodyLength)
    }

    private func curlError(_ code: CURLcode) -> S3Error {
        let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        let kind: S3Error.Kind
        let name: String
        switch code {
        case CURLE_COULDNT_CONNECT: (kind, name) = (.connectionRefused, "ConnectionRefused")
        case CURLE_OPERATION_TIMEDOUT: (kind, name) = (.timeout, "Timeout")
        case CURLE_COULDNT_RESOLVE_HOST: (kind, name) = (.dns, "DNSError")
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM:
            (kind, name) = (.tls, "TLSError")
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
            (kind, name) = (.connectionReset, "ConnectionReset")
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: (kind, name) = (.invalidRequest, "InvalidURL")
        default: (kind, name) = (.transport, "TransportError")
        }
        return S3Error(kind: kind, code: name, message: "\(detail) (libcurl error \(code.rawValue))")
    }
}

nonisolated(unsafe) private let emptyBody = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)

/// Collects one response: status line, raw header lines, body (kept or only counted).
final class ResponseSink {
    var status = 0
    var rawHeaders: [UInt8] = []
    var body: [UInt8] = []
    var bodyLength = 0
    var discard = false

    func reset(discard: Bool) {
        status = 0
        rawHeaders = []
        body = []
        bodyLength = 0
        self.discard = discard
    }

    func appendBody(_ bytes: UnsafeRawBufferPointer) {
        bodyLength += bytes.count
        let isError = status >= 300 || status == 0
        if !discard || isError {
            let room = isError ? max(0, maxErrorBodyBytes - body.count) : bytes.count
            body.append(contentsOf: bytes.prefix(room))
        }
    }

    func headerLine(_ bytes: UnsafeRawBufferPointer) {
        // "HTTP/1.1 200 OK": a new status line (after 100 Continue or a redirect) starts over.
        if bytes.count >= 12, bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "T"), bytes[4] == UInt8(ascii: "/") {
            rawHeaders.removeAll(keepingCapacity: true)
            if let space = bytes.firstIndex(of: UInt8(ascii: " ")), space + 3 < bytes.count {
                var code = 0
                for b in bytes[(space + 1)...(space + 3)] where b >= 48 && b <= 57 { code = code * 10 + Int(b - 48) }
                status = code
            }
            return
        }
        rawHeaders.append(contentsOf: bytes)
    }
}

/// What both data callbacks do: hand the bytes to the `ResponseSink` behind `userdata`.
private func deliver(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ userdata: UnsafeMutableRawPointer?,
                     to body: (ResponseSink, UnsafeRawBufferPointer) -> Void) -> Int {
    let n = size * count
    guard let userdata else { return 0 }
    body(Unmanaged<ResponseSink>.fromOpaque(userdata).takeUnretainedValue(), UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}

private let curlWriteCallback: fb_curl_data_callback = { deliver($0, $1, $2, $3) { $0.appendBody($1) } }
private let curlHeaderCallback: fb_curl_data_callback = { deliver($0, $1, $2, $3) { $0.headerLine($1) } }

