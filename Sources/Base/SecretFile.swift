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

extension SecretFile {
    /// Refuses a secret file that every user can read or write (its owner and group may:
    /// Kubernetes gives a Secret to a non-root container through its group): `what` names where
    /// it was given.
    package static func checkPrivate(_ path: String, what: String) throws(FanbenchError) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw .badInput("cannot read \(what) \(path): \(String(cString: strerror(errno))); check the path")
        }
        let mode = st.st_mode & 0o777
        guard mode & 0o007 == 0 else {
            throw .badInput("\(what) \(path) is open to other users (mode \(String(mode, radix: 8))): a secret must not be readable by every user; run chmod 600 \(shellQuoted(path))")
        }
    }
}

/// Quotes a word for a POSIX shell.
package func shellQuoted(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
