import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts and stops child processes with posix_spawn: own session (so a terminal's Ctrl-C
/// reaches only what we forward), stdin from /dev/null, output to a log file.
public enum ProcessLauncher {
    /// glibc's POSIX_SPAWN_SETSID (not exported to Swift).
    private static let spawnSetsid: Int16 = 0x80

    /// Spawns `executable` with `arguments`, its output appended to `logPath`; returns the pid.
    public static func spawn(executable: String, arguments: [String], logPath: String,
                             environment: [String: String]? = nil, newSession: Bool = true) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

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

    /// Whether `pid` is a live (not zombie) process.
    public static func isAlive(_ pid: pid_t) -> Bool {
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
    public static func commandLine(_ pid: pid_t) -> [String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// SIGTERM, then SIGKILL if it is still alive after `grace`. Returns once it is gone.
    public static func terminate(_ pid: pid_t, grace: Duration = .seconds(5)) async {
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

    /// Finds an executable by name on PATH.
    public static func which(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Runs a short command to completion (openssl and the like); throws with its output on failure.
    public static func run(_ executable: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let text = String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            throw FanbenchError("\(URL(fileURLWithPath: executable).lastPathComponent) failed (exit \(p.terminationStatus)): \(text)")
        }
    }
}

/// Whether a TCP port can be bound on the address (nothing listens there).
public func isPortFree(_ port: Int, host: String = "127.0.0.1") -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, host, &addr.sin_addr)
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return rc == 0
}
