import CACEFit
import CACEStructures

/// The training-data reader of `cace fit`: extended XYZ with labels (energy=, virial=, stress=
/// in 9 or 6 Voigt values, config_type=, a forces:R:3 column), then the checks that turn frames
/// into labelled data (LabelledFrame.frames: energy and forces present, the virial from the
/// stress and the cell volume). Any text must give frames or an error, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTrainingData(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let structures = try ExtendedXYZ.parse(text, name: "fuzz")
        do {
            let frames = try LabelledFrame.frames(structures, file: "fuzz")
            var sum = 0.0
            for f in frames {
                sum += f.energy + (f.virial?.reduce(0, +) ?? 0) + f.forces.reduce(0, +)
                _ = f.configType.count
            }
            _ = sum
        } catch {
            _ = error.description
        }
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

@_cdecl("FuzzTrainingData_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzTrainingData)
}
