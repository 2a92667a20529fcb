import FanbenchBase
import FanbenchLocalTarget
import FanbenchProtocol
import Foundation
import Yams

/// A run described in YAML (`fanbench run PLAN.yaml`); command-line flags override it.
/// Unknown keys and bad values are refused with the file, line and key.
package struct PlanFile: Sendable, Equatable {
    package var bucket: String?
    package var prefix: String?
    package var endpoint: String?
    package var region: String?
    /// Objects to seed when the local target is used.
    package var objects: Int?
    /// The emulation profile (`profile:`, or `target.profile:`): a built-in's name
    /// (lambda-same-region, none) or a profile file, made absolute against the plan's folder.
    package var profile: String?
    package var op: ObjectOperation?
    package var sizes: [LambdaSize]?
    package var strategies: [Strategy]?
    package var invocations: Int?
    package var shardSize: Int?
    package var listing: ListingMode?
    package var cold: Bool?
    /// Users' handlers by name (`functions:`), their code folders made absolute.
    package var functions: [String: FunctionDefinition]?
    /// `fanbench tune`'s search (`tune:`): the strategy family, the goal, the largest concurrency.
    package var tune: Tune?

    package struct Tune: Sendable, Equatable {
        package var strategy: String?
        package var goal: String?
        package var maxConcurrency: Int?
    }

    package init() {}

    static let topKeys = ["target", "profile", "op", "sizes", "strategies", "invocations", "shard_size", "listing", "cold", "functions", "tune"]
    static let tuneKeys = ["strategy", "goal", "max_concurrency"]
    static let functionKeys = ["command", "code", "handler", "env", "timeout_s", "init_timeout_s"]
    static let targetKeys = ["bucket", "prefix", "endpoint", "region", "objects", "profile"]

    package static func load(path: String) throws(PlanError) -> PlanFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PlanError(.unreadable, "cannot read the plan \(path): check the path", context: ["file": path], exitStatus: ExitStatus.badInput)
        }
        return try parse(text, path: path)
    }

    package static func parse(_ text: String, path: String) throws(PlanError) -> PlanFile {
        func fail(_ node: Node?, _ message: String) -> PlanError {
            PlanError(.invalid, "\(path)\(node?.mark.map { ":\($0.line)" } ?? ""): \(message)",
                      context: ["file": path].merging(node?.mark.map { ["line": String($0.line)] } ?? [:]) { $1 }, exitStatus: ExitStatus.badInput)
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw PlanError(.invalidYAML, "\(path): not valid YAML (\(error))", context: ["file": path], exitStatus: ExitStatus.badInput)
        }
        guard let root, let top = root.mapping else { throw fail(root, "a plan is a mapping of keys (\(topKeys.joined(separator: ", ")))") }
        var plan = PlanFile()

        func string(_ node: Node, _ key: String) throws(PlanError) -> String {
            guard let s = node.scalar?.string, node.scalar != nil else { throw fail(node, "'\(key)' must be a single value") }
            return s
        }
        func int(_ node: Node, _ key: String, min: Int = 1) throws(PlanError) -> Int {
            guard let v = node.int, v >= min else { throw fail(node, "'\(key)' must be a whole number of at least \(min)") }
            return v
        }
        func list(_ node: Node, _ key: String, example: String) throws(PlanError) -> [Node] {
            guard let seq = node.sequence, !seq.isEmpty else { throw fail(node, "'\(key)' must be a non-empty list, e.g. \(example)") }
            return Array(seq)
        }

        /// A built-in's name, or a file that must exist (relative to the plan's folder).
        func profileSpec(_ node: Node, _ key: String) throws(PlanError) -> String {
            let p = try string(node, key)
            if LocalTarget.TargetProfile(rawValue: p) != nil { return p }
            let dir = (path as NSString).deletingLastPathComponent
            let resolved = p.hasPrefix("/") ? p : ((dir.isEmpty ? "." : dir) as NSString).appendingPathComponent(p)
            guard FileManager.default.fileExists(atPath: resolved) else {
                throw fail(node, "'\(key)' is '\(p)': neither a built-in profile (lambda-same-region, none) nor a file (looked for \(resolved)); fanbench calibrate writes profile files")
            }
            return resolved
        }

        for (keyNode, value) in top {
            let key = keyNode.string ?? ""
            switch key {
            case "profile":
                plan.profile = try profileSpec(value, "profile")
            case "target":
                guard let target = value.mapping else { throw fail(value, "'target' must be a mapping (\(targetKeys.joined(separator: ", ")))") }
                for (k, v) in target {
                    let name = k.string ?? ""
                    switch name {
                    case "bucket": plan.bucket = try string(v, "target.bucket")
                    case "prefix": plan.prefix = try string(v, "target.prefix")
                    case "endpoint": plan.endpoint = try string(v, "target.endpoint")
                    case "region": plan.region = try string(v, "target.region")
                    case "objects": plan.objects = try int(v, "target.objects")
                    case "profile": plan.profile = try profileSpec(v, "target.profile")
                    default:
                        throw fail(k, "unknown key 'target.\(name)' (known: \(targetKeys.joined(separator: ", ")))")
                    }
                }
            case "op":
                let text = try string(value, key)
                guard let op = ObjectOperation(rawValue: text) else {
                    throw fail(value, "'op' is '\(text)': use \(ObjectOperation.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                plan.op = op
            case "sizes":
                var sizes: [LambdaSize] = []
                for n in try list(value, key, example: "[128, 1024]") {
                    guard let mb = n.int, let size = try? LambdaSize(memoryMB: mb) else {
                        throw fail(n, "'sizes' holds '\(n.string ?? "?")': each must be MB from 128 to 10240")
                    }
                    sizes.append(size)
                }
                plan.sizes = sizes
            case "strategies":
                var strategies: [Strategy] = []
                for n in try list(value, key, example: "[serial, \"threads:16\", \"async:16\"]") {
                    let s = n.string ?? ""
                    do { strategies.append(try Strategy(parsing: s)) } catch { throw fail(n, "'strategies' holds '\(s)': \(error.message)") }
                }
                plan.strategies = strategies
            case "invocations": plan.invocations = try int(value, key)
            case "shard_size":
                plan.shardSize = value.null != nil ? nil : try int(value, key)
            case "listing":
                let l = try string(value, key)
                guard let mode = ListingMode(rawValue: l) else { throw fail(value, "'listing' is '\(l)': use coordinator or invocation") }
                plan.listing = mode
            case "cold":
                guard let b = value.bool else { throw fail(value, "'cold' must be true or false") }
                plan.cold = b
            case "tune":
                guard let m = value.mapping else { throw fail(value, "'tune' is a mapping of \(tuneKeys.joined(separator: ", "))") }
                var t = Tune()
                for (k, v) in m {
                    let name = k.string ?? ""
                    switch name {
                    case "strategy": t.strategy = try string(v, "tune.strategy")
                    case "goal": t.goal = try string(v, "tune.goal")
                    case "max_concurrency": t.maxConcurrency = try int(v, "tune.max_concurrency")
                    default: throw fail(k, "unknown key 'tune.\(name)' (known: \(tuneKeys.joined(separator: ", ")))")
                    }
                }
                plan.tune = t
            case "functions":
                guard let functions = value.mapping, !functions.isEmpty else {
                    throw fail(value, "'functions' must map names to functions, e.g. boto3-serial: {command: [python3, -m, awslambdaric, serial.handler], code: examples/seed-python}")
                }
                var defined: [String: FunctionDefinition] = [:]
                for (nameNode, spec) in functions {
                    let name = nameNode.string ?? ""
                    guard Strategy.isValidFunctionName(name) else {
                        throw fail(nameNode, "function name '\(name)' must be 1 to 64 letters, digits, '-', '_' or '.'")
                    }
                    defined[name] = try function(name, spec)
                }
                plan.functions = defined
            default:
                throw fail(keyNode, "unknown key '\(key)' (known: \(topKeys.joined(separator: ", ")))")
            }
        }
        if let strategies = plan.strategies {
            for s in strategies {
                guard let name = s.functionName, plan.functions?[name] == nil else { continue }
                let known = plan.functions.map { " (defined: \($0.keys.sorted().joined(separator: ", ")))" } ?? ""
                throw fail(top.first { $0.key.string == "strategies" }?.value,
                           "'strategies' names function:\(name), which 'functions' does not define\(known): add it under functions: or fix the name")
            }
        }
        return plan

        func function(_ name: String, _ spec: Node) throws(PlanError) -> FunctionDefinition {
            guard let fields = spec.mapping else {
                throw fail(spec, "function '\(name)' must be a mapping (\(functionKeys.joined(separator: ", ")))")
            }
            var command: [String] = []
            var code: String?
            var handler: String?
            var env: [String: String] = [:]
            var timeout = 30.0, initTimeout = 10.0
            for (k, v) in fields {
                let key = k.string ?? ""
                let where_ = "functions.\(name).\(key)"
                switch key {
                case "command":
                    if let seq = v.sequence {
                        command = try seq.map { (n: Node) throws(PlanError) -> String in try string(n, where_) }
                    } else {
                        command = try string(v, where_).split(separator: " ").map(String.init)
                    }
                    guard !command.isEmpty, !command[0].isEmpty else { throw fail(v, "'\(where_)' must name the runtime's command, e.g. [python3, -m, awslambdaric, app.handler]") }
                case "code": code = try string(v, where_)
                case "handler": handler = try string(v, where_)
                case "env":
                    guard let m = v.mapping else { throw fail(v, "'\(where_)' must map variable names to values") }
                    for (ek, ev) in m {
                        let variable = ek.string ?? ""
                        guard !variable.isEmpty, !variable.contains("="), variable != "AWS_LAMBDA_RUNTIME_API" else {
                            throw fail(ek, "'\(where_)' holds '\(variable)', which cannot be set: name a variable other than AWS_LAMBDA_RUNTIME_API")
                        }
                        env[variable] = try string(ev, "\(where_).\(variable)")
                    }
                case "timeout_s", "init_timeout_s":
                    guard let seconds = v.float, seconds > 0, seconds <= 900 else {
                        throw fail(v, "'\(where_)' must be seconds from more than 0 to 900 (Lambda's longest timeout)")
                    }
                    if key == "timeout_s" { timeout = seconds } else { initTimeout = seconds }
                default:
                    throw fail(k, "unknown key '\(where_)' (known: \(functionKeys.joined(separator: ", ")))")
                }
            }
            guard !command.isEmpty else { throw fail(spec, "function '\(name)' needs a command, e.g. command: [python3, -m, awslambdaric, app.handler]") }
            let folder = try resolveCode(code ?? ".", planPath: path, node: spec, name: name)
            // A relative command path (`.fanbench/python/bin/python3`) that is there from here is
            // made absolute; else it stays for the worker to find in the code folder (`./bootstrap`).
            if command[0].contains("/"), !command[0].hasPrefix("/"),
               FileManager.default.isExecutableFile(atPath: FileManager.default.currentDirectoryPath + "/" + command[0]) {
                command[0] = URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/" + command[0]).standardizedFileURL.path
            }
            let definition = FunctionDefinition(name: name, command: command, code: folder, handler: handler, env: env,
                                                timeoutS: timeout, initTimeoutS: initTimeout)
            guard AssignmentFraming.functionBound(definition) <= AssignmentFraming.maximumFunctionBytes else {
                throw fail(spec, "function '\(name)' is over \(AssignmentFraming.maximumFunctionBytes / 1024) KiB with its command and env: keep large settings in its code folder")
            }
            return definition
        }

        func resolveCode(_ code: String, planPath: String, node: Node, name: String) throws(PlanError) -> String {
            let cwd = FileManager.default.currentDirectoryPath
            let planDirectory = URL(fileURLWithPath: planPath).deletingLastPathComponent().path
            let candidates = code.hasPrefix("/") ? [code] : [cwd + "/" + code, planDirectory + "/" + code]
            for c in candidates {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: c, isDirectory: &isDirectory), isDirectory.boolValue {
                    return URL(fileURLWithPath: c).standardizedFileURL.path
                }
            }
            throw fail(node, "function '\(name)': code folder '\(code)' does not exist (looked in \(candidates.joined(separator: " and "))): fix functions.\(name).code")
        }
    }
}

/// Why a plan file was refused.
package enum PlanErrorKind: Hashable, Sendable {
    case unreadable, invalidYAML, invalid
}

package typealias PlanError = CodedError<PlanErrorKind>
