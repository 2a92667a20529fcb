/// An async S3 client over any `S3Transport`, with standard-mode retries.
public struct S3Client: Sendable {
    public let configuration: S3ClientConfiguration
    public let transport: any S3Transport
    private let preparer: S3RequestPreparer
    private let now: @Sendable () -> AmzDate
    private let random: @Sendable () -> Double

    public init(configuration: S3ClientConfiguration, transport: any S3Transport,
                now: @escaping @Sendable () -> AmzDate = AmzDate.now,
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.configuration = configuration
        self.transport = transport
        preparer = S3RequestPreparer(configuration: configuration)
        self.now = now
        self.random = random
    }

    /// Makes the transport of that kind for this configuration.
    public static func makeTransport(_ kind: TransportKind, configuration: S3ClientConfiguration, maxConnections: Int) throws(S3Error) -> any S3Transport {
        let t = configuration.transportConfiguration(maxConnections: maxConnections)
        switch kind {
        case .curl: return try CurlTransport(configuration: t)
        case .async: return try AsyncHTTPTransport(configuration: t)
        }
    }

    /// Runs `body` with a client on a new transport and shuts the transport down afterwards.
    public static func withClient<T>(configuration: S3ClientConfiguration, transport kind: TransportKind, maxConnections: Int = 8,
                                     _ body: (S3Client) async throws -> T) async throws -> T {
        let transport = try makeTransport(kind, configuration: configuration, maxConnections: maxConnections)
        let client = S3Client(configuration: configuration, transport: transport)
        do {
            let result = try await body(client)
            await transport.shutdown()
            return result
        } catch {
            await transport.shutdown()
            throw error
        }
    }

    /// Sends one operation, retrying as the policy says.
    public func perform<Output>(_ operation: S3Operation<Output>) async throws(S3Error) -> S3Call<Output> {
        var attempt = 1
        while true {
            do {
                return S3Call(value: try await attemptOnce(operation), retries: attempt - 1)
            } catch {
                let wait = try configuration.retry.next(after: error, attempt: &attempt, random: random())
                try? await Task.sleep(for: wait)
            }
        }
    }

    private func attemptOnce<Output>(_ operation: S3Operation<Output>) async throws(S3Error) -> Output {
        let response: HTTPResponse
        do {
            response = try await transport.execute(preparer.prepare(operation.request, date: now()))
        } catch let e as S3Error {
            throw e
        } catch {
            throw S3Error(kind: .transport, code: "TransportError", message: "\(error)")
        }
        return try preparer.interpret(response, for: operation)
    }

    /// Lists every key under `prefix`, following continuation tokens.
    public func listAll(bucket: String, prefix: String? = nil, pageSize: Int? = nil) async throws(S3Error) -> S3Listing {
        var pager = S3ListingPager(bucket: bucket, prefix: prefix, pageSize: pageSize)
        while let page = pager.next { pager.received(try await perform(page)) }
        return pager.listing
    }
}
