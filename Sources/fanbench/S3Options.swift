import ArgumentParser
import FanbenchCoordinator

/// Where S3 is and how to sign for it (flags over the standard AWS variables).
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

    var settings: S3Settings {
        var s = S3Settings()
        s.endpoint = endpoint
        s.region = region
        s.caBundle = caBundle
        s.accessKeyID = accessKeyID
        s.secretKeyFile = secretKeyFile
        s.virtualHosted = virtualHosted
        return s
    }
}
