import FanbenchBase

/// The event a function's handler receives for one invocation (schema `fanbench.event/v1`,
/// snake_case JSON; README, "Functions"): its shard — the bucket and the keys, or the prefix to
/// list when `list` is true — and the op. Handlers that list the bucket themselves, as the seed's
/// do, can ignore it. The target and strategy fields let fanbench's own bootstrap (and the
/// real-Lambda backend) run it with the S3 executor.
package struct FunctionEvent: Codable, Sendable, Equatable {
    package var schema = "fanbench.event/v1"
    package var invocationId: String
    package var op: String
    package var bucket: String
    package var prefix: String?
    /// The shard's keys; nil when the invocation lists the bucket itself.
    package var keys: [String]?
    /// The handler lists `bucket` (under `prefix`) itself.
    package var list: Bool
    package var target: TargetSpec
    package var timeouts: Timeouts
    package var retry: RetrySpec
    /// For fanbench's bootstrap: `serial`, `threads` or `async` (nil: its FANBENCH_STRATEGY).
    package var strategy: String?
    package var concurrency: Int?

    package init(_ assign: Assign) {
        invocationId = assign.invocationId
        op = assign.op
        bucket = assign.target.bucket
        prefix = assign.list?.prefix
        keys = assign.keys
        list = assign.keys == nil
        target = assign.target
        timeouts = assign.timeouts
        retry = assign.retry
        if assign.strategy != "function" {
            strategy = assign.strategy
            concurrency = assign.concurrency
        }
    }

    /// The assignment this event stands for, run with `strategy` when the event names none.
    package func assign(defaultStrategy: Strategy) -> Assign {
        let s = strategy ?? defaultStrategy.name
        return Assign(invocationId: invocationId, op: op, strategy: s, concurrency: concurrency ?? defaultStrategy.concurrency,
                      keys: list ? nil : (keys ?? []), list: list ? ListSpec(prefix: prefix) : nil,
                      target: target, timeouts: timeouts, retry: retry)
    }
}
