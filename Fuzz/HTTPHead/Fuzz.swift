import FuzzSupport
@testable import FanbenchS3
import FanbenchProxy

/// Response heads as libcurl hands them over, line by line (status lines, `Name: value`
/// lines, junk), then every header read the client makes; and request heads as the fault-
/// injecting proxy peeks at them. Nothing may trap.
@_cdecl("FuzzHTTPHead_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fanbench_fuzz_main(argc, argv) { data, count in fuzz(data!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    let sink = ResponseSink()
    sink.reset(discard: false)
    var start = 0
    while start < bytes.count {
        let end = (bytes[start...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? bytes.count
        bytes[start..<end].withUnsafeBytes { sink.headerLine($0) }
        start = end
    }
    bytes.withUnsafeBytes { sink.appendBody($0) }
    let response = HTTPResponse(status: sink.status, rawHeaders: sink.rawHeaders, body: sink.body, bodyLength: sink.bodyLength)
    _ = response.headers
    for name in ["content-length", "etag", "x-amz-request-id", "Retry-After", "x-amz-bucket-region", ""] { _ = response.header(name) }
    if response.status >= 300 { _ = S3XML.serviceError(response) }
    _ = HTTPPeek.bodilessRequest(bytes)
    return 0
}
