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
        // Written whole under a name of its own, then linked into place: two runs starting at once
        // on a fresh state folder agree on one token (the loser reads the winner's), and nobody
        // reads a file half written.
        let token = Hex.random(byteCount: 32)
        let staged = path + ".new-\(getpid())-\(Hex.random(byteCount: 4))"
        try SecretFile.write(Data(token.utf8), to: staged, exclusive: true)
        defer { unlink(staged) }
        if link(staged, path) == 0 { return token }
        let failure = errno
        if failure == EEXIST, let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        throw FanbenchError("cannot write the token file \(path): \(String(cString: strerror(failure))); check the state folder is writable, or set FANBENCH_TOKEN")
    }
}
