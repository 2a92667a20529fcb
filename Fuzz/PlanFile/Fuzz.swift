import FuzzSupport
import FanbenchCoordinator
import FanbenchLambda
import Foundation

/// Files a user writes and fanbench reads: plan files (YAML), emulation profiles (YAML),
/// calibration references (JSON), and Lambda's REPORT lines. Each may be refused with a
/// message; none may trap.
@_cdecl("FuzzPlanFile_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fanbench_fuzz_main(argc, argv) { data, count in fuzz(data!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Data(bytes: data, count: count)
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? PlanFile.parse(text, path: "fuzz.yaml")
    _ = try? EmulationProfile.parse(text, path: "fuzz-profile.yaml")
    _ = try? CalibrationReference.parse(bytes, path: "fuzz.json")
    _ = LambdaLogReport.parse(log: text)
    return 0
}
