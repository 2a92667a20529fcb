/// Turns `S3Request`s into signed `HTTPRequest`s and responses into results or typed
/// errors; shared by the async and the blocking client.
struct S3RequestPreparer: Sendable {
    let configuration: S3ClientConfiguration
    let signer: SigV4Signer

    init(configuration: S3ClientConfiguration) {
        self.configuration = configuration
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
    }

    func prepare(_ request: S3Request, date: AmzDate) -> HTTPRequest {
        let endpoint = configuration.endpoint
        var host = endpoint.authority
        var path = "/"
        let encodedKey = request.key.map { URIEncoding.encode($0, keepSlash: true) }
        switch (configuration.addressing, request.bucket) {
        case (.virtualHosted, let bucket?) where Self.isDNSCompatible(bucket):
            host = endpoint.authority(host: bucket + "." + endpoint.host)
            path = "/" + (encodedKey ?? "")
        case (_, let bucket?):
            path = "/" + URIEncoding.encode(bucket) + (encodedKey.map { "/" + $0 } ?? "")
        case (_, nil):
            path = "/" + (encodedKey ?? "")
        }
        var headers = request.headers
        headers.insert(("host", host), at: 0)
        let payloadHash: String
        if request.body.isEmpty {
            payloadHash = SigV4Signer.emptyPayloadHash
        } else if configuration.unsignedPayload && endpoint.isTLS {
            payloadHash = SigV4Signer.unsignedPayload
        } else {
            payloadHash = sha256Hex(request.body)
        }
        let signed = signer.sign(method: request.method, canonicalURI: path, query: request.query,
                                 headers: headers, payloadHash: payloadHash, date: date)
        let query = signed.canonicalQuery
        let url = endpoint.scheme + "://" + host + path + (query.isEmpty ? "" : "?" + query)
        return HTTPRequest(method: request.method, url: url, headers: signed.headers, body: request.body,
                           discardResponseBody: request.discardResponseBody)
    }

    /// The operation's result for a 2xx response; the typed service error otherwise.
    func interpret<Output>(_ response: HTTPResponse, for operation: S3Operation<Output>) throws(S3Error) -> Output {
        guard (200..<300).contains(response.status) else {
            var error = S3XML.serviceError(response)
            if operation.name == "CreateBucket", error.code == "BucketAlreadyOwnedByYou" {
                return try operation.parse(HTTPResponse(status: 200, headers: response.headers, body: []))
            }
            error.message = error.message.isEmpty ? "\(operation.name) failed" : error.message
            throw error
        }
        return try operation.parse(response)
    }

    static func isDNSCompatible(_ bucket: String) -> Bool {
        guard (3...63).contains(bucket.utf8.count), !bucket.contains("..") else { return false }
        return bucket.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
    }
}

/// A call's result and how many retries it took.
public struct S3Call<Value: Sendable>: Sendable {
    public var value: Value
    public var retries: Int
}

/// All keys under a prefix, and what listing them cost.
public struct S3Listing: Sendable {
    public var objects: [S3Object] = []
    public var pages = 0
    public var retries = 0

    /// Adds a page; returns the continuation token for the next one, nil when done.
    mutating func add(_ call: S3Call<ListObjectsV2Page>) -> String? {
        objects += call.value.objects
        pages += 1
        retries += call.retries
        return call.value.isTruncated ? call.value.nextContinuationToken : nil
    }
}

/// Listing every key under a prefix, page after page: the one place that knows how, for
/// both clients (each only sends `next` until it is nil).
struct S3ListingPager {
    let bucket: String
    let prefix: String?
    let pageSize: Int?
    private(set) var listing = S3Listing()
    private var token: String?
    private var done = false

    init(bucket: String, prefix: String?, pageSize: Int?) {
        self.bucket = bucket
        self.prefix = prefix
        self.pageSize = pageSize
    }

    /// The request for the next page; nil once the last one came.
    var next: S3Operation<ListObjectsV2Page>? {
        done ? nil : .listObjectsV2(bucket: bucket, prefix: prefix, continuationToken: token, maxKeys: pageSize)
    }

    mutating func received(_ page: S3Call<ListObjectsV2Page>) {
        token = listing.add(page)
        done = token == nil
    }
}
