#if canImport(Glibc)
import Glibc
#endif

/// Reads small kernel files (/proc, cgroupfs) with one open and read, no Foundation: the
/// per-invocation counters are read on the measured path.
package enum SmallFile {
    /// The file's text (at most 64 KiB), or nil when it cannot be read.
    package static func read(_ path: String) -> String? {
        bytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The file's bytes (at most 64 KiB), or nil when it cannot be read.
    package static func bytes(_ path: String) -> ArraySlice<UInt8>? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        var count = 0
        while true {
            if count == bytes.count {
                guard bytes.count < 65536 else { break }
                bytes += [UInt8](repeating: 0, count: bytes.count)
            }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if n < 0 { return nil }
                break
            }
            count += n
        }
        return bytes[0..<count]
    }

    /// The whole number after the first `label` in `bytes` (spaces skipped), e.g. "VmHWM:".
    package static func number(after label: String, in bytes: ArraySlice<UInt8>) -> Int64? {
        let needle = Array(label.utf8)
        guard !needle.isEmpty, bytes.count >= needle.count else { return nil }
        var i = bytes.startIndex
        while i <= bytes.endIndex - needle.count {
            if bytes[i] == needle[0], bytes[i..<i + needle.count].elementsEqual(needle) {
                return leadingNumber(bytes[(i + needle.count)...])
            }
            i += 1
        }
        return nil
    }

    /// The whole number at the start of `bytes`, spaces and tabs skipped.
    package static func leadingNumber(_ bytes: ArraySlice<UInt8>) -> Int64? {
        var i = bytes.startIndex
        while i < bytes.endIndex, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
        var value: Int64 = 0
        var digits = 0
        while i < bytes.endIndex, bytes[i] >= 0x30, bytes[i] <= 0x39 {
            value = value &* 10 &+ Int64(bytes[i] - 0x30)
            digits += 1
            i += 1
        }
        return digits > 0 ? value : nil
    }

    /// The whole number the file starts with (a cgroup counter).
    package static func integer(_ path: String) -> Int64? {
        bytes(path).flatMap(leadingNumber)
    }
}
