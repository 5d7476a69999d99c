import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures

/// Runs the `cace` executable as a user would.
final class CommandLineTests: XCTestCase {
    var tool: URL {
        // The test bundle sits in the build products directory, beside the executable.
        let bundle = Bundle(for: CommandLineTests.self).bundleURL
        let candidates = [bundle.appendingPathComponent("cace"), bundle.deletingLastPathComponent().appendingPathComponent("cace")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    /// Runs the tool; with `memoryLimit` (MB) under `ulimit -v`, so that a regression cannot take the machine down.
    /// Under AddressSanitizer the same bound is its resident-memory and allocation-size limits.
    func run(_ arguments: [String], memoryLimit megabytes: Int? = nil) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        if let megabytes {
            let limit = Self.underAddressSanitizer
                ? "export ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}hard_rss_limit_mb=\(megabytes):malloc_limit_mb=\(megabytes)\""
                : "ulimit -v \(megabytes * 1024)"
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "\(limit); exec \"$0\" \"$@\"", tool.path] + arguments
        } else {
            process.executableURL = tool
            process.arguments = arguments
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// One directory per test for the files it writes, removed afterwards.
    lazy var scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cace-cli-\(UUID().uuidString)")

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func temporaryFile(_ name: String, _ bytes: [UInt8]) throws -> String {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let url = scratch.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func testEvaluateWritesJSONAndMatchesLibrary() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]
        let modelPath = try temporaryFile("model.safetensors", spec.fileBytes())
        let xyz = "3\nProperties=species:S:1:pos:R:3\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n"
        let xyzPath = try temporaryFile("water.xyz", Array(xyz.utf8))
        let result = try run(["evaluate", modelPath, xyzPath, "--format", "json"])
        XCTAssertEqual(result.status, 0, result.err)
        let frames = try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as! [[String: Any]]
        XCTAssertEqual(frames.count, 1)
        let expected = try Evaluator(model: spec.model()).evaluate(try ExtendedXYZ.parse(xyz)[0])
        // Foundation's JSON reader may round the last bit.
        XCTAssertEqual((frames[0]["energy"] as! NSNumber).doubleValue, expected.energy, accuracy: 1e-14)
        XCTAssertLessThanOrEqual(relativeError((frames[0]["forces"] as! [[Double]]).flatMap { $0 }, expected.forces), 1e-14)
        XCTAssertEqual((frames[0]["virial"] as! [Double]).count, 9)
        XCTAssertTrue(frames[0]["stress"] is NSNull)

        let info = try run(["info", modelPath])
        XCTAssertEqual(info.status, 0)
        XCTAssertTrue(info.out.contains("H (Z=1), O (Z=8)"), info.out)
    }

    func testErrorsExitNonZeroWithOneLine() throws {
        let badModel = try temporaryFile("bad.safetensors", Array("not a model".utf8))
        var spec = SyntheticModel()
        spec.zs = [14]
        let modelPath = try temporaryFile("model.safetensors", spec.fileBytes())
        let unknownElement = try temporaryFile("c.xyz", Array("1\n\nC 0 0 0\n".utf8))
        let malformed = try temporaryFile("m.xyz", Array("2\n\nSi 0 0 0\n".utf8))
        for (arguments, text) in [(["info", badModel], "not a valid safetensors file"),
                                  (["evaluate", modelPath, unknownElement], "element C"),
                                  (["evaluate", modelPath, malformed], "ends early"),
                                  (["evaluate", "/nonexistent.safetensors", malformed], "cannot open")] {
            let result = try run(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            let lines = result.err.split(separator: "\n").filter { !$0.isEmpty && !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") }
            XCTAssertEqual(lines.count, 1, "one-line message expected: \(result.err)")
            XCTAssertTrue(result.err.contains(text), "'\(result.err)' lacks '\(text)'")
        }
    }

    /// True when the tests (and the tool built beside them) run under AddressSanitizer
    /// (`scripts/sanitize.sh`): its shadow memory reserves terabytes of address space, which
    /// `ulimit -v` forbids.
    static let underAddressSanitizer = dlsym(nil, "__asan_init") != nil

    func assertOneLineError(_ result: (status: Int32, out: String, err: String), containing text: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 1, "exit status (a trap gives 132 or 134): \(result.err)", file: file, line: line)
        let lines = result.err.split(separator: "\n").filter { !$0.isEmpty }
        XCTAssertEqual(lines.count, 1, "one-line message expected: \(result.err)", file: file, line: line)
        XCTAssertTrue(result.err.contains(text), "'\(result.err)' lacks '\(text)'", file: file, line: line)
    }

    /// Issue 12, items 2-5 and 11: extreme geometry, tiny cells and huge Ewald boxes end with
    /// one line within 2 GB; a non-finite energy is an error; odd arguments get a clear message.
    func testHostileInputsThroughCLI() throws {
        var mp = SyntheticModel()
        mp.layers = 1; mp.messageTypes = ["M", "Ar", "Bchi"]; mp.atomicEnergies = [14: -1e308]
        let mpPath = try temporaryFile("mp.safetensors", mp.fileBytes())
        var lr = SyntheticModel()
        lr.zs = [1, 8]; lr.ewald = true
        let lrPath = try temporaryFile("lr.safetensors", lr.fileBytes())
        func xyz(_ name: String, _ text: String) throws -> String { try temporaryFile(name, Array(text.utf8)) }
        for edge in ["0.3", "0.2", "0.1"] {
            let path = try xyz("tiny\(edge).xyz", "1\nLattice=\"\(edge) 0 0 0 \(edge) 0 0 0 \(edge)\" pbc=\"T T T\"\nSi 0 0 0\n")
            assertOneLineError(try run(["evaluate", mpPath, path], memoryLimit: 2048), containing: "far smaller than the cutoff")
        }
        for edge in ["400", "1000", "10000"] {
            let path = try xyz("box\(edge).xyz", "3\nLattice=\"\(edge) 0 0 0 \(edge) 0 0 0 \(edge)\" pbc=\"T T T\"\n"
                                + "O 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
            assertOneLineError(try run(["evaluate", lrPath, path], memoryLimit: 2048), containing: "k-vectors")
        }
        let huge = try xyz("huge.xyz", "2\n\nSi 0 0 0\nSi 1e300 0 0\n")
        assertOneLineError(try run(["evaluate", mpPath, huge, "--no-e0"], memoryLimit: 2048), containing: "coordinate 1e+300")
        let far = try xyz("far.xyz", "2\n\nSi 0 0 0\nSi 1.7e7 0 0\n")
        XCTAssertEqual(try run(["evaluate", mpPath, far, "--no-e0"], memoryLimit: 2048).status, 0)
        assertOneLineError(try run(["evaluate", mpPath, far], memoryLimit: 2048), containing: "energy is not finite")
        assertOneLineError(try run(["evaluate", mpPath, far, "--threads", "-1"]), containing: "between 1 and 1024")
        let binary = try temporaryFile("binary.xyz", [0x7F, 0x45, 0x4C, 0x46, 0, 0, 0x0A, 0xFF])
        assertOneLineError(try run(["evaluate", mpPath, binary]), containing: "not a text file")
    }

    /// Issue 18, item 6: NaN and infinite coordinates and cells (refused by the reader), atoms
    /// within the distance floor (named, a periodic image as such), cells without volume; a
    /// left-handed cell is evaluated.
    func testPhysicalBadInputThroughCLI() throws {
        var spec = SyntheticModel()
        spec.layers = 1; spec.messageTypes = ["M", "Ar", "Bchi"]
        let model = try temporaryFile("mp.safetensors", spec.fileBytes())
        func xyz(_ name: String, _ text: String) throws -> String { try temporaryFile(name, Array(text.utf8)) }
        for (name, value) in [("nan", "nan"), ("inf", "inf"), ("minus-inf", "-inf")] {
            let path = try xyz("\(name).xyz", "2\n\nSi 0 0 0\nSi 1.5 \(value) 0\n")
            assertOneLineError(try run(["evaluate", model, path]), containing: "bad coordinate '\(value)'")
        }
        let close = try xyz("close.xyz", "3\n\nSi 0 0 0\nSi 2.3 0 0\nSi 2.3 0.05 0\n")
        assertOneLineError(try run(["evaluate", model, close]), containing: "atoms 1 and 2 are 0.05")
        let image = try xyz("image.xyz", "2\nLattice=\"6 0 0 0 6 0 0 0 6\" pbc=\"T T T\"\nSi 0.02 1 1\nSi 5.97 1 1\n")
        assertOneLineError(try run(["evaluate", model, image]), containing: "(a periodic image) are 0.05")
        let flat = try xyz("flat.xyz", "1\nLattice=\"5 0 0 0 5 0 5 5 0\" pbc=\"T T T\"\nSi 0 0 0\n")
        assertOneLineError(try run(["evaluate", model, flat]), containing: "zero volume")
        let nanCell = try xyz("nancell.xyz", "1\nLattice=\"5 0 0 0 5 0 0 0 nan\" pbc=\"T T T\"\nSi 0 0 0\n")
        assertOneLineError(try run(["evaluate", model, nanCell]), containing: "Lattice must hold 9 numbers")
        let left = try xyz("left.xyz", "2\nLattice=\"0 5.5 0 5 0 0 0 0 6\" pbc=\"T T T\"\nSi 0 0 0\nSi 1.4 1.3 1.2\n")
        let evaluated = try run(["evaluate", model, left])
        XCTAssertEqual(evaluated.status, 0, evaluated.err)
    }

    /// `cace features`: JSON and npy carry what the library computes.
    func testFeaturesThroughCLI() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]
        let modelPath = try temporaryFile("model.safetensors", spec.fileBytes())
        let xyz = "3\nLattice=\"6 0 0 0 6 0 0 0 6\" pbc=\"T T T\"\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n"
        let xyzPath = try temporaryFile("water.xyz", Array(xyz.utf8))
        let expected = try Evaluator(model: spec.model()).descriptors(try ExtendedXYZ.parse(xyz)[0], derivatives: true)
        let json = try run(["features", modelPath, xyzPath, "--derivatives"])
        XCTAssertEqual(json.status, 0, json.err)
        let frames = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as! [[String: Any]]
        XCTAssertEqual(frames[0]["feature_count"] as? Int, expected.featureCount)
        XCTAssertLessThanOrEqual(relativeError((frames[0]["features"] as! [[Double]]).flatMap { $0 }, expected.features), 1e-14)
        XCTAssertEqual(frames[0]["edge_senders"] as? [Int], expected.edgeSenders)
        let jacobians = (frames[0]["jacobians"] as! [[[Double]]]).flatMap { $0.flatMap { $0 } }
        XCTAssertLessThanOrEqual(relativeError(jacobians, expected.jacobians), 1e-14)

        let directory = scratch.appendingPathComponent("npy").path
        let npy = try run(["features", modelPath, xyzPath, "--derivatives", "--format", "npy", "--output", directory])
        XCTAssertEqual(npy.status, 0, npy.err)
        let file = try Data(contentsOf: URL(fileURLWithPath: directory + "/frame1_jacobians.npy"))
        XCTAssertEqual(Array(file.prefix(6)), [0x93] + Array("NUMPY".utf8))
        let headerLength = Int(file[8]) | Int(file[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0)
        let header = String(decoding: file[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.contains("'shape': (\(expected.edgeReceivers.count), \(expected.featureCount), 3)"), header)
        XCTAssertEqual(file.count - 10 - headerLength, 8 * expected.jacobians.count)
        let missing = try run(["features", modelPath, xyzPath, "--format", "npy"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("--output"), missing.err)
    }

    func testPrecisionSingleThroughCLI() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]
        let modelPath = try temporaryFile("model.safetensors", spec.fileBytes())
        let xyz = "3\nProperties=species:S:1:pos:R:3\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n"
        let xyzPath = try temporaryFile("water.xyz", Array(xyz.utf8))
        let single = try run(["evaluate", modelPath, xyzPath, "--format", "json", "--precision", "single"])
        XCTAssertEqual(single.status, 0, single.err)
        let frames = try JSONSerialization.jsonObject(with: Data(single.out.utf8)) as! [[String: Any]]
        let expected = try Evaluator(model: spec.model()).evaluate(try ExtendedXYZ.parse(xyz)[0])
        XCTAssertLessThanOrEqual(relativeError((frames[0]["forces"] as! [[Double]]).flatMap { $0 }, expected.forces), 1e-4)
        let benchmark = try run(["benchmark", modelPath, xyzPath, "--precision", "single", "--repeat", "1", "--format", "json"])
        XCTAssertEqual(benchmark.status, 0, benchmark.err)
        let report = try JSONSerialization.jsonObject(with: Data(benchmark.out.utf8)) as! [String: Any]
        XCTAssertEqual(report["precision"] as? String, "single")
        for key in ["atoms", "us_per_atom", "threads", "peak_rss_mb"] { XCTAssertNotNil(report[key] as? NSNumber, key) }
        let memory = try XCTUnwrap(report["memory_bytes_per_atom"] as? [String: Double])
        XCTAssertGreaterThan(memory["per_thread_scratch"] ?? 0, 0)   // the atom-by-atom path's buffers
        let stages = try XCTUnwrap(report["stages"] as? [String: Double])
        XCTAssertEqual(Set(stages.keys), ["edges_and_A", "symmetrizer", "message_passing", "readout", "backward",
                                         "long_range", "neighbours_and_setup"])

        spec.layers = 1; spec.messageTypes = ["M"]
        let mpPath = try temporaryFile("mp.safetensors", spec.fileBytes())
        let singleMP = try run(["evaluate", mpPath, xyzPath, "--precision", "single"])
        XCTAssertEqual(singleMP.status, 0, singleMP.err)   // message passing runs in single precision too
        let unknown = try run(["evaluate", modelPath, xyzPath, "--precision", "half"])
        XCTAssertNotEqual(unknown.status, 0)
    }

    /// The water reference through the CLI, including the long-range term (issue 2's check).
    func testWaterReferenceThroughCLI() throws {
        let root = try requireReference().appendingPathComponent("water_trained")
        let result = try run(["evaluate", root.appendingPathComponent("model.safetensors").path,
                              root.appendingPathComponent("liquid64_frame0.xyz").path, "--format", "json"])
        XCTAssertEqual(result.status, 0, result.err)
        let frame = (try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as! [[String: Any]])[0]
        let ref = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("liquid64_frame0.json"))) as! [String: Any]
        let e = (ref["energy"] as! NSNumber).doubleValue
        XCTAssertEqual((frame["energy"] as! NSNumber).doubleValue, e, accuracy: 1e-9 * abs(e))
        let forces = (frame["forces"] as! [[Double]]).flatMap { $0 }
        XCTAssertLessThanOrEqual(relativeError(forces, (ref["forces"] as! [[Double]]).flatMap { $0 }), 1e-8)
    }
}
