import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files that hold secrets (credentials, the worker token): mode 0600 from the first byte.
package enum SecretFile {
    /// Writes `data` to `path`, replacing it; `exclusive` fails if the file exists.
    package static func write(_ data: Data, to path: String, exclusive: Bool = false) throws(FanbenchError) {
        let fd = open(path, O_WRONLY | O_CREAT | (exclusive ? O_EXCL : O_TRUNC), 0o600)
        guard fd >= 0 else {
            throw FanbenchError("cannot write the secret file \(path): \(String(cString: strerror(errno))); check the folder is writable")
        }
        defer { close(fd) }
        fchmod(fd, 0o600)
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == data.count else {
            throw FanbenchError("cannot write the secret file \(path): \(String(cString: strerror(errno))); check the disk has room")
        }
    }
}

/// Quotes a word for a POSIX shell.
package func shellQuoted(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
