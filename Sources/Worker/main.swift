import FanbenchProtocol
import Foundation

// The worker side of protocol v1 (dial, authenticate, serve invocations) is issue 3's work;
// until then this binary says so instead of pretending to run.
FileHandle.standardError.write(Data("fanbench-worker: protocol v\(ProtocolVersion.current) serving is not built yet; use `fanbench probe` for in-process runs\n".utf8))
exit(2)
