@testable import FanbenchBase
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Children get standard input, output and error, and none of the parent's other descriptors:
/// a descriptor opened without close-on-exec (a file being written, a library's socket) must
/// not keep a file busy or a port bound for as long as a worker lives.
@Suite struct ProcessLauncherTests {
    /// A descriptor without close-on-exec, open while the child starts: what the child's shell
    /// finds of it, and of its standard output, in its own /proc/PID/fd.
    func childDescriptors(_ spawn: (_ out: String, _ listing: String, _ leaked: Int32) throws -> pid_t) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-fds-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let leaked = open(dir + "/held-open", O_WRONLY | O_CREAT, 0o600)  // no O_CLOEXEC, on purpose
        defer { close(leaked) }
        #expect(leaked > 2)
        let listing = dir + "/fds"
        let pid = try spawn(dir + "/out", listing, leaked)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        #expect(status == 0, "the child failed: \((try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "")")
        return ((try? String(contentsOfFile: listing, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// $0: where to write; $1: the descriptor to look for. The shell's own descriptors, no child's.
    static let script = "r=clean; [ -e /proc/$$/fd/$1 ] && r=leaked; [ -e /proc/$$/fd/1 ] || r=no-stdout; echo $r > \"$0\""

    @Test func aSpawnedChildHoldsOnlyItsStandardDescriptors() throws {
        let seen = try childDescriptors { out, listing, leaked in
            try ProcessLauncher.spawn(executable: "/bin/sh", arguments: ["-c", Self.script, listing, "\(leaked)"], logPath: out)
        }
        #expect(seen == "clean")
    }

    @Test func aChildJoinedToCgroupsHoldsOnlyItsStandardDescriptors() throws {
        let seen = try childDescriptors { out, listing, leaked in
            let fd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            defer { close(fd) }
            return try ProcessLauncher.spawnJoined(executable: "/bin/sh", arguments: ["-c", Self.script, listing, "\(leaked)"],
                                                   environment: ["PATH": "/usr/bin:/bin"], workingDirectory: "/",
                                                   outputDescriptor: fd, cgroupProcs: [])
        }
        #expect(seen == "clean")
    }
}
