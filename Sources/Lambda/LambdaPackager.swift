import Crypto
import FanbenchBase
import Foundation

/// `fanbench lambda package`: a deployment zip for the `provided.al2023` runtime with the worker
/// as `bootstrap` and, in `lib/` (on Lambda's LD_LIBRARY_PATH), the shared libraries it links
/// that are not glibc's (libcurl, libxml2 and theirs). The worker must carry the Swift runtime
/// in itself (`--static-swift-stdlib`): Amazon Linux has none. The zip is reproducible (fixed
/// times, fixed order), so an unchanged worker keeps its CodeSha256 and deploy leaves it alone.
package enum LambdaPackager {
    package struct Package: Sendable {
        package var path: String
        package var bytes: Int
        package var bootstrapBytes: Int
        package var libraries: [String]
        /// The newest glibc symbol version the bootstrap and its libraries need.
        package var glibcNeeded: String?
        /// Lambda's CodeSha256 of the zip.
        package var codeSha256: String
    }

    /// glibc as provided.al2023 has it (Amazon Linux 2023: glibc 2.34).
    package static let runtimeGlibc = (major: 2, minor: 34)

    /// Libraries the runtime's glibc provides: never bundled.
    static let systemLibraries: Set<String> = [
        "linux-vdso.so.1", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2", "libutil.so.1",
        "libanl.so.1", "libnsl.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
    ]

    package enum Architecture: String, CaseIterable, Sendable {
        case x86_64, arm64
        var elfMachine: UInt16 { self == .x86_64 ? 62 : 183 }
    }

    package static func make(worker: String, output: String, architecture: Architecture) throws(FanbenchError) -> Package {
        guard FileManager.default.isExecutableFile(atPath: worker) else {
            throw FanbenchError.badInput("worker '\(worker)' is not an executable file: build it with scripts/package-lambda, or pass --worker PATH")
        }
        let machine = try elfMachine(worker)
        guard machine == architecture.elfMachine else {
            let built = Architecture.allCases.first { $0.elfMachine == machine }?.rawValue ?? "machine \(machine)"
            throw FanbenchError.badInput("\(worker) is built for \(built), not \(architecture.rawValue): this toolchain has no Swift SDK to cross-build for \(architecture.rawValue) (swift sdk list); package on an \(architecture.rawValue) host")
        }
        let linked = try sharedLibraries(worker)
        if let swift = linked.first(where: { $0.name.hasPrefix("libswiftCore") || $0.name.hasPrefix("libFoundation") }) {
            throw FanbenchError.badInput("\(worker) links the Swift runtime as a shared library (\(swift.name)), which provided.al2023 does not have: build it with --static-swift-stdlib (scripts/package-lambda does)")
        }
        if let missing = linked.first(where: { $0.path == nil && !systemLibraries.contains($0.name) }) {
            throw FanbenchError("\(worker) needs \(missing.name), which is not on this host: install it, then package again")
        }
        let bundled = linked.filter { !systemLibraries.contains($0.name) && $0.path != nil }

        let fm = FileManager.default
        let stage = NSTemporaryDirectory() + "fanbench-package-\(getpid())"
        try? fm.removeItem(atPath: stage)
        defer { try? fm.removeItem(atPath: stage) }
        var glibc: (Int, Int)?
        var bootstrapBytes = 0
        do {
            try fm.createDirectory(atPath: stage + "/lib", withIntermediateDirectories: true)
            try fm.copyItem(atPath: worker, toPath: stage + "/bootstrap")
            // Debug info is most of a release build's size and Lambda never reads it (50 MB zipped is the direct-upload limit).
            if let strip = ProcessLauncher.which("strip") {
                let (status, text) = run(strip, ["--strip-debug", stage + "/bootstrap"], in: nil, environment: [:])
                if status != 0 { throw FanbenchError("strip --strip-debug failed on the bootstrap: \(text.prefix(200))") }
            }
            // The file itself under its soname (ldd names symlinks such as libcurl.so.4 → libcurl.so.4.8.0).
            for lib in bundled {
                try fm.copyItem(atPath: URL(fileURLWithPath: lib.path!).resolvingSymlinksInPath().path, toPath: stage + "/lib/" + lib.name)
            }
            let fixed = Date(timeIntervalSince1970: 315_532_800 + 86_400)  // 1980-01-02: zip's epoch, whatever the time zone
            for file in ["bootstrap"] + bundled.map({ "lib/" + $0.name }) + ["lib"] {
                try fm.setAttributes([.posixPermissions: file.hasPrefix("lib/") ? 0o644 : 0o755, .modificationDate: fixed],
                                     ofItemAtPath: stage + "/" + file)
                if file == "bootstrap" { bootstrapBytes = (try? fm.attributesOfItem(atPath: stage + "/bootstrap")[.size] as? Int) ?? 0 }
                if file != "lib", let v = glibcVersion(in: stage + "/" + file), glibc.map({ v > $0 }) ?? true { glibc = v }
            }
        } catch {
            throw FanbenchError("cannot stage the package in \(stage): \(error.localizedDescription)")
        }
        let absoluteOutput = output.hasPrefix("/") ? output : fm.currentDirectoryPath + "/" + output
        try? fm.removeItem(atPath: absoluteOutput)
        guard let zip = ProcessLauncher.which("zip") else {
            throw FanbenchError("zip is not installed: apt-get install zip (scripts/install-deps installs it)")
        }
        let entries = ["bootstrap"] + (bundled.isEmpty ? [] : ["lib"] + bundled.map { "lib/" + $0.name }.sorted())
        let (status, text) = run(zip, ["-X", "-D", "-q", absoluteOutput] + entries, in: stage, environment: ["TZ": "UTC"])
        guard status == 0 else { throw FanbenchError("zip failed (\(status)): \(text.prefix(300))") }
        guard let data = fm.contents(atPath: absoluteOutput) else { throw FanbenchError("cannot read the package back from \(absoluteOutput)") }
        return Package(path: absoluteOutput, bytes: data.count, bootstrapBytes: bootstrapBytes, libraries: bundled.map(\.name),
                       glibcNeeded: glibc.map { "\($0.0).\($0.1)" }, codeSha256: Data(SHA256.hash(data: data)).base64EncodedString())
    }

    /// Whether `needed` runs on the runtime's glibc.
    package static func runsOnRuntime(glibc needed: String?) -> Bool {
        guard let needed else { return true }
        let parts = needed.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 2 else { return true }
        return (parts[0], parts[1]) <= runtimeGlibc
    }

    static func elfMachine(_ path: String) throws(FanbenchError) -> UInt16 {
        guard let handle = FileHandle(forReadingAtPath: path), let head = try? handle.read(upToCount: 20), head.count == 20,
              Array(head.prefix(4)) == [0x7f, 0x45, 0x4c, 0x46] else {
            throw FanbenchError.badInput("\(path) is not an ELF executable: Lambda's provided.al2023 runtime runs Linux binaries")
        }
        try? handle.close()
        return UInt16(head[18]) | UInt16(head[19]) << 8
    }

    /// `ldd`'s view of the libraries `path` loads: soname and where it resolved (nil: not found).
    static func sharedLibraries(_ path: String) throws(FanbenchError) -> [(name: String, path: String?)] {
        guard let ldd = ProcessLauncher.which("ldd") else { throw FanbenchError("ldd is not installed: it comes with libc-bin") }
        let (status, text) = run(ldd, [path], in: nil, environment: [:])
        if status != 0 {
            if text.contains("not a dynamic executable") { return [] }
            throw FanbenchError("ldd \(path) failed: \(text.prefix(300))")
        }
        return parseLdd(text)
    }

    static func parseLdd(_ text: String) -> [(name: String, path: String?)] {
        var out: [(String, String?)] = []
        for line in text.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if let arrow = t.range(of: " => ") {
                let name = String(t[..<arrow.lowerBound])
                let rest = t[arrow.upperBound...]
                let target = rest.split(separator: " ").first.map(String.init)
                out.append((name, target == "not" ? nil : target))
            } else if let first = t.split(separator: " ").first {
                out.append(((String(first) as NSString).lastPathComponent, String(first)))
            }
        }
        return out
    }

    /// The newest `GLIBC_2.N` version a binary names (its symbol version needs).
    static func glibcVersion(in path: String) -> (Int, Int)? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let needle = Data("GLIBC_2.".utf8)
        var best: (Int, Int)?
        var from = data.startIndex
        while let hit = data.range(of: needle, in: from..<data.endIndex) {
            var j = hit.upperBound
            var minor = 0
            while j < data.endIndex, (48...57).contains(data[j]) { minor = minor * 10 + Int(data[j] - 48); j += 1 }
            if j > hit.upperBound, best.map({ (2, minor) > $0 }) ?? true { best = (2, minor) }
            from = j
        }
        return best
    }

    static func run(_ executable: String, _ arguments: [String], in directory: String?, environment: [String: String]) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (127, "\(error)") }
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self))
    }
}
