/// An S3 request before addressing and signing.
public struct S3Request: Sendable {
    public var method: String
    public var bucket: String?
    public var key: String?
    /// Raw (unencoded) query parameters.
    public var query: [(name: String, value: String)]
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var discardResponseBody: Bool

    public init(method: String, bucket: String? = nil, key: String? = nil, query: [(name: String, value: String)] = [],
                headers: [(name: String, value: String)] = [], body: [UInt8] = [], discardResponseBody: Bool = false) {
        self.method = method
        self.bucket = bucket
        self.key = key
        self.query = query
        self.headers = headers
        self.body = body
        self.discardResponseBody = discardResponseBody
    }
}

/// One S3 API call: the request to send and how to read a successful response.
/// Transports and clients (blocking or async) share these definitions.
public struct S3Operation<Output: Sendable>: Sendable {
    public var name: String
    public var request: S3Request
    public let parse: @Sendable (HTTPResponse) throws(S3Error) -> Output

    public init(name: String, request: S3Request, parse: @escaping @Sendable (HTTPResponse) throws(S3Error) -> Output) {
        self.name = name
        self.request = request
        self.parse = parse
    }
}

extension S3Operation where Output == Void {
    /// CreateBucket; an existing bucket of the caller's counts as success.
    public static func createBucket(_ bucket: String) -> S3Operation<Void> {
        S3Operation(name: "CreateBucket", request: S3Request(method: "PUT", bucket: bucket)) { _ in }
    }

    /// DeleteObject.
    public static func deleteObject(bucket: String, key: String) -> S3Operation<Void> {
        S3Operation(name: "DeleteObject", request: S3Request(method: "DELETE", bucket: bucket, key: key)) { _ in }
    }
}

extension S3Operation where Output == PutObjectOutput {
    /// PutObject with the body in memory.
    public static func putObject(bucket: String, key: String, body: [UInt8], contentType: String = "application/octet-stream") -> S3Operation<PutObjectOutput> {
        S3Operation(name: "PutObject", request: S3Request(method: "PUT", bucket: bucket, key: key,
                                                          headers: [("content-type", contentType)], body: body)) { response in
            PutObjectOutput(eTag: response.header("etag"))
        }
    }
}

extension S3Operation where Output == ListObjectsV2Page {
    /// ListObjectsV2, one page; keys are requested URL-encoded and decoded here, so any key survives.
    public static func listObjectsV2(bucket: String, prefix: String? = nil, continuationToken: String? = nil,
                                     startAfter: String? = nil, maxKeys: Int? = nil, delimiter: String? = nil) -> S3Operation<ListObjectsV2Page> {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("encoding-type", "url")]
        if let prefix, !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let startAfter { query.append(("start-after", startAfter)) }
        if let maxKeys { query.append(("max-keys", String(maxKeys))) }
        if let delimiter { query.append(("delimiter", delimiter)) }
        return S3Operation(name: "ListObjectsV2", request: S3Request(method: "GET", bucket: bucket, query: query)) { response throws(S3Error) in
            try S3XML.listObjectsV2Page(response.body)
        }
    }
}

extension S3Operation where Output == AccessControlPolicy {
    /// GetObjectAcl: the object's owner and grants.
    public static func getObjectAcl(bucket: String, key: String) -> S3Operation<AccessControlPolicy> {
        S3Operation(name: "GetObjectAcl", request: S3Request(method: "GET", bucket: bucket, key: key, query: [("acl", "")])) { response throws(S3Error) in
            try S3XML.accessControlPolicy(response.body)
        }
    }
}

extension S3Operation where Output == ObjectMetadata {
    /// HeadObject.
    public static func headObject(bucket: String, key: String) -> S3Operation<ObjectMetadata> {
        S3Operation(name: "HeadObject", request: S3Request(method: "HEAD", bucket: bucket, key: key)) { response in
            ObjectMetadata(contentLength: response.header("content-length").flatMap { Int64($0) } ?? 0,
                           eTag: response.header("etag"), lastModified: response.header("last-modified"),
                           contentType: response.header("content-type"))
        }
    }
}

extension S3Operation where Output == GetObjectOutput {
    /// GetObject; the body is streamed and counted, never kept.
    public static func getObject(bucket: String, key: String) -> S3Operation<GetObjectOutput> {
        S3Operation(name: "GetObject", request: S3Request(method: "GET", bucket: bucket, key: key, discardResponseBody: true)) { response in
            GetObjectOutput(bytesReceived: response.bodyLength, eTag: response.header("etag"))
        }
    }
}

extension S3Operation where Output == [String] {
    /// ListBuckets: the names of the caller's buckets.
    public static func listBuckets() -> S3Operation<[String]> {
        S3Operation(name: "ListBuckets", request: S3Request(method: "GET")) { response throws(S3Error) in
            try S3XML.bucketNames(response.body)
        }
    }
}
