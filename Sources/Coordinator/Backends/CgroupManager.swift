import FanbenchBase
import FanbenchWorker
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Creates, fills and removes per-worker cgroups capped like a Lambda size, on cgroup v1
/// (cpu, memory, cpuset hierarchies) or v2 (one unified tree). The root is injectable so the
/// v2 path can be tested against a fixture tree on hosts whose controllers v1 holds.
package struct CgroupManager: Sendable {
    package enum Version: String, Sendable { case v1, v2 }

    package let root: String
    package let version: Version
    /// Folder under each hierarchy that holds fanbench's groups.
    package let base: String

    package init(root: String = "/sys/fs/cgroup", version: Version, base: String = "fanbench") {
        self.root = root
        self.version = version
        self.base = base
    }

    /// The cgroup version mounted at `root`, or nil when neither is usable.
    package static func detect(root: String = "/sys/fs/cgroup") -> Version? {
        let fm = FileManager.default
        if fm.fileExists(atPath: root + "/cgroup.controllers") { return .v2 }
        if fm.fileExists(atPath: root + "/cpu/cgroup.procs") || fm.fileExists(atPath: root + "/memory/cgroup.procs") { return .v1 }
        return nil
    }

    /// One worker's groups: the `cgroup.procs` files to join and the folders to remove.
    package struct Group: Sendable, Equatable {
        package var name: String
        package var procsFiles: [String]
        package var directories: [String]

        package init(name: String, procsFiles: [String], directories: [String]) {
            self.name = name
            self.procsFiles = procsFiles
            self.directories = directories
        }
    }

    /// Creates the group `name` with the caps of `size`. Throws with what to do when it cannot.
    /// `cpuScale` multiplies the quota (a profile's vCPU over this host's core; at most the cores);
    /// the quota is over a period of `periodMicros`.
    package func create(name: String, size: LambdaSize, hostCores: Int, cpuScale: Double = 1,
                        periodMicros: Int = LambdaSize.cfsPeriodMicros) throws -> Group {
        let cores = size.cores(hostCores: hostCores)
        let quota = size.cfsQuotaMicros(scale: cpuScale, cores: cores, periodMicros: periodMicros)
        let pinCores = cores < hostCores
        switch version {
        case .v2:
            var controllers = "+cpu +memory"
            if pinCores { controllers += " +cpuset" }
            let parent = root + "/" + base
            try enable(controllers, in: root)
            try makeDirectory(parent)
            try enable(controllers, in: parent)
            let dir = parent + "/" + name
            try makeDirectory(dir)
            try write("\(quota) \(periodMicros)", to: dir + "/cpu.max")
            try write(String(size.memoryBytes), to: dir + "/memory.max")
            if exists(dir + "/memory.swap.max") { try write("0", to: dir + "/memory.swap.max") }
            if pinCores { try write("0-\(cores - 1)", to: dir + "/cpuset.cpus") }
            return Group(name: name, procsFiles: [dir + "/cgroup.procs"], directories: [dir])
        case .v1:
            let cpu = root + "/cpu/" + base + "/" + name
            let memory = root + "/memory/" + base + "/" + name
            try makeDirectory(root + "/cpu/" + base)
            try makeDirectory(cpu)
            try write(String(periodMicros), to: cpu + "/cpu.cfs_period_us")
            try write(String(quota), to: cpu + "/cpu.cfs_quota_us")
            try makeDirectory(root + "/memory/" + base)
            try makeDirectory(memory)
            try write(String(size.memoryBytes), to: memory + "/memory.limit_in_bytes")
            // No swap: memsw (when swap accounting is on) equals the limit; else swappiness 0.
            if exists(memory + "/memory.memsw.limit_in_bytes") {
                try write(String(size.memoryBytes), to: memory + "/memory.memsw.limit_in_bytes")
            } else if exists(memory + "/memory.swappiness") {
                try? write("0", to: memory + "/memory.swappiness")
            }
            var group = Group(name: name, procsFiles: [cpu + "/cgroup.procs", memory + "/cgroup.procs"], directories: [cpu, memory])
            if pinCores && exists(root + "/cpuset") {
                let parent = root + "/cpuset/" + base
                try makeDirectory(parent)
                try copyIfEmpty(["cpuset.cpus", "cpuset.mems"], from: root + "/cpuset", to: parent)
                let dir = parent + "/" + name
                try makeDirectory(dir)
                try write(read(parent + "/cpuset.mems") ?? "0", to: dir + "/cpuset.mems")
                try write("0-\(cores - 1)", to: dir + "/cpuset.cpus")
                group.procsFiles.append(dir + "/cgroup.procs")
                group.directories.append(dir)
            }
            return group
        }
    }

    /// A group as a function sandbox is measured in it: on v1 its memory and cpuacct folders
    /// (cpuacct is mounted with cpu); on v2 none, and the handler's /proc entries are read.
    package func sandboxGroup(_ group: Group) -> SandboxMeter.Group {
        guard version == .v1 else { return SandboxMeter.Group(procsFiles: group.procsFiles, memoryDir: nil, cpuacctDir: nil) }
        let memory = root + "/memory/" + base + "/" + group.name
        let cpu = root + "/cpu/" + base + "/" + group.name
        return SandboxMeter.Group(procsFiles: group.procsFiles, memoryDir: exists(memory) ? memory : nil,
                                  cpuacctDir: exists(cpu + "/cpuacct.usage") ? cpu : nil)
    }

    /// Removes every group whose name starts with `prefix` (what a killed coordinator's workers
    /// left), killing what still runs in them.
    package func removeGroups(prefix: String) {
        let parents: [String] = version == .v1 ? ["cpu", "memory", "cpuset"].map { root + "/" + $0 + "/" + base } : [root + "/" + base]
        var names = Set<String>()
        for p in parents {
            for n in (try? FileManager.default.contentsOfDirectory(atPath: p)) ?? [] where n.hasPrefix(prefix) { names.insert(n) }
        }
        for name in names.sorted() {
            let dirs = parents.map { $0 + "/" + name }.filter(exists)
            remove(Group(name: name, procsFiles: dirs.map { $0 + "/cgroup.procs" }, directories: dirs))
        }
    }

    /// Removes the group's folders (its processes must have exited). Never throws: cleanup paths call it.
    package func remove(_ group: Group) {
        func children(_ dir: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
                .filter { $0.hasPrefix("fanbench-sandbox") || $0.hasPrefix("fanbench-vcpu-") }.map { dir + "/" + $0 }
        }
        func killAll(in dir: String) {
            for pid in (read(dir + "/cgroup.procs") ?? "").split(separator: "\n").compactMap({ pid_t($0) }) { kill(pid, SIGKILL) }
        }
        // First, in every hierarchy, what a worker left behind: its function sandbox (a child
        // group, or on v1 hierarchies without one, the handler in the worker's own group) and its
        // pacer's per-thread groups. A handler outlives a killed worker until this.
        for dir in group.directories {
            for child in children(dir) { killAll(in: child) }
            killAll(in: dir)
        }
        for dir in group.directories {
            for child in children(dir) {
                for _ in 0..<50 where rmdir(child) != 0 && errno == EBUSY { usleep(20_000) }
                removeFixture(child)
            }
            // A cgroup folder goes only once its last process is gone; that can lag a kill a little.
            for _ in 0..<50 {
                if rmdir(dir) == 0 || errno == ENOENT { break }
                if errno != EBUSY { removeFixture(dir); break }
                usleep(20_000)
            }
        }
    }

    /// Removes fanbench's parent folders when no group is left in them (another run may still
    /// use them: then they stay).
    package func removeBaseIfEmpty() {
        let parents: [String]
        switch version {
        case .v2: parents = [root + "/" + base]
        case .v1: parents = ["cpu", "memory", "cpuset"].map { root + "/" + $0 + "/" + base }
        }
        for dir in parents { rmdir(dir) }
    }

    /// The shell prefix that moves the shell into the group and then execs the program, so the
    /// program runs no code of its own outside its caps.
    package static func joinAndExec(_ group: Group?, executable: String, arguments: [String]) -> (String, [String]) {
        guard let group, !group.procsFiles.isEmpty else { return (executable, arguments) }
        let joins = group.procsFiles.map { "echo $$ > \(shellQuoted($0))" }.joined(separator: " && ")
        return ("/bin/sh", ["-c", joins + " && exec \"$0\" \"$@\"", executable] + arguments)
    }

    // MARK: - Files

    private func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    private func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// mkdir, tolerant of another fanbench run removing the emptied parent in between
    /// (`removeBaseIfEmpty`): a vanished parent is made again, a few times at most.
    private func makeDirectory(_ path: String, attempts: Int = 3) throws {
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return }
        let failure = errno
        let parent = (path as NSString).deletingLastPathComponent
        if failure == ENOENT, attempts > 1, parent.count > root.count {
            try makeDirectory(parent, attempts: attempts - 1)
            return try makeDirectory(path, attempts: attempts - 1)
        }
        throw FanbenchError(cgroupError("cannot create \(path)", failure))
    }

    private func write(_ value: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FanbenchError(cgroupError("cannot open \(path)", errno)) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else {
            throw FanbenchError(cgroupError("cannot write '\(value)' to \(path)", errno))
        }
    }

    private func enable(_ controllers: String, in dir: String) throws {
        let current = read(dir + "/cgroup.subtree_control") ?? ""
        let missing = controllers.split(separator: " ").filter { !current.contains($0.dropFirst()) }
        guard !missing.isEmpty else { return }
        try write(missing.joined(separator: " "), to: dir + "/cgroup.subtree_control")
    }

    private func copyIfEmpty(_ files: [String], from: String, to: String) throws {
        for f in files where (read(to + "/" + f) ?? "").isEmpty {
            try write(read(from + "/" + f) ?? "0", to: to + "/" + f)
        }
    }

    /// Fixture trees hold plain files where cgroupfs has virtual ones; remove those too.
    private func removeFixture(_ dir: String) {
        guard !dir.hasPrefix("/sys/") else { return }
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func cgroupError(_ what: String, _ code: Int32) -> String {
        "\(what): \(String(cString: strerror(code))); caps need write access to \(root) (run as root), or pass --allow-uncapped to run without caps (results marked enforced: false)"
    }
}
