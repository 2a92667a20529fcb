import Foundation

/// One strategy's sizes whose invocations, held back by their quota, cost more CPU than where it
/// ran free in the same run (`RunReport.quotaCPUCosts`): the same work, made dearer by the quota
/// on this host.
package struct QuotaCPUCost: Sendable, Equatable {
    /// From 1.25× up: the function's CPU is read to 10 ms on some hosts, and an unthrottled
    /// size's CPU an invocation moves by up to a fifth within one run here.
    package static let threshold = 1.25
    /// A size throttled for less than this share of its invocations' duration ran free.
    package static let freeShare = 0.05
    /// A size throttled for at least this share is one the quota held back.
    package static let throttledShare = 0.25
    /// A baseline of less than this many ms an invocation is not divided by: a function's CPU
    /// is read to 10 ms on some hosts, and one tick must not make a ratio.
    package static let minBaseMs = 50.0

    package struct Size: Sendable, Equatable {
        package var memoryMb: Int
        package var cpuMs: Double
        package var ratio: Double
    }

    package var strategy: String
    package var start: String
    /// The sizes that ran free, and the median of their CPU ms an invocation.
    package var freeMemoryMb: [Int]
    package var freeCpuMs: Double
    package var sizes: [Size]

    /// "boto3-serial (warm): 1.81× at 128 MB (301 ms) the CPU an invocation it used unthrottled (166 ms, the median at 1024, 2048 MB)"
    package var line: String {
        let each = sizes.map { String(format: "%.2f× at %d MB (%.0f ms)", $0.ratio, $0.memoryMb, $0.cpuMs) }.joined(separator: ", ")
        let free = freeMemoryMb.count == 1 ? "at \(freeMemoryMb[0]) MB" : "the median at " + freeMemoryMb.map(String.init).joined(separator: ", ") + " MB"
        return "\(strategy) (\(start)): \(each) the CPU an invocation it used unthrottled (\(String(format: "%.0f", freeCpuMs)) ms, \(free))"
    }
}
