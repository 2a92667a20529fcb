@testable import FanbenchS3
import Testing

@Suite struct S3ClientConfigurationTests {
    let env = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"]

    @Test func readsStandardVariables() throws {
        var e = env
        e["AWS_ENDPOINT_URL"] = "https://127.0.0.1:8333"
        e["AWS_REGION"] = "eu-central-1"
        e["AWS_SESSION_TOKEN"] = "tok"
        let c = try S3ClientConfiguration.fromEnvironment(e)
        #expect(c.endpoint == S3Endpoint(scheme: "https", host: "127.0.0.1", port: 8333))
        #expect(c.region == "eu-central-1")
        #expect(c.credentials.sessionToken == "tok")
        #expect(c.addressing == .path)
    }

    @Test func flagsWinAndAWSIsTheDefault() throws {
        let c = try S3ClientConfiguration.fromEnvironment(env, overrides: .init(region: "us-west-2", accessKeyID: "OTHER"))
        #expect(c.endpoint == .aws(region: "us-west-2"))
        #expect(c.addressing == .virtualHosted)
        #expect(c.credentials.accessKeyID == "OTHER")
    }

    @Test(arguments: ["htp:/nope", "127.0.0.1:8333", "https://", "https://host/path", "https://h:99999"])
    func malformedEndpointsSayWhatToDo(text: String) {
        do {
            _ = try S3Endpoint(parsing: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.message.contains(text))
            #expect(error.message.contains("e.g.") || error.message.contains("outside"))
        }
    }

    @Test func missingCredentialsNameTheVariableAndNeverTheSecret() {
        do {
            _ = try S3ClientConfiguration.fromEnvironment(["AWS_ACCESS_KEY_ID": "AKID"])
            Issue.record("accepted a missing secret")
        } catch {
            #expect(error.message.contains("AWS_SECRET_ACCESS_KEY"))
        }
        var e = env
        e["AWS_CA_BUNDLE"] = "/nonexistent/ca.pem"
        do {
            _ = try S3ClientConfiguration.fromEnvironment(e)
            Issue.record("accepted a missing CA file")
        } catch {
            #expect(error.message.contains("/nonexistent/ca.pem"))
            #expect(!error.message.contains("s3cr3t-value"))
        }
    }

    @Test func addressingBuildsPathsExactly() {
        let creds = S3Credentials(accessKeyID: "A", secretAccessKey: "S")
        let path = S3RequestPreparer(configuration: .init(endpoint: S3Endpoint(scheme: "http", host: "127.0.0.1", port: 8333), credentials: creds))
        let r = path.prepare(S3Request(method: "GET", bucket: "b", key: "/a b//c+", query: [("acl", "")]), date: AmzDate(secondsSince1970: 0))
        #expect(r.url == "http://127.0.0.1:8333/b//a%20b//c%2B?acl=")
        #expect(r.headers.first { $0.name == "host" }?.value == "127.0.0.1:8333")
        let vhost = S3RequestPreparer(configuration: .init(endpoint: .aws(region: "us-east-1"), credentials: creds, addressing: .virtualHosted))
        let v = vhost.prepare(S3Request(method: "GET", bucket: "my-bucket", key: "k"), date: AmzDate(secondsSince1970: 0))
        #expect(v.url == "https://my-bucket.s3.us-east-1.amazonaws.com/k")
        // Bucket names that are not DNS-safe fall back to path style.
        let dotted = vhost.prepare(S3Request(method: "GET", bucket: "My_Bucket", key: "k"), date: AmzDate(secondsSince1970: 0))
        #expect(dotted.url == "https://s3.us-east-1.amazonaws.com/My_Bucket/k")
    }
}
