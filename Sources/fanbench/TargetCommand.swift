import ArgumentParser
import FanbenchCommandSupport
import FanbenchBase
import FanbenchLocalTarget
import Foundation

/// `fanbench target up|down|status|env`: the local SeaweedFS.
struct TargetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "target",
        abstract: "Run the local S3 target (SeaweedFS with SigV4 auth, HTTPS by default).",
        subcommands: [Up.self, Down.self, Status.self, Env.self]
    )

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start the local target (idempotent).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "S3 port (its gRPC port is this + 10000).") var s3Port = 8333
        @Option(help: "SeaweedFS master port (gRPC: + 10000).") var masterPort = 9333
        @Option(help: "SeaweedFS volume port (gRPC: + 10000).") var volumePort = 9340
        @Option(help: "SeaweedFS filer port (gRPC: + 10000).") var filerPort = 9350
        @Flag(name: .customLong("no-tls"), help: "Serve plain HTTP instead of HTTPS.") var noTLS = false
        @Option(help: "Network to emulate: lambda-same-region (the calibrated default: 15.5 ms RTT, lognormal jitter, through the proxy) or none (the store itself).")
        var profile: LocalTarget.TargetProfile = .lambdaSameRegion
        @Option(help: "Port of the emulating proxy.") var proxyPort = 8334
        @Option(help: ArgumentHelp("The weed binary (env FANBENCH_WEED).", valueName: "path"))
        var weed: String = ProcessInfo.processInfo.environment["FANBENCH_WEED"] ?? "weed"

        func run() async throws {
            try await reportingErrors {
                var options = LocalTarget.Options()
                options.s3Port = s3Port
                options.masterPort = masterPort
                options.volumePort = volumePort
                options.filerPort = filerPort
                options.tls = !noTLS
                options.weed = weed
                options.profile = profile
                options.proxyPort = proxyPort
                let (state, already) = try await LocalTarget(stateDirectory: global.stateDirectory).up(options)
                say("local target \(already ? "already up" : "up") at \(state.endpoint) (profile \(state.profile)\(state.emulation.map { ": \($0.rttMs) ms RTT, \($0.jitter) jitter" } ?? ""); store \(state.directEndpoint ?? state.endpoint)\(state.caFile.map { ", CA \($0)" } ?? ""))")
                say("use it from a shell: eval \"$(fanbench target env --state-dir \(global.stateDirectory))\"")
            }
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the local target that `up` started.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let stopped = await LocalTarget(stateDirectory: global.stateDirectory).down()
                say(stopped ? "local target stopped" : "local target was not running")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show whether the local target runs, and where.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                guard let state = LocalTarget(stateDirectory: global.stateDirectory).runningState() else {
                    say("local target: down (start it with `fanbench target up`)")
                    throw ExitCode(ExitStatus.targetDown)
                }
                say("local target: up")
                say("  endpoint  \(state.endpoint)")
                say("  store     \(state.directEndpoint ?? state.endpoint) (target env --direct)")
                say("  tls       \(state.tls ? "on, CA \(state.caFile ?? "?")" : "off")")
                say("  profile   \(state.profile)\(state.emulation.map { " (\($0.rttMs) ms RTT, \($0.jitter) jitter, proxy pid \(state.proxyPid ?? 0))" } ?? "")")
                say("  pid       \(state.pid)")
                say("  data      \(state.dataDirectory)")
                say("  log       \(state.logFile)")
            }
        }
    }

    struct Env: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print export lines for the local target: eval \"$(fanbench target env)\".")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Name the store itself rather than the emulated endpoint in front of it.") var direct = false

        func run() async throws {
            try await reportingErrors {
                let target = LocalTarget(stateDirectory: global.stateDirectory)
                guard let state = target.runningState() else {
                    throw FanbenchError("the local target is not up: start it with `fanbench target up`")
                }
                say(try target.environmentExports(state, direct: direct))
            }
        }
    }
}

extension LocalTarget.TargetProfile: ExpressibleByArgument {}
