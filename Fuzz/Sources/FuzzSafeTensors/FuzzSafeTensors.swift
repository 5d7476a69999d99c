import CACE

/// Any byte string must give a model or a CACEError, never a trap or a huge allocation.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let container = try SafeTensors(bytes: bytes, name: "fuzz")
        _ = try CACEModel(container: container, name: "fuzz")
    } catch {
        _ = error.description
    }
    return 0
}

// SwiftPM renames an executable's entry point to <module>_main, so libFuzzer's own main is
// never linked; start its driver from here instead.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("FuzzSafeTensors_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzSafeTensors)
}
