import CSpawn
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts and stops child processes with posix_spawn: own session (so a terminal's Ctrl-C
/// reaches only what we forward), stdin from /dev/null, output to a log file.
package enum ProcessLauncher {
    /// glibc's POSIX_SPAWN_SETSID (not exported to Swift).
    private static let spawnSetsid: Int16 = 0x80

    /// Spawns `executable` with `arguments`, its output appended to `logPath`; returns the pid.
    /// `errorPath` sends standard error to a file of its own (else it joins the log).
    package static func spawn(executable: String, arguments: [String], logPath: String, errorPath: String? = nil,
                             environment: [String: String]? = nil, newSession: Bool = true) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // Only 0-2 go to the child (see CSpawn; glibc before 2.34 cannot, and then only
        // descriptors without close-on-exec leak).
        _ = fb_spawn_close_from_3(&actions)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        if newSession { posix_spawnattr_setflags(&attr, spawnSetsid) }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }

        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, env)
        guard rc == 0 else {
            throw FanbenchError("cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Spawns `executable` (a path) with exactly `environment`, in its own session, in
    /// `workingDirectory`, stdin from /dev/null and its output onto `outputDescriptor` (a pipe's
    /// write end), having it join the cgroups of `cgroupProcs` (their cgroup.procs files) before
    /// exec, so all its memory is charged there.
    package static func spawnJoined(executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
                                   outputDescriptor: Int32, cgroupProcs: [String]) throws(FanbenchError) -> pid_t {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        let procs = cgroupProcs.map { UnsafePointer(strdup($0)) }
        defer { procs.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        let pid = procs.withUnsafeBufferPointer { p in
            fb_spawn_joined(executable, argv, env, workingDirectory, outputDescriptor, p.baseAddress, Int32(p.count))
        }
        guard pid > 0 else {
            throw FanbenchError("cannot start \(executable): \(String(cString: strerror(errno)))")
        }
        return pid
    }

    /// Whether `pid` is a live (not zombie) process.
    package static func isAlive(_ pid: pid_t) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        // Reap it if it is our own exited child.
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let state = stat[stat.index(close, offsetBy: 2)]
            return state != "Z" && state != "X"
        }
        return true
    }

    /// The process's command line, from /proc.
    package static func commandLine(_ pid: pid_t) -> [String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// SIGTERM, then SIGKILL if it is still alive after `grace`. Returns once it is gone.
    package static func terminate(_ pid: pid_t, grace: Duration = .seconds(5)) async {
        guard isAlive(pid) else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isAlive(pid), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if isAlive(pid) {
            kill(pid, SIGKILL)
            let killDeadline = ContinuousClock.now + .seconds(5)
            while isAlive(pid), ContinuousClock.now < killDeadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Finds an executable: a bare name on `path` (default: our PATH), a path as it is — a
    /// relative one against `folder` when given.
    package static func which(_ name: String, path: String? = nil, relativeTo folder: String? = nil) -> String? {
        if name.contains("/") {
            let full = name.hasPrefix("/") || folder == nil ? name : folder! + "/" + name
            return FileManager.default.isExecutableFile(atPath: full) ? full : nil
        }
        for dir in (path ?? ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Blocks until the child `pid` has exited, without reaping it (its pid stays taken).
    package static func waitUntilExited(_ pid: pid_t) {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1 && errno == EINTR {}
    }

    /// Blocks until the child `pid` exits; its exit status, or 128 + the signal that killed it.
    package static func waitForExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { return -1 }
        }
        return exitStatus(status)
    }

    /// A raw wait status as a shell reports it: the exit status, or 128 + the signal.
    package static func exitStatus(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }

    /// The last non-empty line of a (log) file, at most 500 bytes of it; nil when there is none.
    package static func lastLine(ofFile path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 4096 ? size - 4096 : 0)
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        guard let line = text.split(separator: "\n").last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else { return nil }
        return String(line.prefix(500))
    }

    /// Runs a short command to completion (openssl and the like); throws with its last output
    /// line on failure.
    package static func run(_ executable: String, _ arguments: [String]) throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("fanbench-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log").path
        defer { unlink(log) }
        let pid = try spawn(executable: executable, arguments: arguments, logPath: log, newSession: false)
        let status = waitForExit(pid)
        guard status == 0 else {
            throw FanbenchError("\(URL(fileURLWithPath: executable).lastPathComponent) failed (exit \(status)): \(lastLine(ofFile: log) ?? "no output")")
        }
    }
}
