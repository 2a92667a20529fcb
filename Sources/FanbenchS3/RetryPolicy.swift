/// Retries as the AWS SDKs' "standard" mode: up to `maxAttempts` attempts, exponential
/// backoff with full jitter (`random × min(base × 2^(attempt−1), maxBackoff)`), only for
/// retryable errors (5xx, throttling, timeouts, resets; never other 4xx).
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included (1 = no retries).
    public var maxAttempts: Int
    /// Backoff scale for the first retry.
    public var baseDelay: Duration
    /// Ceiling on one backoff.
    public var maxBackoff: Duration

    public init(maxAttempts: Int = 3, baseDelay: Duration = .seconds(1), maxBackoff: Duration = .seconds(20)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxBackoff = maxBackoff
    }

    public static let standard = RetryPolicy()
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The wait before the next attempt after `attempt` (1-based) failed with `error`, or nil to give up.
    /// `random` is a uniform draw in [0, 1).
    public func delay(after error: S3Error, attempt: Int, random: Double) -> Duration? {
        guard error.isRetryable, attempt < maxAttempts else { return nil }
        let exponent = Double(1 << min(attempt - 1, 30))
        let ceiling = min(baseDelay * exponent, maxBackoff)
        return ceiling * min(max(random, 0), 1)
    }

    /// After attempt `attempt` (1-based) failed with `error`: the wait before the next one (and
    /// `attempt` moves on), or, when the policy gives up, `error` thrown with the retries it took.
    /// The one decision both clients' retry loops make.
    public func next(after error: S3Error, attempt: inout Int, random: Double) throws(S3Error) -> Duration {
        guard let wait = delay(after: error, attempt: attempt, random: random) else {
            var final = error
            final.retries = attempt - 1
            throw final
        }
        attempt += 1
        return wait
    }
}
