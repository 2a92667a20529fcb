import Crypto
import FanbenchBase
import Foundation

/// `fanbench lambda deploy` and `remove`: one function per memory size, named `PREFIX-<MB>`,
/// running the worker as a `provided.al2023` custom runtime. Idempotent: each function is read
/// first and only what differs is changed (code by its SHA-256, then the configuration), and
/// every change is waited for until Lambda says the function is Active and its last update
/// Successful.
package struct LambdaDeployer: Sendable {
    package struct Spec: Sendable {
        package var namePrefix: String
        package var sizes: [LambdaSize]
        package var role: String
        package var architecture: String
        package var zip: [UInt8]
        package var timeoutS: Int
        /// Where the functions reach S3 and which bucket (never a secret: Lambda gives the role's keys).
        package var environment: [String: String]
        /// Where the zip was put in S3, for packages over the 50 MB of a direct upload (nil: sent inline).
        package var s3Code: (bucket: String, key: String)?

        package init(namePrefix: String, sizes: [LambdaSize], role: String, architecture: String, zip: [UInt8], timeoutS: Int,
                     environment: [String: String]) {
            self.namePrefix = namePrefix
            self.sizes = sizes
            self.role = role
            self.architecture = architecture
            self.zip = zip
            self.timeoutS = timeoutS
            self.environment = environment
        }

        var code: LambdaClient.CreateFunction.Code {
            s3Code.map { .s3(bucket: $0.bucket, key: $0.key) } ?? .zip(zip)
        }

        /// Lambda's `CodeSha256`: base64 of the zip's SHA-256.
        package var codeSha256: String { Data(SHA256.hash(data: zip)).base64EncodedString() }
    }

    /// What deploy did to one function.
    package enum Change: Sendable, Equatable {
        case created
        case updated([String])
        case unchanged
    }

    package let client: LambdaClient
    package var pollInterval: Duration = .seconds(1)
    package var waitLimit: Duration = .seconds(300)
    package var say: @Sendable (String) -> Void = { _ in }

    package init(client: LambdaClient) { self.client = client }

    /// `PREFIX-<MB>`.
    package static func functionName(prefix: String, sizeMB: Int) -> String { "\(prefix)-\(sizeMB)" }

    /// Function names allow letters, digits, `-` and `_`, up to 64 characters.
    package static func checkPrefix(_ prefix: String) throws(FanbenchError) {
        let allowed = prefix.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "-" || $0 == "_" }
        let longest = functionName(prefix: prefix, sizeMB: 10240)
        guard !prefix.isEmpty, allowed, longest.utf8.count <= 64 else {
            throw FanbenchError.badInput("--name-prefix '\(prefix)' is not a Lambda function name prefix: use letters, digits, - and _, at most \(64 - 6) characters")
        }
    }

    package static func checkRole(_ role: String) throws(FanbenchError) {
        let parts = role.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[1].hasPrefix("aws"), parts[2] == "iam", parts[4].count == 12,
              parts[4].allSatisfy(\.isNumber), parts[5].hasPrefix("role/"), parts[5].count > 5 else {
            throw FanbenchError.badInput("--role '\(role)' is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME): create the role first (README, Real AWS Lambda)")
        }
    }

    /// Lambda's limit on a zip sent inline (CreateFunction's ZipFile): larger ones go through S3.
    package static let maxInlineZipBytes = 50 << 20

    /// The S3 key a package goes under: named by its content, so a second upload of the same zip is the same object.
    package static func codeKey(for zip: [UInt8]) -> String {
        "fanbench/lambda/" + SHA256.hash(data: zip).map { String(format: "%02x", $0) }.joined() + ".zip"
    }

    /// Creates or updates `PREFIX-<MB>` for every size; returns what changed, by function name.
    package func deploy(_ spec: Spec) async throws -> [(name: String, change: Change)] {
        var out: [(String, Change)] = []
        let environment = LambdaFunctionConfiguration.Environment(Variables: spec.environment)
        for size in spec.sizes {
            let name = Self.functionName(prefix: spec.namePrefix, sizeMB: size.memoryMB)
            guard let current = try await retrying({ try await client.getFunctionConfiguration(name) }) else {
                _ = try await retrying {
                    try await client.createFunction(.init(
                        FunctionName: name, Role: spec.role, Code: spec.code,
                        Description: "fanbench worker (\(fanbenchVersion)) at \(size.memoryMB) MB", MemorySize: size.memoryMB,
                        Timeout: spec.timeoutS, Environment: environment, Architectures: [spec.architecture]))
                }
                try await waitUntilReady(name)
                say("created \(name): \(size.memoryMB) MB, \(spec.architecture), timeout \(spec.timeoutS) s")
                out.append((name, .created))
                continue
            }
            var changed: [String] = []
            if current.CodeSha256 != spec.codeSha256 || (current.Architectures ?? ["x86_64"]) != [spec.architecture] {
                try await waitUntilReady(name)
                _ = try await retrying { try await client.updateFunctionCode(name, code: spec.code, architecture: spec.architecture) }
                changed.append(current.CodeSha256 != spec.codeSha256 ? "code" : "architecture")
                try await waitUntilReady(name)
            }
            var update = LambdaClient.UpdateConfiguration()
            if current.MemorySize != size.memoryMB { update.MemorySize = size.memoryMB; changed.append("memory \(current.MemorySize.map(String.init) ?? "?") → \(size.memoryMB) MB") }
            if current.Timeout != spec.timeoutS { update.Timeout = spec.timeoutS; changed.append("timeout \(current.Timeout.map(String.init) ?? "?") → \(spec.timeoutS) s") }
            if (current.Environment?.Variables ?? [:]) != spec.environment { update.Environment = environment; changed.append("environment") }
            if current.Role != spec.role { update.Role = spec.role; changed.append("role") }
            if current.Runtime != "provided.al2023" { update.Runtime = "provided.al2023"; changed.append("runtime") }
            if current.Handler != "bootstrap" { update.Handler = "bootstrap"; changed.append("handler") }
            if update.MemorySize != nil || update.Timeout != nil || update.Environment != nil || update.Role != nil
                || update.Runtime != nil || update.Handler != nil {
                try await waitUntilReady(name)
                let change = update
                _ = try await retrying { try await client.updateFunctionConfiguration(name, change) }
                try await waitUntilReady(name)
            }
            if changed.isEmpty {
                say("\(name) is up to date")
                out.append((name, .unchanged))
            } else {
                say("updated \(name): \(changed.joined(separator: ", "))")
                out.append((name, .updated(changed)))
            }
        }
        return out
    }

    /// Deletes every `PREFIX-<MB>` function (of `sizes`, or all of them); returns their names.
    package func remove(prefix: String, sizes: [LambdaSize]? = nil) async throws -> [String] {
        let functions = try await retrying { try await client.listFunctions() }
        let wanted = sizes.map { Set($0.map(\.memoryMB)) }
        let names = functions.map(\.FunctionName).filter { name in
            guard name.hasPrefix(prefix + "-"), let mb = Int(name.dropFirst(prefix.count + 1)) else { return false }
            return wanted?.contains(mb) ?? true
        }.sorted()
        for name in names {
            try await retrying { try await client.deleteFunction(name) }
            say("removed \(name)")
        }
        return names
    }

    /// Polls until the function is Active and its last update Successful; throws Lambda's reason when it failed.
    package func waitUntilReady(_ name: String) async throws {
        let deadline = ContinuousClock.now + waitLimit
        while true {
            guard let c = try await retrying({ try await client.getFunctionConfiguration(name) }) else {
                throw FanbenchError("function \(name) vanished while it was being deployed")
            }
            if c.State == "Failed" || c.LastUpdateStatus == "Failed" {
                throw FanbenchError("Lambda could not make \(name) ready: \(c.StateReason ?? c.LastUpdateStatusReason ?? "no reason given")")
            }
            if (c.State ?? "Active") == "Active", (c.LastUpdateStatus ?? "Successful") == "Successful" { return }
            guard ContinuousClock.now < deadline else {
                throw FanbenchError("function \(name) was not ready after \(waitLimit) (State \(c.State ?? "?"), LastUpdateStatus \(c.LastUpdateStatus ?? "?"))")
            }
            try await Task.sleep(for: pollInterval)
        }
    }

    /// Runs `body` again after throttling, a conflicting update or a 5xx: up to 6 attempts, backing off.
    private func retrying<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch let e as LambdaAPIError where e.isRetryable && attempt < 5 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(250 << attempt))
            }
        }
    }
}
