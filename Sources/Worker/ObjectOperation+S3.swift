import FanbenchBase
import FanbenchS3

extension ObjectOperation {
    /// Makes the call on a blocking client; returns the retries it took.
    package func call(_ client: BlockingS3Client, bucket: String, key: String) throws(S3Error) -> Int {
        switch self {
        case .getObjectAcl: return try client.perform(.getObjectAcl(bucket: bucket, key: key)).retries
        case .headObject: return try client.perform(.headObject(bucket: bucket, key: key)).retries
        case .getObject: return try client.perform(.getObject(bucket: bucket, key: key)).retries
        }
    }

    /// Makes the call on an async client; returns the retries it took.
    package func call(_ client: S3Client, bucket: String, key: String) async throws(S3Error) -> Int {
        switch self {
        case .getObjectAcl: return try await client.perform(.getObjectAcl(bucket: bucket, key: key)).retries
        case .headObject: return try await client.perform(.headObject(bucket: bucket, key: key)).retries
        case .getObject: return try await client.perform(.getObject(bucket: bucket, key: key)).retries
        }
    }
}
