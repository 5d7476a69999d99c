import Foundation
import XCTest
@testable import CACE

/// Sizes the loader allocates from file contents are bounded before anything is allocated
/// (issue 18, item 5c): a small hostile file must not make the library allocate gigabytes.
final class MetadataBoundsTests: XCTestCase {
    let good = SyntheticModel().fileBytes()

    func expectRefusal(_ bytes: [UInt8], containing text: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try CACEModel(container: SafeTensors(bytes: bytes, name: "hostile.safetensors"), name: "hostile.safetensors")
            XCTFail("expected an error containing '\(text)'", file: file, line: line)
        } catch {
            XCTAssertTrue(error.description.contains(text), "'\(error.description)' lacks '\(text)'", file: file, line: line)
            XCTAssertTrue(error.description.contains("hostile.safetensors"), "message must name the file", file: file, line: line)
        }
    }

    /// n_radial_basis x angular terms x n_channels: values of A per atom and layer, which no
    /// tensor of that size backs (the radial transform has only max_l + 1 blocks of n_radial_func
    /// x n_radial_basis x n_channels). Each field alone is within its range.
    func testPerAtomFeatureSizeIsBounded() {
        let hostile = BadInputTests.editMetadata(of: good) { m in
            m["n_atom_basis"] = 64; m["n_channels"] = 4096; m["n_radial_basis"] = 1024; m["max_l"] = 8
        }
        expectRefusal(hostile, containing: "values per atom and layer, more than the \(ModelFileReader.maximumAPerAtom)")
        // at the bound's edge a reference-sized model is far below it
        XCTAssertGreaterThan(ModelFileReader.maximumAPerAtom, 100 * 2160)
    }

    func testFeatureCountIsBounded() {
        let hostile = BadInputTests.editMetadata(of: good) { m in m["n_features"] = 100_000_000 }
        expectRefusal(hostile, containing: "n_features")
        expectRefusal(hostile, containing: "1...4194304")
    }

    /// Tensors that share data bytes are refused as soon as they claim more bytes than the data
    /// block holds: 4000 entries over one 8 KB range would otherwise decode 32 MB from a 300 KB file
    /// (and a larger file quadratically more) before the overlap check.
    func testOverlappingTensorsAreRefusedBeforeDecoding() throws {
        var header: [String: Any] = [:]
        for t in 0..<4000 { header["t\(t)"] = ["dtype": "F64", "shape": [1024], "data_offsets": [0, 8192]] }
        let json = Array(try JSONSerialization.data(withJSONObject: header))
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes += json + [UInt8](repeating: 0, count: 8192)
        XCTAssertThrowsError(try SafeTensors(bytes: bytes, name: "shared.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("claim more than the 8192 data bytes"), "\(error)")
        }
    }
}
