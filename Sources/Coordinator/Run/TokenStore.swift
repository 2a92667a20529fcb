import FanbenchBase
import FanbenchProtocol
import Foundation

/// The worker token: FANBENCH_TOKEN, else --token-file, else one generated and kept 0600 under
/// the state folder.
package enum TokenStore {
    package static func load(file: String?, stateDirectory: String,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let token = try TokenAuth.readToken(file: file, environment: environment) { return token }
        let path = stateDirectory + "/token"
        if let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty { return text.trimmingCharacters(in: .whitespacesAndNewlines) }
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let token = Hex.random(byteCount: 32)
        try SecretFile.write(Data(token.utf8), to: path, exclusive: true)
        return token
    }
}
