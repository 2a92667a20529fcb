import FanbenchBase
import FanbenchLocalTarget
import FanbenchS3
import Foundation

/// Where S3 is and how to sign for it: flags over the standard AWS variables, and the local
/// target (when it is up) when neither names an endpoint.
package struct S3Settings: Sendable {
    package var endpoint: String?
    package var region: String?
    package var caBundle: String?
    package var accessKeyID: String?
    /// A file holding the secret key (never a secret on the command line).
    package var secretKeyFile: String?
    package var virtualHosted = false

    package init() {}

    /// Whether a flag or the environment names an endpoint (else the local target stands in).
    package func namesEndpoint(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        endpoint != nil || environment["AWS_ENDPOINT_URL"] != nil || environment["AWS_ENDPOINT_URL_S3"] != nil
    }

    package func clientConfiguration(stateDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> S3ClientConfiguration {
        if !namesEndpoint(environment) {
            let target = LocalTarget(stateDirectory: stateDirectory)
            if let state = target.runningState() { return try target.clientConfiguration(state) }
        }
        var secret: String?
        if let secretKeyFile {
            guard let text = try? String(contentsOfFile: secretKeyFile, encoding: .utf8) else {
                throw FanbenchError.badInput("cannot read --secret-key-file \(secretKeyFile): check the path and its permissions")
            }
            secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var overrides = S3ClientConfiguration.Overrides(endpoint: endpoint, region: region, accessKeyID: accessKeyID,
                                                        secretAccessKey: secret, caBundlePath: caBundle)
        if virtualHosted { overrides.addressing = .virtualHosted }
        return try S3ClientConfiguration.fromEnvironment(environment, overrides: overrides)
    }
}
