import Foundation
import XCTest
@testable import CACE

/// Malformed model files and structures give a clear error, never a crash.
final class BadInputTests: XCTestCase {
    let good = SyntheticModel().fileBytes()

    func expectFormatError(_ bytes: [UInt8], containing text: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try CACEModel(container: SafeTensors(bytes: bytes, name: "bad.safetensors"), name: "bad.safetensors")
            XCTFail("expected an error containing '\(text)'", file: file, line: line)
        } catch {
            XCTAssertTrue(error.description.contains(text), "message '\(error.description)' lacks '\(text)'", file: file, line: line)
            XCTAssertTrue(error.description.contains("bad.safetensors"), "message must name the file", file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), "one-line message", file: file, line: line)
        }
    }

    /// Rewrites the JSON header of a valid file.
    func withHeader(_ edit: (inout [String: Any]) -> Void) -> [UInt8] {
        var n = 0
        for i in 0..<8 { n |= Int(good[i]) << (8 * i) }
        var header = try! JSONSerialization.jsonObject(with: Data(good[8..<(8 + n)])) as! [String: Any]
        edit(&header)
        let bytes = Array(try! JSONSerialization.data(withJSONObject: header))
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { out.append(contentsOf: $0) }
        return out + bytes + Array(good[(8 + n)...])
    }

    func withMetadata(_ edit: (inout [String: Any]) -> Void) -> [UInt8] {
        withHeader { header in
            var outer = header["__metadata__"] as! [String: String]
            var meta = try! JSONSerialization.jsonObject(with: outer["cace"]!.data(using: .utf8)!) as! [String: Any]
            edit(&meta)
            outer["cace"] = String(data: try! JSONSerialization.data(withJSONObject: meta), encoding: .utf8)!
            header["__metadata__"] = outer
        }
    }

    func testTruncatedAndCorruptContainers() {
        expectFormatError([], containing: "shorter than the 8-byte header")
        expectFormatError(Array(good.prefix(5)), containing: "shorter than the 8-byte header")
        expectFormatError(Array(good.prefix(good.count - 8)), containing: "data")
        var huge = good
        for i in 0..<8 { huge[i] = 0xFF }
        expectFormatError(huge, containing: "header claims")
        var garbage = good
        garbage[8] = UInt8(ascii: "x")
        expectFormatError(garbage, containing: "not JSON")
    }

    func testWrongDtypeShapeAndMissingTensor() {
        let name = "representation.radial_transform.weights.0"
        expectFormatError(withHeader { h in
            var t = h[name] as! [String: Any]; t["dtype"] = "I16"; h[name] = t
        }, containing: "dtype I16")
        expectFormatError(withHeader { h in
            var t = h[name] as! [String: Any]; t["shape"] = [1, 2]; h[name] = t
        }, containing: "shape")
        expectFormatError(withMetadata { m in
            var rt = m["radial_transform"] as! [String: Any]
            rt["weights"] = ["no.such.tensor", "x", "y"]
            m["radial_transform"] = rt
        }, containing: "tensor 'no.such.tensor'")
        expectFormatError(withHeader { h in
            var t = h[name] as! [String: Any]; t["data_offsets"] = [0, 1 << 40]; h[name] = t
        }, containing: "data_offsets")
    }

    func testUnknownOptionsAreRefused() {
        for (key, value, text) in [("radial_basis", ["type": "chebyshev", "tensors": [:]] as Any, "radial basis 'chebyshev'"),
                                   ("cutoff_fn", ["type": "switch"], "cutoff function 'switch'"),
                                   ("format_version", 7, "format_version 7"),
                                   ("max_nu", 9, "max_nu")] {
            do {
                let bytes = withMetadata { $0[key] = value }
                _ = try CACEModel(container: SafeTensors(bytes: bytes, name: "bad.safetensors"), name: "bad.safetensors")
                XCTFail("expected an error for \(key)")
            } catch {
                XCTAssertTrue(error.description.contains(text), "'\(error.description)' lacks '\(text)'")
            }
        }
        expectFormatError(withMetadata { m in m.removeValue(forKey: "heads") }, containing: "'heads' is missing")
        expectFormatError(Array("abcdefgh".utf8) + [], containing: "header claims")
    }

    func testMissingFileIsAnIOError() {
        XCTAssertThrowsError(try CACEModel(contentsOf: "/nonexistent/model.safetensors")) { error in
            guard case CACEError.io(let message)? = error as? CACEError else { return XCTFail("not an I/O error: \(error)") }
            XCTAssertTrue(message.contains("/nonexistent/model.safetensors"))
        }
    }

    func testUnknownElementInStructure() throws {
        let evaluator = Evaluator(model: try SyntheticModel().model())
        let s = Structure(atomicNumbers: [14, 6], positions: [0, 0, 0, 1.5, 0, 0], cell: nil, pbc: (false, false, false))
        XCTAssertThrowsError(try evaluator.evaluate(s)) { error in
            XCTAssertTrue("\(error)".contains("element C"), "\(error)")
        }
    }

    func testCoincidentAtomsAndEmptyStructures() throws {
        let evaluator = Evaluator(model: try SyntheticModel().model())
        let same = Structure(atomicNumbers: [14, 14], positions: [0, 0, 0, 0, 0, 0], cell: nil, pbc: (false, false, false))
        XCTAssertThrowsError(try evaluator.evaluate(same)) { XCTAssertTrue("\($0)".contains("same position")) }
        let empty = Structure(atomicNumbers: [], positions: [], cell: nil, pbc: (false, false, false))
        XCTAssertThrowsError(try evaluator.evaluate(empty)) { XCTAssertTrue("\($0)".contains("no atoms")) }
    }

    func testMalformedExtendedXYZ() {
        let cases: [(String, String)] = [
            ("", "no frames"),
            ("two\ncomment\n", "expected an atom count"),
            ("0\ncomment\n", "no atoms"),
            ("3\ncomment\nSi 0 0 0\n", "ends early"),
            ("9223372036854775807\ncomment\nSi 0 0 0\n", "ends early"),
            ("1\ncomment\nQq 0 0 0\n", "unknown element 'Qq'"),
            ("1\ncomment\nSi 0 zero 0\n", "bad coordinate"),
            ("1\nLattice=\"1 2 3\"\nSi 0 0 0\n", "Lattice must hold 9 numbers"),
            ("1\npbc=\"T T T\"\nSi 0 0 0\n", "no Lattice"),
            ("1\nProperties=species:S:1:pos:R:3:forces:R:3\nSi 0 0 0\n", "Properties needs 7"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try ExtendedXYZ.parse(text, name: "bad.xyz")) { error in
                XCTAssertTrue("\(error)".contains(expected), "'\(error)' lacks '\(expected)'")
            }
        }
    }

    func testExtendedXYZReadsFramesCellAndPbc() throws {
        let text = """
        2
        Lattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T F" energy=1.0
        Si 0 0 0
        Si 1.2 1.3 1.4
        1
        comment without keys
        O 0.5 0.5 0.5
        """
        let frames = try ExtendedXYZ.parse(text)
        XCTAssertEqual(frames.count, 2)
        XCTAssertEqual(frames[0].cell, [5, 0, 0, 0, 5, 0, 0, 0, 5])
        XCTAssertTrue(frames[0].pbc.0 && frames[0].pbc.1 && !frames[0].pbc.2)
        XCTAssertEqual(frames[1].atomicNumbers, [8])
        XCTAssertFalse(frames[1].isPeriodic)
    }

    func testLongRangeRefusesMixedBoundaries() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]
        spec.ewald = true
        let evaluator = Evaluator(model: try spec.model())
        var s = rattledCrystal(species: [1, 8], repeats: 1)
        s.pbc = (true, true, false)
        XCTAssertThrowsError(try evaluator.evaluate(s)) { XCTAssertTrue("\($0)".contains("periodic in all three")) }
    }

    func testSmallCellsSeeManyImages() throws {
        // A cell far smaller than the cutoff: each atom interacts with many images of itself.
        let evaluator = Evaluator(model: try SyntheticModel().model())
        let tiny = Structure(atomicNumbers: [14], positions: [0.1, 0.2, 0.3], cell: [1.5, 0, 0, 0.3, 1.6, 0, 0, 0.2, 1.7],
                             pbc: (true, true, true))
        let r = try evaluator.evaluate(tiny)
        XCTAssertTrue(r.energy.isFinite)
        XCTAssertEqual(r.forces[0], 0, accuracy: 1e-10)   // one atom: forces on its images cancel
    }
}
