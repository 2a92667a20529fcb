import FanbenchS3

/// The per-key S3 call an invocation makes.
public enum ObjectOperation: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case getObjectAcl = "get-object-acl"
    case headObject = "head-object"
    case getObject = "get-object"

    public var description: String { rawValue }

    /// Makes the call on a blocking client; returns the retries it took.
    public func call(_ client: BlockingS3Client, bucket: String, key: String) throws(S3Error) -> Int {
        switch self {
        case .getObjectAcl: return try client.perform(.getObjectAcl(bucket: bucket, key: key)).retries
        case .headObject: return try client.perform(.headObject(bucket: bucket, key: key)).retries
        case .getObject: return try client.perform(.getObject(bucket: bucket, key: key)).retries
        }
    }

    /// Makes the call on an async client; returns the retries it took.
    public func call(_ client: S3Client, bucket: String, key: String) async throws(S3Error) -> Int {
        switch self {
        case .getObjectAcl: return try await client.perform(.getObjectAcl(bucket: bucket, key: key)).retries
        case .headObject: return try await client.perform(.headObject(bucket: bucket, key: key)).retries
        case .getObject: return try await client.perform(.getObject(bucket: bucket, key: key)).retries
        }
    }
}
