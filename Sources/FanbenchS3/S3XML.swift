/// Readers for S3's XML documents.
enum S3XML {
    static func listObjectsV2Page(_ body: [UInt8]) throws(S3Error) -> ListObjectsV2Page {
        let root = try document(body, expecting: "ListBucketResult", operation: "ListObjectsV2")
        let urlEncoded = root["EncodingType"]?.lowercased() == "url"
        func decoded(_ raw: String) throws(S3Error) -> String {
            guard urlEncoded else { return raw }
            guard let value = URIEncoding.decode(raw, plusAsSpace: true) else {
                throw S3Error(kind: .invalidResponse, code: "InvalidResponse", message: "ListObjectsV2 returned a key that is not valid URL encoding")
            }
            return value
        }
        var objects: [S3Object] = []
        objects.reserveCapacity(root.children.count)
        for entry in root.children("Contents") {
            guard let rawKey = entry["Key"] else { continue }
            objects.append(S3Object(key: try decoded(rawKey), size: entry["Size"].flatMap { Int64($0) } ?? 0,
                                    eTag: entry["ETag"], lastModified: entry["LastModified"]))
        }
        var prefixes: [String] = []
        for p in root.children("CommonPrefixes") {
            if let raw = p["Prefix"] { prefixes.append(try decoded(raw)) }
        }
        let token = root["NextContinuationToken"].flatMap { $0.isEmpty ? nil : $0 }
        return ListObjectsV2Page(objects: objects, commonPrefixes: prefixes,
                                 isTruncated: root["IsTruncated"]?.lowercased() == "true",
                                 nextContinuationToken: token,
                                 keyCount: root["KeyCount"].flatMap { Int($0) } ?? objects.count + prefixes.count)
    }

    static func accessControlPolicy(_ body: [UInt8]) throws(S3Error) -> AccessControlPolicy {
        let root = try document(body, expecting: "AccessControlPolicy", operation: "GetObjectAcl")
        let owner = root.child("Owner")
        var grants: [AccessControlPolicy.Grant] = []
        for grant in root.child("AccessControlList")?.children("Grant") ?? [] {
            let g = grant.child("Grantee")
            let type = g?.attributes.first { $0.key == "xsi:type" || $0.key.hasSuffix(":type") || $0.key == "type" }?.value
            grants.append(.init(grantee: .init(type: type, id: g?["ID"], displayName: g?["DisplayName"],
                                               uri: g?["URI"], emailAddress: g?["EmailAddress"]),
                                permission: grant["Permission"] ?? ""))
        }
        return AccessControlPolicy(ownerID: owner?["ID"], ownerDisplayName: owner?["DisplayName"], grants: grants)
    }

    static func bucketNames(_ body: [UInt8]) throws(S3Error) -> [String] {
        let root = try document(body, expecting: "ListAllMyBucketsResult", operation: "ListBuckets")
        return root.child("Buckets")?.children("Bucket").compactMap { $0["Name"] } ?? []
    }

    /// The typed error for a non-2xx response: from S3's error XML when there is one, else from the status.
    static func serviceError(_ response: HTTPResponse) -> S3Error {
        let headerRequestID = response.header("x-amz-request-id")
        if !response.body.isEmpty, let root = XMLElement.parse(response.body), root.name == "Error" {
            return S3Error(kind: .service, code: root["Code"] ?? statusCode(response.status),
                           message: root["Message"] ?? "", httpStatus: response.status,
                           requestID: root["RequestId"] ?? headerRequestID)
        }
        return S3Error(kind: .service, code: statusCode(response.status), message: "", httpStatus: response.status,
                       requestID: headerRequestID)
    }

    /// S3's code for a bodiless error (HEAD responses carry none).
    static func statusCode(_ status: Int) -> String {
        switch status {
        case 301: return "PermanentRedirect"
        case 400: return "BadRequest"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 409: return "Conflict"
        case 412: return "PreconditionFailed"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        default: return "HTTP\(status)"
        }
    }

    private static func document(_ body: [UInt8], expecting name: String, operation: String) throws(S3Error) -> XMLElement {
        guard let root = XMLElement.parse(body), root.name == name else {
            throw S3Error(kind: .invalidResponse, code: "InvalidResponse",
                          message: "\(operation) did not return a \(name) document (\(body.count) bytes); is the endpoint an S3 API?")
        }
        return root
    }
}
