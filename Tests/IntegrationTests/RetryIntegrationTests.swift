import FanbenchLocalTarget
import FanbenchProtocol
import FanbenchS3
import Foundation
import Testing

/// Retries over real TCP against a scripted server: what SeaweedFS will not do on demand.
@Suite(.timeLimit(.minutes(2)))
struct RetryIntegrationTests {
    static let acl = "<AccessControlPolicy><Owner><ID>o</ID></Owner><AccessControlList><Grant><Grantee><ID>o</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>"
    static let slowDown = ScriptedHTTPServer.Reply(status: 503, body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
    static let ok = ScriptedHTTPServer.Reply(status: 200, body: acl)

    func configuration(port: Int) -> S3ClientConfiguration {
        S3ClientConfiguration(endpoint: S3Endpoint(scheme: "http", host: "127.0.0.1", port: port),
                              credentials: S3Credentials(accessKeyID: "AKID", secretAccessKey: "SECRET"),
                              connectTimeout: .seconds(2), requestTimeout: .seconds(5),
                              retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(5)))
    }

    func call(_ kind: TransportKind, port: Int) async throws -> S3Call<AccessControlPolicy> {
        try await S3Client.withClient(configuration: configuration(port: port), transport: kind, maxConnections: 1) {
            try await $0.perform(.getObjectAcl(bucket: "b", key: "k"))
        }
    }

    @Test(arguments: TransportKind.allCases)
    func slowDownIsRetriedAndCounted(kind: TransportKind) async throws {
        let server = try await ScriptedHTTPServer([Self.slowDown, Self.slowDown, Self.ok])
        let result = try await call(kind, port: server.port)
        #expect(result.retries == 2)
        #expect(result.value.ownerID == "o")
        #expect(server.requests == 3)
        await server.shutdown()
    }

    @Test(arguments: TransportKind.allCases)
    func givesUpAfterThreeAttempts(kind: TransportKind) async throws {
        let server = try await ScriptedHTTPServer([Self.slowDown])
        do {
            _ = try await call(kind, port: server.port)
            Issue.record("expected SlowDown")
        } catch let error as S3Error {
            #expect(error.code == "SlowDown")
            #expect(error.httpStatus == 503)
            #expect(error.retries == 2)
            #expect(error.requestID == "scripted-3")
        }
        #expect(server.requests == 3)
        await server.shutdown()
    }

    @Test(arguments: TransportKind.allCases)
    func clientErrorsAreNotRetried(kind: TransportKind) async throws {
        let server = try await ScriptedHTTPServer([.init(status: 403, body: "<Error><Code>AccessDenied</Code><Message>no</Message></Error>")])
        await #expect(throws: S3Error.self) { _ = try await call(kind, port: server.port) }
        #expect(server.requests == 1)
        await server.shutdown()
    }

    @Test(arguments: TransportKind.allCases)
    func droppedConnectionsAreRetried(kind: TransportKind) async throws {
        let drop = ScriptedHTTPServer.Reply(status: 0, body: "", drop: true)
        let server = try await ScriptedHTTPServer([drop, drop, Self.ok])
        let result = try await call(kind, port: server.port)
        #expect(result.retries == 2)
        await server.shutdown()
    }

    @Test(arguments: TransportKind.allCases)
    func refusedConnectionIsTyped(kind: TransportKind) async throws {
        let server = try await ScriptedHTTPServer([Self.ok])
        let port = server.port
        await server.shutdown()
        do {
            _ = try await call(kind, port: port)
            Issue.record("expected a refused connection")
        } catch let error as S3Error {
            #expect(error.kind == .connectionRefused, "\(error)")
            #expect(error.retries == 2)
            #expect(error.userMessage.contains("fanbench target up"))
        }
    }

    @Test(arguments: TransportKind.allCases)
    func requestTimeoutFiresAndIsTyped(kind: TransportKind) async throws {
        let server = try await ScriptedHTTPServer([.init(status: 0, body: "", hang: true)])
        var config = configuration(port: server.port)
        config.requestTimeout = .milliseconds(300)
        config.retry = .none
        let start = ContinuousClock.now
        do {
            _ = try await S3Client.withClient(configuration: config, transport: kind, maxConnections: 1) {
                try await $0.perform(.getObjectAcl(bucket: "b", key: "k"))
            }
            Issue.record("expected a timeout")
        } catch let error as S3Error {
            #expect(error.kind == .timeout, "\(error)")
            #expect(error.isRetryable)
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        await server.shutdown()
    }

    @Test(arguments: TransportKind.allCases)
    func garbageBodyIsAnInvalidResponse(kind: TransportKind) async throws {
        let server = try await ScriptedHTTPServer([.init(status: 200, body: "<html>not s3</html>")])
        do {
            _ = try await call(kind, port: server.port)
            Issue.record("expected an invalid response")
        } catch let error as S3Error {
            #expect(error.kind == .invalidResponse)
        }
        await server.shutdown()
    }

    static let internalError = ScriptedHTTPServer.Reply(status: 500, body: "<Error><Code>InternalError</Code><Message>volume 16 not found</Message></Error>")
    static let emptyListing = ScriptedHTTPServer.Reply(status: 200, body: "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>")

    /// A store still making a new bucket's volumes answers its first writes 500 for seconds
    /// (SeaweedFS, seen for ~8 s): the seed's first write waits it out, then the rest go. Here
    /// the client retries nothing, so every 500 reaches the seeder.
    @Test func theSeedsFirstWriteWaitsOutAStoreStillMakingItsVolumes() async throws {
        let created = ScriptedHTTPServer.Reply(status: 200, body: "")
        let server = try await ScriptedHTTPServer([created, Self.emptyListing] + Array(repeating: Self.internalError, count: 4) + [created])
        var config = configuration(port: server.port)
        config.retry = .none
        let result = try await S3Client.withClient(configuration: config, transport: .curl, maxConnections: 2) {
            try await Seeder.seed(client: $0, bucket: "b", objects: 3, size: 4, prefix: "", inFlight: 2, pause: .milliseconds(20))
        }
        #expect(result.created == 3)
        #expect(server.requests == 2 + 4 + 3, "bucket, listing, four refused first writes, then the three objects")
        await server.shutdown()
    }

    /// The volumes come up unevenly: a write after the first can still land on one that is
    /// missing (netns-test saw the first write go through and later ones refused), so every
    /// write waits it out, not only the first.
    @Test func aLaterWriteRefusedByAVolumeStillMissingIsTriedAgain() async throws {
        let created = ScriptedHTTPServer.Reply(status: 200, body: "")
        let server = try await ScriptedHTTPServer([created, Self.emptyListing, created, Self.internalError, Self.internalError, created])
        var config = configuration(port: server.port)
        config.retry = .none
        let result = try await S3Client.withClient(configuration: config, transport: .curl, maxConnections: 1) {
            try await Seeder.seed(client: $0, bucket: "b", objects: 3, size: 4, prefix: "", inFlight: 1, pause: .milliseconds(20))
        }
        #expect(result.created == 3)
        #expect(server.requests == 2 + 1 + 2 + 2, "bucket, listing, the first write, the second refused twice and written, the third")
        await server.shutdown()
    }

    @Test func aStoreThatKeepsRefusingStillFailsTheSeedOnceTheWindowIsOver() async throws {
        let server = try await ScriptedHTTPServer([.init(status: 200, body: ""), Self.emptyListing, Self.internalError])
        var config = configuration(port: server.port)
        config.retry = .none
        let t0 = ContinuousClock.now
        await #expect(throws: S3Error.self) {
            try await S3Client.withClient(configuration: config, transport: .curl, maxConnections: 1) {
                _ = try await Seeder.seed(client: $0, bucket: "b", objects: 3, size: 4, prefix: "",
                                          window: .seconds(2), pause: .milliseconds(20))
            }
        }
        // Bounded by the window plus the one attempt under way when it closed (its request
        // timeout, 5 s): a loaded machine can slow the attempts, never stretch the window.
        #expect(ContinuousClock.now - t0 < .seconds(2 + 5 + 1), "the window bounds the wait")
        #expect(server.requests >= 4, "the first write was tried again within the window: \(server.requests) requests")
        await server.shutdown()
    }
}
