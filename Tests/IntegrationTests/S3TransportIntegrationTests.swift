import FanbenchLocalTarget
import FanbenchS3
import Foundation
import Testing

/// Both transports against a real SeaweedFS with SigV4 auth on, over HTTPS (generated CA) and HTTP.
@Suite(.enabled(if: TestTarget.available, TestTarget.skipReason), .timeLimit(.minutes(5)))
struct S3TransportIntegrationTests {
    static let combinations: [(TransportKind, TestTarget.Scheme)] =
        TransportKind.allCases.flatMap { t in TestTarget.Scheme.allCases.map { (t, $0) } }

    func withClient<T>(_ kind: TransportKind, _ config: S3ClientConfiguration, connections: Int = 4,
                       _ body: (S3Client) async throws -> T) async throws -> T {
        try await S3Client.withClient(configuration: config, transport: kind, maxConnections: connections, body)
    }

    @Test(arguments: combinations)
    func wrongSecretIsSignatureDoesNotMatch(kind: TransportKind, scheme: TestTarget.Scheme) async throws {
        var config = try TestTarget.configuration(scheme)
        config.credentials.secretAccessKey = "not-the-secret-at-all"
        try await withClient(kind, config) { client in
            do {
                _ = try await client.perform(.listBuckets())
                Issue.record("a wrong secret was accepted")
            } catch let error as S3Error {
                #expect(error.kind == .service)
                #expect(error.code == "SignatureDoesNotMatch")
                #expect(error.httpStatus == 403)
                #expect(error.retries == 0, "a 403 must not be retried")
                #expect(!error.userMessage.contains("not-the-secret-at-all"))
            }
        }
    }

    @Test(arguments: combinations)
    func unknownAccessKeyIsRefused(kind: TransportKind, scheme: TestTarget.Scheme) async throws {
        var config = try TestTarget.configuration(scheme)
        config.credentials.accessKeyID = "FBUNKNOWNKEY00000000"
        try await withClient(kind, config) { client in
            await #expect(throws: S3Error.self) { _ = try await client.perform(.listBuckets()) }
        }
    }

    /// Keys SeaweedFS stores as given: spaces, unicode, `+ = & % ~ ! ' ( ) * , ;`, slashes, a 1,024-byte key.
    static func trickyKeys(prefix: String) -> [String] {
        var keys = ["plain", "with space", "sp+=&%~!'()*,;", "ünïcødé/日本/キー", "a/b/c", "trailing/", "tab\there", "x%2Fy+z"]
            .map { prefix + $0 }
        // 1,024 bytes in all; SeaweedFS limits one path segment to 255 bytes, so segments stay below that.
        var long = prefix
        while long.utf8.count < 1024 - 201 { long += String(repeating: "k", count: 200) + "/" }
        long += String(repeating: "e", count: 1024 - long.utf8.count)
        #expect(long.utf8.count == 1024)
        keys.append(long)
        return keys
    }

    /// The object's content: its own key. SeaweedFS keeps a key ending in `/` as a folder marker
    /// and drops its body, so those get an empty one (as folder markers on S3 have).
    static func body(for key: String) -> [UInt8] {
        key.hasSuffix("/") ? [] : Array(key.utf8)
    }

    @Test(arguments: combinations)
    func trickyKeysRoundTripThroughEveryCall(kind: TransportKind, scheme: TestTarget.Scheme) async throws {
        let config = try TestTarget.configuration(scheme)
        let bucket = "fb-it-keys"
        let prefix = "rt-\(kind)-\(scheme)-\(TestTarget.uniqueSuffix())/"
        let keys = Self.trickyKeys(prefix: prefix)
        try await withClient(kind, config) { client in
            _ = try await client.perform(.createBucket(bucket))
            for key in keys {
                _ = try await client.perform(.putObject(bucket: bucket, key: key, body: Self.body(for: key)))
            }
            let listed = try await client.listAll(bucket: bucket, prefix: prefix).objects
            #expect(Set(listed.map(\.key)) == Set(keys))
            for key in keys {
                let size = Self.body(for: key).count
                let acl = try await client.perform(.getObjectAcl(bucket: bucket, key: key)).value
                #expect(!acl.grants.isEmpty, "no grants for \(key)")
                let head = try await client.perform(.headObject(bucket: bucket, key: key)).value
                #expect(head.contentLength == Int64(size), "HeadObject size for \(key)")
                let get = try await client.perform(.getObject(bucket: bucket, key: key)).value
                #expect(get.bytesReceived == size, "GetObject size for \(key)")
                #expect(listed.first { $0.key == key }?.size == Int64(size))
            }
            for key in keys { _ = try await client.perform(.deleteObject(bucket: bucket, key: key)) }
            #expect(try await client.listAll(bucket: bucket, prefix: prefix).objects.isEmpty)
        }
    }

    /// S3 keeps a leading `/` and `//` in keys; SeaweedFS folds them (its filer is a tree). What we
    /// can prove here is that such paths go out exactly as signed: the store accepts the signature.
    @Test(arguments: TransportKind.allCases)
    func slashHeavyKeysAreSignedAsSent(kind: TransportKind) async throws {
        let config = try TestTarget.configuration(.https)
        let id = TestTarget.uniqueSuffix()
        try await withClient(kind, config) { client in
            _ = try await client.perform(.createBucket("fb-it-keys"))
            for key in ["/lead-\(id)", "dbl-\(id)//slash", "mid-\(id)///deep"] {
                _ = try await client.perform(.putObject(bucket: "fb-it-keys", key: key, body: [1, 2, 3]))
                let head = try await client.perform(.headObject(bucket: "fb-it-keys", key: key)).value
                #expect(head.contentLength == 3)
                _ = try await client.perform(.deleteObject(bucket: "fb-it-keys", key: key))
            }
        }
    }

    @Test(arguments: TransportKind.allCases)
    func listsTwoThousandFiveHundredKeysCompletely(kind: TransportKind) async throws {
        let config = try TestTarget.configuration(.https)
        let bucket = "fb-it-list2500"
        try await withClient(.async, config, connections: 32) { client in
            _ = try await Seeder.seed(client: client, bucket: bucket, objects: 2500, size: 1, prefix: "", inFlight: 32)
        }
        let expected = Set((0..<2500).map { Seeder.key($0, count: 2500, prefix: "") })
        try await withClient(kind, config) { client in
            let all = try await client.listAll(bucket: bucket)
            #expect(all.objects.count == 2500)
            #expect(Set(all.objects.map(\.key)) == expected)
            #expect(all.pages == 3)
            let small = try await client.listAll(bucket: bucket, pageSize: 700)
            #expect(small.objects.count == 2500)
            #expect(small.pages == 4)
        }
    }

    @Test(arguments: TransportKind.allCases)
    func tlsWithoutTheCAIsRefused(kind: TransportKind) async throws {
        var config = try TestTarget.configuration(.https)
        config.caBundlePath = nil
        config.retry = .none
        try await withClient(kind, config) { client in
            do {
                _ = try await client.perform(.listBuckets())
                Issue.record("a certificate from an unknown CA was trusted")
            } catch let error as S3Error {
                #expect(error.kind == .tls, "\(error)")
                #expect(error.userMessage.contains("AWS_CA_BUNDLE"))
            }
        }
    }

    @Test(arguments: TransportKind.allCases)
    func blockingClientMatchesTheAsyncOne(kind: TransportKind) async throws {
        // The blocking client (serial and threads strategies) reads the same bucket the same way.
        let config = try TestTarget.configuration(.https)
        let bucket = "fb-it-blocking"
        try await withClient(.async, config) { client in
            _ = try await Seeder.seed(client: client, bucket: bucket, objects: 30, size: 5, prefix: "", inFlight: 4)
        }
        let blocking = try BlockingS3Client(configuration: config)
        let listing = try blocking.listAll(bucket: bucket, pageSize: 7)
        #expect(listing.pages == 5)
        let viaAsync = try await withClient(kind, config) { try await $0.listAll(bucket: bucket) }
        #expect(listing.objects.map(\.key) == viaAsync.objects.map(\.key))
        let first = try #require(listing.objects.first)
        let acl = try blocking.perform(.getObjectAcl(bucket: bucket, key: first.key))
        #expect(acl.retries == 0)
        #expect(!acl.value.grants.isEmpty)
        #expect(try blocking.perform(.getObject(bucket: bucket, key: first.key)).value.bytesReceived == 5)
    }
}
