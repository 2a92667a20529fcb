import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// A function's log, as CloudWatch would hold it: the handler's stdout and stderr and the
/// worker's START / END / REPORT lines. Bounded: past `maxBytes` the file moves to `.1`
/// (replacing the previous one) and a new one starts. The last few KiB are kept in memory too,
/// for the error message of a runtime that died.
package final class FunctionLog: Sendable {
    package let path: String
    private let maxBytes: Int
    private let state: NIOLockedValueBox<(fd: Int32, written: Int, tail: [UInt8], capture: [UInt8])>
    static let tailBytes = 4096

    package init(path: String, maxBytes: Int = 8 << 20) {
        self.path = path
        self.maxBytes = maxBytes
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        var size = 0
        if fd >= 0 { size = Int(lseek(fd, 0, SEEK_END)) }
        state = NIOLockedValueBox((fd, max(0, size), [], []))
    }

    /// Appends `bytes`; `output` marks the handler's own output (kept in the tail).
    package func append(_ bytes: some Collection<UInt8>, output: Bool = false) {
        state.withLockedValue { s in
            if s.written + bytes.count > maxBytes, s.fd >= 0 {
                Glibc.close(s.fd)
                rename(path, path + ".1")
                s.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
                s.written = 0
            }
            if s.fd >= 0 {
                let array = Array(bytes)
                array.withUnsafeBytes { p in _ = Glibc.write(s.fd, p.baseAddress, p.count) }
                s.written += array.count
            }
            // Everything since `beginCapture`, the last 4 KiB of it: the invocation's log as an Invoke's tail gives it.
            s.capture += bytes
            if s.capture.count > Self.tailBytes { s.capture.removeFirst(s.capture.count - Self.tailBytes) }
            if output {
                s.tail += bytes
                if s.tail.count > Self.tailBytes { s.tail.removeFirst(s.tail.count - Self.tailBytes) }
            }
        }
    }

    package func line(_ text: String) {
        append((text + "\n").utf8)
    }

    /// The last `lines` lines of the handler's own output (of the last 4 KiB it wrote), as text.
    package func tail(lines: Int = 10) -> String {
        let bytes = state.withLockedValue { $0.tail }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
    }

    /// Starts collecting one invocation's log (`captured`) afresh.
    package func beginCapture() {
        state.withLockedValue { $0.capture.removeAll(keepingCapacity: true) }
    }

    /// The log since `beginCapture`: its last 4 KiB, as Lambda's `X-Amz-Log-Result` holds it.
    package func captured() -> String {
        String(decoding: state.withLockedValue { $0.capture }, as: UTF8.self)
    }

    /// Forgets the in-memory tail (a new sandbox starts).
    package func clearTail() {
        state.withLockedValue { $0.tail.removeAll() }
    }

    /// Copies everything readable from `fd` (a pipe's read end) into the log on a thread of its
    /// own until the pipe closes, then closes `fd` and signals the returned semaphore (a runtime
    /// that exited is waited for with it, so that its last words are in the tail).
    @discardableResult
    package func drain(_ fd: Int32) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            defer { done.signal() }
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                append(buffer[0..<n], output: true)
            }
            Glibc.close(fd)
        }
        thread.name = "function-log"
        thread.start()
        return done
    }

    deinit {
        let fd = state.withLockedValue { $0.fd }
        if fd >= 0 { Glibc.close(fd) }
    }
}
