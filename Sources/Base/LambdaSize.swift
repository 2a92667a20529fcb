/// A Lambda memory size and what it buys (DESIGN.md, Lambda sizing model): CPU in
/// proportion to memory (1,769 MB = one vCPU), a core count that steps up with memory, and a
/// memory cap of exactly that many MiB.
package struct LambdaSize: Sendable, Hashable, Comparable, CustomStringConvertible {
    package let memoryMB: Int

    package static let range = 128...10240
    /// MB of memory per vCPU.
    package static let mbPerVCPU = 1769.0
    /// The CFS period caps are expressed over, µs, unless a profile's `cpu.period_ms` says otherwise.
    package static let cfsPeriodMicros = 100_000
    /// The seed experiment's sizes.
    package static let seedSizes = [128, 512, 1024, 1536, 2048, 3008].map(LambdaSize.init(uncheckedMB:))

    package init(memoryMB: Int) throws(FanbenchError) {
        guard Self.range.contains(memoryMB) else {
            throw FanbenchError("memory size \(memoryMB) MB is outside Lambda's 128–10240 MB", exitCode: 2)
        }
        self.memoryMB = memoryMB
    }

    init(uncheckedMB: Int) { memoryMB = uncheckedMB }

    /// CPU in cores' worth: memory ÷ 1,769 MB.
    package var cpu: Double { Double(memoryMB) / Self.mbPerVCPU }

    /// CFS quota per 100 ms period, µs.
    package var cfsQuotaMicros: Int { Int((cpu * Double(Self.cfsPeriodMicros)).rounded()) }

    /// CPU cores' worth scaled by `scale` (a profile's vCPU speed over this host's), at most `cores`.
    package static func scaledCPU(_ cpu: Double, cores: Int?) -> Double {
        cores.map { min(cpu, Double($0)) } ?? cpu
    }

    /// The CFS quota per period, µs, with the CPU scaled by `scale` (at most `cores` cores), over
    /// a period of `periodMicros` (a profile's `cpu.period_ms`; the kernel takes 1 ms to 1 s).
    package func cfsQuotaMicros(scale: Double, cores: Int, periodMicros: Int = cfsPeriodMicros) -> Int {
        guard scale != 1 || periodMicros != Self.cfsPeriodMicros else { return cfsQuotaMicros }
        return max(1000, Int((Self.scaledCPU(cpu * scale, cores: cores) * Double(periodMicros)).rounded()))
    }

    /// The cores Lambda shows at this size.
    package var lambdaCores: Int {
        switch memoryMB {
        case ...3008: return 2
        case ...5307: return 3
        case ...7076: return 4
        case ...8845: return 5
        default: return 6
        }
    }

    /// Cores to pin to on a host with `hostCores` (never more than it has).
    package func cores(hostCores: Int) -> Int { max(1, min(lambdaCores, hostCores)) }

    package var memoryBytes: Int64 { Int64(memoryMB) * 1024 * 1024 }

    package var description: String { "\(memoryMB) MB" }

    package static func < (a: LambdaSize, b: LambdaSize) -> Bool { a.memoryMB < b.memoryMB }

    /// Parses a comma-separated list such as `128,512,1024`.
    package static func parseList(_ text: String) throws(FanbenchError) -> [LambdaSize] {
        var sizes: [LambdaSize] = []
        for part in text.split(separator: ",") {
            guard let mb = Int(part.trimmingCharacters(in: .whitespaces)) else {
                throw FanbenchError("'\(part)' in --sizes is not a whole number of MB: give e.g. 128,512,1024", exitCode: 2)
            }
            sizes.append(try LambdaSize(memoryMB: mb))
        }
        guard !sizes.isEmpty else { throw FanbenchError("--sizes is empty: give e.g. 128,512,1024", exitCode: 2) }
        return Array(Set(sizes)).sorted()
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}

extension Set where Element == Character {
    fileprivate static let whitespaces: Set<Character> = [" ", "\t"]
}
