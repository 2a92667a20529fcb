import FuzzSupport
import FanbenchCoordinator
import FanbenchProtocol
import NIOCore
import NIOEmbedded

/// The coordinator↔worker wire: bytes (in chunks the input chooses) through the bounded line
/// decoder, each line through the message codec, every decoded result through the checks a
/// coordinator runs on it. Nothing may trap, and what the codec encodes it must decode again.
@_cdecl("FuzzLineCodec_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fanbench_fuzz_main(argc, argv) { data, count in fuzz(data!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    guard let first = bytes.first else { return 0 }
    let chunk = Int(first % 64) + 1
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(BoundedLineDecoder(maxLength: 4096)))
    defer { _ = try? channel.finish() }
    var offset = 1
    while offset < bytes.count {
        let end = min(bytes.count, offset + chunk)
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
        } catch {
            return 0  // an over-long line: refused, as it must be
        }
        offset = end
        while let line = try? channel.readInbound(as: ByteBuffer.self) {
            guard let message = try? MessageCodec.decode(Array(line.readableBytesView)) else { continue }
            let again = MessageCodec.encode(message)
            guard let decoded = try? MessageCodec.decode(again) else {
                fatalError("a message the codec encoded does not decode: \(String(decoding: again, as: UTF8.self))")
            }
            precondition(MessageCodec.encode(decoded) == again, "encode(decode(encode(m))) differs from encode(m)")
            if case .result(let r) = message {
                _ = ResultCheck.problem(with: r, keys: 3, builtIn: true, maxAttempts: 3, openMs: 1000,
                                        limits: WorkerLimits(cpu: 0.5, memoryBytes: 1 << 30, cores: 2, cgroup: "v1"))
                _ = ResultCheck.problem(with: r, keys: nil, builtIn: false, maxAttempts: 3, openMs: 1e9, limits: .none)
            }
        }
    }
    return 0
}
