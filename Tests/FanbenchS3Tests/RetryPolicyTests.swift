@testable import FanbenchS3
import Testing

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 3, baseDelay: .seconds(1), maxBackoff: .seconds(20))

    func service(_ status: Int, _ code: String) -> S3Error {
        S3Error(kind: .service, code: code, message: "", httpStatus: status)
    }

    @Test func retriesServerErrorsAndThrottling() {
        for (status, code) in [(500, "InternalError"), (502, "BadGateway"), (503, "SlowDown"), (504, "GatewayTimeout"), (400, "RequestTimeout")] {
            #expect(policy.delay(after: service(status, code), attempt: 1, random: 0.5) != nil, "\(status) \(code)")
        }
        #expect(policy.delay(after: S3Error(kind: .connectionReset, code: "ConnectionReset", message: ""), attempt: 1, random: 0.5) != nil)
        #expect(policy.delay(after: S3Error(kind: .timeout, code: "Timeout", message: ""), attempt: 2, random: 0.5) != nil)
    }

    @Test func neverRetriesOtherClientErrors() {
        for (status, code) in [(403, "SignatureDoesNotMatch"), (403, "AccessDenied"), (404, "NoSuchKey"), (404, "NoSuchBucket"), (400, "InvalidArgument")] {
            #expect(policy.delay(after: service(status, code), attempt: 1, random: 0.5) == nil, "\(status) \(code)")
        }
        #expect(policy.delay(after: S3Error(kind: .tls, code: "TLSError", message: ""), attempt: 1, random: 0.5) == nil)
    }

    @Test func stopsAtMaxAttempts() {
        #expect(policy.delay(after: service(503, "SlowDown"), attempt: 2, random: 0.5) != nil)
        #expect(policy.delay(after: service(503, "SlowDown"), attempt: 3, random: 0.5) == nil)
        #expect(RetryPolicy.none.delay(after: service(503, "SlowDown"), attempt: 1, random: 0.5) == nil)
    }

    @Test func exponentialBackoffWithFullJitterAndCeiling() {
        let e = service(503, "SlowDown")
        let big = RetryPolicy(maxAttempts: 10, baseDelay: .seconds(1), maxBackoff: .seconds(20))
        #expect(big.delay(after: e, attempt: 1, random: 1) == .seconds(1))
        #expect(big.delay(after: e, attempt: 2, random: 1) == .seconds(2))
        #expect(big.delay(after: e, attempt: 3, random: 0.5) == .seconds(2))
        #expect(big.delay(after: e, attempt: 8, random: 1) == .seconds(20))
        #expect(big.delay(after: e, attempt: 4, random: 0) == .zero)
    }
}
