// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

// Module graph (README "Layout"): Base ← Protocol ← Worker (the lean worker: Protocol, S3, NIO)
//                                           ↖ Report ← Store ← Coordinator → Proxy, LocalTarget, Lambda (S3's signer)
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioLocks = Target.Dependency.product(name: "NIOConcurrencyHelpers", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "fanbench",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fanbench", targets: ["FanbenchCLI"]),
        .executable(name: "fanbench-worker", targets: ["FanbenchWorkerCLI"]),
        .library(name: "FanbenchS3", targets: ["FanbenchS3"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CLibXML2", providers: [.apt(["libxml2-dev"])]),
        /// Spawning a function's runtime into its cgroup before exec (fork, join, exec in C).
        .systemLibrary(name: "CSpawn"),
        /// The CPU probe's interpreter loop, at -O2 in every build so debug and release measure alike.
        .target(name: "CProbe", path: "Sources/CProbe", cSettings: [.unsafeFlags(["-O2"])]),

        /// The S3 client: SigV4, operations, XML, libcurl and AsyncHTTPClient transports (public product).
        .target(
            name: "FanbenchS3",
            dependencies: [
                "CCurl", "CLibXML2", "FanbenchBase", nioCore, nioPosix, nioLocks,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                logging,
            ],
            swiftSettings: swiftSettings
        ),
        /// What every module shares: errors, strategies, sizes, clocks, addresses, JSON, hex, child processes.
        .target(name: "FanbenchBase", dependencies: ["CSpawn", "CProbe"], path: "Sources/Base", swiftSettings: swiftSettings),
        /// What coordinator and workers speak: messages, codec, framing, streams, token auth, TLS.
        .target(
            name: "FanbenchProtocol",
            dependencies: [
                "FanbenchBase", nioCore,
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Sources/Protocol",
            swiftSettings: swiftSettings
        ),
        /// The worker: its service, the invocation executors, the limits of its own cgroup.
        .target(
            name: "FanbenchWorker",
            dependencies: ["FanbenchBase", "FanbenchProtocol", "FanbenchS3", nioCore, nioPosix, nioLocks, logging, lifecycle,
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Sources/Worker",
            swiftSettings: swiftSettings
        ),
        /// Aggregates, cost, comparison, formats and charts: no NIO, no S3.
        .target(name: "FanbenchReport", dependencies: ["FanbenchBase", "FanbenchProtocol"], path: "Sources/Report",
                swiftSettings: swiftSettings),
        /// The run history in SQLite.
        .target(
            name: "FanbenchStore",
            dependencies: ["FanbenchBase", "FanbenchProtocol", "FanbenchReport", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Sources/Store",
            swiftSettings: swiftSettings
        ),
        /// The Lambda API: SigV4 client for the control plane and Invoke, REPORT lines, deploy, the zip.
        .target(
            name: "FanbenchLambda",
            dependencies: ["FanbenchBase", "FanbenchS3", nioCore, .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Lambda",
            swiftSettings: swiftSettings
        ),
        /// The latency and fault proxy, and network profiles.
        .target(name: "FanbenchProxy", dependencies: ["FanbenchBase", nioCore, nioPosix, nioLocks, logging, lifecycle],
                path: "Sources/Proxy", swiftSettings: swiftSettings),
        /// The embedded default target: SeaweedFS, TLS material, process launching, seeding.
        .target(name: "FanbenchLocalTarget", dependencies: ["FanbenchBase", "FanbenchS3", "FanbenchProxy"],
                path: "Sources/LocalTarget", swiftSettings: swiftSettings),
        /// The coordinator: plan, scheduler, server, worker backends, recording, the run itself.
        .target(
            name: "FanbenchCoordinator",
            dependencies: [
                "FanbenchBase", "FanbenchProtocol", "FanbenchS3", "FanbenchWorker", "FanbenchReport", "FanbenchStore",
                "FanbenchLocalTarget", "FanbenchProxy", "FanbenchLambda", nioCore, nioPosix, nioLocks, logging, lifecycle,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/Coordinator",
            swiftSettings: swiftSettings
        ),
        /// What both executables' argument parsing shares: error reporting, argument types, signals.
        .target(name: "FanbenchCommandSupport", dependencies: ["FanbenchBase", argumentParser, logging, lifecycle],
                path: "Sources/CommandSupport", swiftSettings: swiftSettings),
        .executableTarget(
            name: "FanbenchCLI",
            dependencies: ["FanbenchBase", "FanbenchCoordinator", "FanbenchS3", "FanbenchReport", "FanbenchStore",
                           "FanbenchLocalTarget", "FanbenchProxy", "FanbenchProtocol", "FanbenchWorker", "FanbenchLambda", "FanbenchCommandSupport",
                           logging, lifecycle, argumentParser],
            path: "Sources/fanbench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FanbenchWorkerCLI",
            dependencies: ["FanbenchBase", "FanbenchWorker", "FanbenchProtocol", "FanbenchCommandSupport", logging, lifecycle, argumentParser],
            path: "Sources/fanbench-worker",
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "FanbenchS3Tests", dependencies: ["FanbenchS3"], swiftSettings: swiftSettings),
        .testTarget(name: "LambdaTests", dependencies: ["FanbenchBase", "FanbenchS3", "FanbenchLambda"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ProtocolTests",
            dependencies: ["FanbenchBase", "FanbenchProtocol", nioCore, .product(name: "NIOEmbedded", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "BaseTests", dependencies: ["FanbenchBase"], swiftSettings: swiftSettings),
        .testTarget(name: "WorkerTests", dependencies: ["FanbenchBase", "FanbenchProtocol", "FanbenchWorker", nioCore,
                                                      .product(name: "NIOHTTP1", package: "swift-nio"),
                                                      .product(name: "AsyncHTTPClient", package: "async-http-client")],
                    swiftSettings: swiftSettings),
        .testTarget(name: "ReportTests", dependencies: ["FanbenchBase", "FanbenchProtocol", "FanbenchReport"],
                    swiftSettings: swiftSettings),
        .testTarget(
            name: "StoreTests",
            dependencies: ["FanbenchBase", "FanbenchProtocol", "FanbenchReport", "FanbenchStore",
                           .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "LocalTargetTests", dependencies: ["FanbenchBase", "FanbenchLocalTarget"], swiftSettings: swiftSettings),
        .testTarget(name: "ProxyTests", dependencies: ["FanbenchBase", "FanbenchProxy", nioCore, .product(name: "NIOConcurrencyHelpers", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")], swiftSettings: swiftSettings),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: ["FanbenchBase", "FanbenchProtocol", "FanbenchCoordinator", "FanbenchReport", "FanbenchWorker", "FanbenchLambda",
                           nioCore, nioPosix, logging],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "FanbenchBase", "FanbenchProtocol", "FanbenchS3", "FanbenchWorker", "FanbenchReport", "FanbenchStore",
                "FanbenchProxy", "FanbenchLocalTarget", "FanbenchCoordinator",
                .product(name: "GRDB", package: "GRDB.swift"), logging,
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                nioCore, nioPosix, nioLocks, .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// libFuzzer targets (scripts/fuzz): only with FANBENCH_FUZZ=1, built with
// -sanitize=fuzzer,address in a scratch folder of their own; each names its own entry point
// (SwiftPM's) and hands over to libFuzzer's driver (Fuzz/Support).
if Context.environment["FANBENCH_FUZZ"] == "1" {
    let fuzz: [SwiftSetting] = swiftSettings + [.unsafeFlags(["-parse-as-library"])]
    package.targets += [
        .target(name: "FuzzSupport", path: "Fuzz/Support"),
        .executableTarget(name: "FuzzLineCodec", dependencies: ["FuzzSupport", "FanbenchProtocol", "FanbenchCoordinator", nioCore,
                                                                .product(name: "NIOEmbedded", package: "swift-nio")],
                          path: "Fuzz/LineCodec", swiftSettings: fuzz),
        .executableTarget(name: "FuzzS3XML", dependencies: ["FuzzSupport", "FanbenchS3"], path: "Fuzz/S3XML", swiftSettings: fuzz),
        .executableTarget(name: "FuzzHTTPHead", dependencies: ["FuzzSupport", "FanbenchS3", "FanbenchProxy"], path: "Fuzz/HTTPHead", swiftSettings: fuzz),
        .executableTarget(name: "FuzzPlanFile", dependencies: ["FuzzSupport", "FanbenchCoordinator", "FanbenchLambda"], path: "Fuzz/PlanFile", swiftSettings: fuzz),
    ]
}
