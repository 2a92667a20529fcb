import FanbenchBase
import FanbenchLambda
import FanbenchS3
import Foundation

/// Where the Lambda API is and how to sign for it: `--lambda-endpoint`, else
/// `AWS_ENDPOINT_URL_LAMBDA`, else AWS's endpoint for the region; credentials from the standard
/// chain (environment, then `AWS_PROFILE` in the shared files), else the S3 target's (the local
/// target's keys, which `fanbench lambda serve` verifies).
package struct LambdaSettings: Sendable {
    package var endpoint: String?
    package var region: String?

    package init(endpoint: String?, region: String?) {
        self.endpoint = endpoint
        self.region = region
    }

    package func client(fallback: S3Credentials?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (client: LambdaClient, real: Bool) {
        let region = self.region ?? CredentialChain.region(environment) ?? "us-east-1"
        let text = endpoint ?? environment["AWS_ENDPOINT_URL_LAMBDA"].flatMap { $0.isEmpty ? nil : $0 }
        let url: URL
        if let text {
            guard let u = URL(string: text), let scheme = u.scheme, ["http", "https"].contains(scheme), u.host != nil else {
                throw FanbenchError.badInput("Lambda endpoint '\(text)' is not an http(s) URL (e.g. http://127.0.0.1:9001): check --lambda-endpoint or AWS_ENDPOINT_URL_LAMBDA")
            }
            url = u
        } else {
            url = LambdaClient.awsEndpoint(region: region)
        }
        let chain: CredentialChain.Resolved?
        do {
            chain = try CredentialChain.resolve(environment)
        } catch {
            throw FanbenchError.badInput(error.message)
        }
        guard let credentials = chain?.credentials ?? fallback else {
            throw FanbenchError.badInput("no AWS credentials for Lambda: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        let real = url.host?.hasSuffix(".amazonaws.com") == true || url.host?.hasSuffix(".amazonaws.com.cn") == true
        return (LambdaClient(endpoint: url, region: region, credentials: credentials), real)
    }
}
