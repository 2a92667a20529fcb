import Crypto
import Foundation

/// Challenge-response on a shared token: the worker sends hex HMAC-SHA256(token, nonce);
/// the coordinator checks it in constant time. The token itself never crosses the wire.
public enum TokenAuth {
    /// A fresh random nonce, hex.
    public static func makeNonce() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }

    /// The worker's answer to a challenge.
    public static func answer(token: String, nonce: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(nonce.utf8), using: SymmetricKey(data: Array(token.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `auth` is the right answer; constant time in the answer's content.
    public static func verify(auth: String, token: String, nonce: String) -> Bool {
        guard let bytes = hexBytes(auth), bytes.count == SHA256.byteCount else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: Array(nonce.utf8),
                                                      using: SymmetricKey(data: Array(token.utf8)))
    }

    private static func hexBytes(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}
