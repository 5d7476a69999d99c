import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures

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

    func withHeader(_ edit: (inout [String: Any]) -> Void) -> [UInt8] { Self.editHeader(of: good, edit) }

    func withMetadata(_ edit: (inout [String: Any]) -> Void) -> [UInt8] { Self.editMetadata(of: good, edit) }

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
            ("1\nProperties=species:S:1:pos:R:3:forces:R:3\nSi 0 0 0\n", "describes 7"),
            ("1\ncomment\nSi 1 1 1 1\n", "declare the extra columns with Properties="),
            ("1\nProperties=species:S:1:pos:R:3\nSi 1 1 1 1\n", "describes 4"),
            ("1\ncomment\n\u{1}\u{7F}Si 0 0 0\n", "unknown element '??Si'"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try ExtendedXYZ.parse(text, name: "bad.xyz")) { error in
                XCTAssertTrue("\(error)".contains(expected), "'\(error)' lacks '\(expected)'")
            }
        }
    }

    func testWindowsLineEndsAreRead() throws {
        let text = "2\nLattice=\"5 0 0 0 5 0 0 0 5\" pbc=\"T T T\"\nSi 0 0 0\nSi 1.2 1.3 1.4\n1\n\nO 0.5 0.5 0.5\n"
        let unix = try ExtendedXYZ.parse(text)
        let windows = try ExtendedXYZ.parse(text.replacingOccurrences(of: "\n", with: "\r\n"))
        XCTAssertEqual(windows.count, 2)
        for (a, b) in zip(unix, windows) {
            XCTAssertEqual(a.positions, b.positions)
            XCTAssertEqual(a.atomicNumbers, b.atomicNumbers)
            XCTAssertEqual(a.cell, b.cell)
            XCTAssertTrue(a.pbc == b.pbc)
        }
    }

    func testBinaryFileIsNotEchoed() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("binary-\(UUID().uuidString).xyz")
        try Data([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x00, 0x00, 0x0A, 0xFF, 0xFE]).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try ExtendedXYZ.read(contentsOf: url.path)) { error in
            XCTAssertTrue("\(error)".contains("not a text file"), "\(error)")
            XCTAssertFalse("\(error)".unicodeScalars.contains { $0.value < 32 }, "control bytes echoed: \(error)")
        }
    }

    /// Metadata fields that restate what the tensors fix must agree with them (issue 12, item 6).
    func testMetadataThatDisagreesIsRefused() throws {
        func edit(_ path: [String], _ value: Any) -> (inout [String: Any]) -> Void {
            { meta in
                func set(_ dict: inout [String: Any], _ keys: ArraySlice<String>) {
                    let key = keys.first!
                    if keys.count == 1 { dict[key] = value; return }
                    if let index = Int(keys.dropFirst().first!), var list = dict[key] as? [Any] {
                        if keys.count == 2 {
                            list[index] = value
                        } else {
                            var element = list[index] as! [String: Any]
                            set(&element, keys.dropFirst(2))
                            list[index] = element
                        }
                        dict[key] = list
                    } else {
                        var inner = dict[key] as! [String: Any]
                        set(&inner, keys.dropFirst())
                        dict[key] = inner
                    }
                }
                set(&meta, path[...])
            }
        }
        var mp = SyntheticModel()
        mp.layers = 1; mp.messageTypes = ["Bchi"]
        let mpGood = mp.fileBytes()
        let cases: [([String], Any, String)] = [
            (["heads", "0", "activation"], "relu6", "heads[0].activation"),
            (["heads", "0", "n_hidden"], [1e12, 32], "heads[0].n_hidden"),
            (["heads", "0", "n_in"], 7, "heads[0].n_in"),
            (["heads", "0", "bias"], false, "heads[0].bias"),
            (["radial_basis", "n_rbf"], -16, "radial_basis.n_rbf"),
            (["radial_transform", "shape"], [-16, 12, 9], "radial_transform.shape"),
            (["angular", "l_groups", "2"], [4, 100], "angular.l_groups[2]"),
            (["radial_basis", "prefactor"], NSNull(), "radial_basis.prefactor' is null"),
            (["radial_basis", "prefactor"], 0.5, "radial_basis.prefactor"),
            (["cutoff_fn", "p"], "six", "cutoff_fn.p"),
            (["cutoff_fn", "p"], 5.0, "cutoff_fn.p"),
            (["cutoff_fn", "cutoff"], 3.0, "cutoff_fn.cutoff"),
            (["radial_basis", "cutoff"], 3.0, "radial_basis.cutoff"),
            (["avg_num_neighbors"], 0, "avg_num_neighbors"),
            (["units", "energy"], "kcal/mol", "units.energy is 'kcal/mol'"),
            (["units", "length"], "nm", "units.length"),
            (["node_feats_shape"], ["n_atoms", 3, 1, 4, 1], "node_feats_shape"),
            (["symmetrizer", "nu_of_feature"], [1, 1, 1, 1, 1, 1, 1, 1], "symmetrizer.nu_of_feature"),
        ]
        for (path, value, text) in cases {
            var bytes = withMetadata(edit(path, value))
            if path == ["radial_basis", "prefactor"] || path == ["cutoff_fn", "p"] {
                // the synthetic files carry these only as tensors: add the metadata copy first
                bytes = withMetadata { meta in
                    edit(["radial_basis", "prefactor"], (2 / 4.0).squareRoot())(&meta)
                    edit(["cutoff_fn", "p"], 6.0)(&meta)
                    edit(path, value)(&meta)
                }
            }
            expectFormatError(bytes, containing: text)
        }
        // Bchi's declared input width (the probe used 1e15).
        let bchi = BadInputTests.editMetadata(of: mpGood) { meta in
            var passing = meta["message_passing"] as! [String: Any]
            var layers = passing["layers"] as! [[String: Any]]
            var b = layers[0]["Bchi"] as! [String: Any]
            b["n_in"] = 1e15
            layers[0]["Bchi"] = b
            passing["layers"] = layers
            meta["message_passing"] = passing
        }
        expectFormatError(bchi, containing: "Bchi.n_in")
        // The unedited file, with its metadata copies of the tensors, loads.
        XCTAssertNoThrow(try CACEModel(container: SafeTensors(bytes: withMetadata { meta in
            edit(["radial_basis", "prefactor"], (2 / 4.0).squareRoot())(&meta)
            edit(["cutoff_fn", "p"], 6.0)(&meta)
        }, name: "ok.safetensors"), name: "ok.safetensors"))
    }

    /// Rewrites the JSON header of a valid file.
    static func editHeader(of good: [UInt8], _ edit: (inout [String: Any]) -> Void) -> [UInt8] {
        var n = 0
        for i in 0..<8 { n |= Int(good[i]) << (8 * i) }
        var header = try! JSONSerialization.jsonObject(with: Data(good[8..<(8 + n)])) as! [String: Any]
        edit(&header)
        let bytes = Array(try! JSONSerialization.data(withJSONObject: header))
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { out.append(contentsOf: $0) }
        return out + bytes + Array(good[(8 + n)...])
    }

    /// Rewrites the CACE metadata of a valid file.
    static func editMetadata(of good: [UInt8], _ edit: (inout [String: Any]) -> Void) -> [UInt8] {
        editHeader(of: good) { header in
            var outer = header["__metadata__"] as! [String: String]
            var meta = try! JSONSerialization.jsonObject(with: outer["cace"]!.data(using: .utf8)!) as! [String: Any]
            edit(&meta)
            outer["cace"] = String(data: try! JSONSerialization.data(withJSONObject: meta), encoding: .utf8)!
            header["__metadata__"] = outer
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
