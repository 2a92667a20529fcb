import ArgumentParser
import FanbenchCore
import FanbenchS3
import Foundation

/// Where S3 is and how to sign for it: flags over the standard AWS variables, and the
/// local target (when it is up) when neither names an endpoint.
struct S3Options: ParsableArguments {
    @Option(help: ArgumentHelp("S3 endpoint URL (env AWS_ENDPOINT_URL). Default: the local target when it is up, else AWS.", valueName: "url"))
    var endpoint: String?

    @Option(help: ArgumentHelp("Region to sign for (env AWS_REGION).", valueName: "region"))
    var region: String?

    @Option(name: .customLong("ca-bundle"), help: ArgumentHelp("PEM file of CAs to trust (env AWS_CA_BUNDLE).", valueName: "file"))
    var caBundle: String?

    @Option(name: .customLong("access-key-id"), help: ArgumentHelp("Access key id (env AWS_ACCESS_KEY_ID).", valueName: "id"))
    var accessKeyID: String?

    @Option(name: .customLong("secret-key-file"), help: ArgumentHelp("File holding the secret key (env AWS_SECRET_ACCESS_KEY); never give a secret on the command line.", valueName: "file"))
    var secretKeyFile: String?

    @Flag(name: .customLong("virtual-hosted"), help: "Address buckets as bucket.host (default for AWS; path-style for other endpoints).")
    var virtualHosted = false

    /// Whether a flag or the environment names an endpoint (else the local target stands in).
    func namesEndpoint(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        endpoint != nil || environment["AWS_ENDPOINT_URL"] != nil || environment["AWS_ENDPOINT_URL_S3"] != nil
    }

    func clientConfiguration(stateDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> S3ClientConfiguration {
        if !namesEndpoint(environment) {
            let target = LocalTarget(stateDirectory: stateDirectory)
            if let state = target.runningState() { return try target.clientConfiguration(state) }
        }
        var secret: String?
        if let secretKeyFile {
            guard let text = try? String(contentsOfFile: secretKeyFile, encoding: .utf8) else {
                throw FanbenchError("cannot read --secret-key-file \(secretKeyFile): check the path and its permissions", exitCode: 2)
            }
            secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var overrides = S3ClientConfiguration.Overrides(endpoint: endpoint, region: region, accessKeyID: accessKeyID,
                                                        secretAccessKey: secret, caBundlePath: caBundle)
        if virtualHosted { overrides.addressing = .virtualHosted }
        return try S3ClientConfiguration.fromEnvironment(environment, overrides: overrides)
    }
}
