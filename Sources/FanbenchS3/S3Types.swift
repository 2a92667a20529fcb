/// One entry of a listing.
public struct S3Object: Sendable, Equatable {
    public var key: String
    public var size: Int64
    public var eTag: String?
    public var lastModified: String?

    public init(key: String, size: Int64, eTag: String? = nil, lastModified: String? = nil) {
        self.key = key
        self.size = size
        self.eTag = eTag
        self.lastModified = lastModified
    }
}

/// One page of ListObjectsV2.
public struct ListObjectsV2Page: Sendable, Equatable {
    public var objects: [S3Object]
    public var commonPrefixes: [String]
    public var isTruncated: Bool
    public var nextContinuationToken: String?
    public var keyCount: Int
}

/// An object's owner and grants (GetObjectAcl).
public struct AccessControlPolicy: Sendable, Equatable {
    public struct Grantee: Sendable, Equatable {
        /// `CanonicalUser`, `Group` or `AmazonCustomerByEmail`.
        public var type: String?
        public var id: String?
        public var displayName: String?
        public var uri: String?
        public var emailAddress: String?
    }

    public struct Grant: Sendable, Equatable {
        public var grantee: Grantee
        public var permission: String
    }

    public var ownerID: String?
    public var ownerDisplayName: String?
    public var grants: [Grant]
}

/// What HeadObject tells.
public struct ObjectMetadata: Sendable, Equatable {
    public var contentLength: Int64
    public var eTag: String?
    public var lastModified: String?
    public var contentType: String?
}

/// GetObject's outcome: the body is counted, not kept.
public struct GetObjectOutput: Sendable, Equatable {
    public var bytesReceived: Int
    public var eTag: String?
}

/// PutObject's outcome.
public struct PutObjectOutput: Sendable, Equatable {
    public var eTag: String?
}
