import FanbenchBase

/// One emulated Lambda invocation: optionally list, then the op on each key of its shard.
package struct InvocationSpec: Sendable, Equatable {
    package var id: String
    package var config: ConfigSpec
    /// The shard's keys; nil in seed mode (the invocation lists the bucket itself).
    package var keys: [String]?
    package var repetition: Int
    package var shard: Int
}

/// Where the key listing happens.
package enum ListingMode: String, Sendable, CaseIterable, Codable {
    /// The coordinator lists once and sends each invocation its shard.
    case coordinator
    /// Each invocation lists the bucket itself, as the seed blog's handler did.
    case invocation
}

/// The plan of a run: every configuration and every invocation, in dispatch order.
package struct RunPlan: Sendable {
    package var configs: [ConfigSpec]
    package var invocations: [InvocationSpec]
    /// Invocations per repetition of a configuration.
    package var shardsPerRepetition: Int
    /// SHA-256 over the listed keys (`RunRecipe.keysDigest`); nil when invocations list.
    package var keysDigest: String?

    /// Splits keys into contiguous shards of at most `size` keys (one shard when size is nil).
    package static func shards(_ keys: [String], size: Int?) -> [[String]] {
        guard let size, size > 0, size < keys.count else { return [keys] }
        return stride(from: 0, to: keys.count, by: size).map { Array(keys[$0..<min($0 + size, keys.count)]) }
    }

    /// Sizes × strategies, each repeated `invocations` times over every shard of `keys`
    /// (or, in invocation-listing mode, as one listing invocation per repetition).
    package static func make(sizes: [LambdaSize], strategies: [Strategy], invocations: Int,
                            keys: [String]?, shardSize: Int?) throws(FanbenchError) -> RunPlan {
        guard invocations >= 1 else { throw FanbenchError("--invocations must be 1 or more", exitCode: 2) }
        guard !sizes.isEmpty, !strategies.isEmpty else { throw FanbenchError("a run needs at least one size and one strategy", exitCode: 2) }
        if let shardSize, shardSize < 1 { throw FanbenchError("--shard-size must be 1 or more keys", exitCode: 2) }
        if keys == nil, shardSize != nil {
            throw FanbenchError("--shard-size needs --listing coordinator: an invocation that lists the bucket itself takes every key", exitCode: 2)
        }
        let shards: [[String]?] = keys.map { Self.shards($0, size: shardSize) } ?? [nil]
        var configs: [ConfigSpec] = []
        var all: [InvocationSpec] = []
        for size in sizes {
            for strategy in strategies {
                let config = ConfigSpec(index: configs.count, size: size, strategy: strategy)
                configs.append(config)
                for repetition in 0..<invocations {
                    for (s, shard) in shards.enumerated() {
                        all.append(InvocationSpec(id: "c\(config.index)-r\(repetition)-s\(s)", config: config,
                                                  keys: shard, repetition: repetition, shard: s))
                    }
                }
            }
        }
        return RunPlan(configs: configs, invocations: all, shardsPerRepetition: shards.count)
    }
}
