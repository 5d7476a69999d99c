import CACEStructures

/// Any text must give frames or a CACEError, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExtendedXYZ(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        _ = try ExtendedXYZ.parse(text, name: "fuzz")
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

@_cdecl("FuzzExtendedXYZ_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzExtendedXYZ)
}
