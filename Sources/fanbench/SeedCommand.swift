import ArgumentParser
import FanbenchBase
import FanbenchCommandSupport
import FanbenchLocalTarget
import FanbenchS3

/// `fanbench seed`: create a bucket and fill it with N objects.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed", abstract: "Create a bucket if needed and N objects in it, with parallel puts (idempotent).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var s3: S3Options
    @Option(help: "Bucket to fill.") var bucket: String
    @Option(help: "Number of objects.") var objects: Int = 100
    @Option(help: "Bytes per object.") var size: Int = 1024
    @Option(help: "Key prefix.") var prefix: String = ""
    @Option(help: "Puts in flight.") var inFlight: Int = 32

    func run() async throws {
        try await reportingErrors {
            let config = try s3.settings.clientConfiguration(stateDirectory: global.stateDirectory)
            let result = try await S3Client.withClient(configuration: config, transport: .async, maxConnections: inFlight) { client in
                try await Seeder.seed(client: client, bucket: bucket, objects: objects, size: size, prefix: prefix, inFlight: inFlight)
            }
            say("bucket \(bucket) at \(config.endpoint): \(objects) objects of \(size) bytes under '\(prefix)' (\(result.created) created, \(result.existing) already there) in \(String(format: "%.2f", result.seconds)) s")
        }
    }
}
