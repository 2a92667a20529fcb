import Crypto
import FanbenchBase
import Foundation

/// Challenge-response on a shared token: the worker sends hex HMAC-SHA256(token, nonce);
/// the coordinator checks it in constant time. The token itself never crosses the wire.
package enum TokenAuth {
    /// A fresh random nonce, hex.
    package static func makeNonce() -> String { Hex.random(byteCount: 32) }

    /// The worker's answer to a challenge.
    package static func answer(token: String, nonce: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(nonce.utf8), using: SymmetricKey(data: Array(token.utf8))))
    }

    /// Whether `auth` is the right answer; constant time in the answer's content.
    package static func verify(auth: String, token: String, nonce: String) -> Bool {
        guard let bytes = Hex.decode(auth), bytes.count == SHA256.byteCount else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: Array(nonce.utf8),
                                                      using: SymmetricKey(data: Array(token.utf8)))
    }

    /// The token from FANBENCH_TOKEN, else from `file` (refused when others can read it); nil
    /// when neither gives one. Never from a flag: arguments are visible to everyone (`ps`).
    package static func readToken(file: String?, environment: [String: String]) throws(FanbenchError) -> String? {
        if let env = environment["FANBENCH_TOKEN"], !env.isEmpty { return env }
        guard let file else { return nil }
        try SecretFile.checkPrivate(file, what: "--token-file")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
              case let token = text.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
            throw .badInput("cannot read a token from --token-file \(file): check the path, or set FANBENCH_TOKEN")
        }
        return token
    }
}
