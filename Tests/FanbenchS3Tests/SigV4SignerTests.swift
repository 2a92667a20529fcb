@testable import FanbenchS3
import Testing

/// AWS's published S3 SigV4 examples (sig-v4-header-based-auth): AKIAIOSFODNN7EXAMPLE, 2013-05-24.
@Suite struct SigV4SignerTests {
    let signer = SigV4Signer(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                             region: "us-east-1")
    let date = AmzDate(secondsSince1970: 1_369_353_600)
    let host = ("host", "examplebucket.s3.amazonaws.com")

    @Test func dateFormatting() {
        #expect(date.dateTime == "20130524T000000Z")
        #expect(date.date == "20130524")
        #expect(AmzDate(secondsSince1970: 1_700_000_000).dateTime == "20231114T221320Z")
    }

    @Test func getObjectWithRange() {
        let s = signer.sign(method: "GET", canonicalURI: "/test.txt", query: [], headers: [host, ("range", "bytes=0-9")],
                            payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(s.canonicalRequest == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(s.stringToSign == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
            """)
        #expect(s.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(s.authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObject() {
        let body = Array("Welcome to Amazon S3.".utf8)
        let payload = sha256Hex(body)
        #expect(payload == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let s = signer.sign(method: "PUT", canonicalURI: "/" + URIEncoding.encode("test$file.text", keepSlash: true), query: [],
                            headers: [host, ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                            payloadHash: payload, date: date)
        #expect(s.canonicalRequest.hasPrefix("PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\nhost:examplebucket.s3.amazonaws.com\n"))
        #expect(s.signedHeaders == "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class")
        #expect(s.stringToSign.hasSuffix("9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"))
        #expect(s.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func getBucketLifecycle() {
        let s = signer.sign(method: "GET", canonicalURI: "/", query: [("lifecycle", "")], headers: [host],
                            payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(s.canonicalRequest.hasPrefix("GET\n/\nlifecycle=\nhost:"))
        #expect(s.stringToSign.hasSuffix("9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca"))
        #expect(s.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func listObjects() {
        // Query order in the request must not matter: canonical order is by name.
        let s = signer.sign(method: "GET", canonicalURI: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [host],
                            payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(s.canonicalRequest.hasPrefix("GET\n/\nmax-keys=2&prefix=J\n"))
        #expect(s.stringToSign.hasSuffix("df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7"))
        #expect(s.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func sessionTokenIsSigned() {
        let withToken = SigV4Signer(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "x", sessionToken: "TOKEN"),
                                    region: "eu-west-1")
        let s = withToken.sign(method: "GET", canonicalURI: "/", query: [], headers: [host],
                               payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(s.signedHeaders == "host;x-amz-content-sha256;x-amz-date;x-amz-security-token")
        #expect(s.canonicalRequest.contains("x-amz-security-token:TOKEN\n"))
        #expect(s.authorization.contains("/20130524/eu-west-1/s3/aws4_request"))
        #expect(s.headers.contains { $0.name == "x-amz-security-token" && $0.value == "TOKEN" })
    }

    @Test func headerCanonicalisationFoldsSpacesAndMergesRepeats() {
        let s = signer.sign(method: "GET", canonicalURI: "/", query: [],
                            headers: [host, ("X-Amz-Meta-A", "  one   two  "), ("x-amz-meta-a", "three")],
                            payloadHash: SigV4Signer.unsignedPayload, date: date)
        #expect(s.canonicalRequest.contains("x-amz-meta-a:one two,three\n"))
        #expect(s.canonicalRequest.hasSuffix("\nUNSIGNED-PAYLOAD"))
    }

    @Test func credentialsNeverPrintTheSecret() {
        let c = S3Credentials(accessKeyID: "AKID", secretAccessKey: "very-secret", sessionToken: "tok-secret")
        #expect(!"\(c)".contains("very-secret"))
        #expect(!String(reflecting: c).contains("tok-secret"))
    }
}
