import FuzzSupport
@testable import FanbenchS3

/// S3's XML documents as a hostile or broken endpoint could send them: ListObjectsV2 pages,
/// AccessControlPolicy, ListAllMyBuckets and Error bodies. A reader may refuse; it may not trap.
@_cdecl("FuzzS3XML_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fanbench_fuzz_main(argc, argv) { data, count in fuzz(data!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let body = Array(UnsafeBufferPointer(start: data, count: count))
    _ = XMLElement.parse(body)
    _ = try? S3XML.listObjectsV2Page(body)
    _ = try? S3XML.accessControlPolicy(body)
    _ = try? S3XML.bucketNames(body)
    for status in [403, 404, 500, 503] {
        _ = S3XML.serviceError(HTTPResponse(status: status, headers: [("x-amz-request-id", "fuzz")], body: body))
    }
    return 0
}
