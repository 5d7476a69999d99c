import Foundation
import XCTest
@testable import CACE
@testable import CACEFit
@testable import CACEStructures

/// Nothing lost on failure (issue 18): `cace fit` and `cace features --format npy` write through
/// AtomicFile (a temporary file beside the target, renamed into place). Each is killed with
/// SIGKILL half-way through its temporary file (the test hook CACE_TEST_PAUSE_WRITE stops it
/// there): the previous file must be byte-identical, and no partial target may exist.
final class AtomicWriteTests: XCTestCase {
    var tool: URL {
        let bundle = Bundle(for: AtomicWriteTests.self).bundleURL
        let candidates = [bundle.appendingPathComponent("cace"), bundle.deletingLastPathComponent().appendingPathComponent("cace")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    lazy var scratch: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cace-atomic-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = scratch.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func contents(_ path: String) -> [UInt8]? {
        (try? Data(contentsOf: URL(fileURLWithPath: path))).map { Array($0) }
    }

    /// The temporary files of `target` (`.NAME.XXXXXX.tmp` beside it) that hold bytes.
    func temporaries(of target: String) -> [String] {
        let url = URL(fileURLWithPath: target)
        let directory = url.deletingLastPathComponent().path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("." + url.lastPathComponent + ".") && $0.hasSuffix(".tmp") }
            .map { directory + "/" + $0 }
            .filter { ((try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? 0) > 0 }
    }

    /// Runs the tool with the pause hook and SIGKILLs it as soon as a temporary file of `target`
    /// holds bytes, or `target` differs from `previous` (what a writer without a temporary file
    /// would do). Returns the temporary files it left; fails if the tool ends first.
    func killMidWrite(_ arguments: [String], target: String, previous: [UInt8]?,
                      file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment[AtomicFile.pauseVariable] = "120"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            let partial = temporaries(of: target)
            if !partial.isEmpty || contents(target) != previous {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                XCTAssertEqual(process.terminationReason, .uncaughtSignal, file: file, line: line)
                return partial
            }
            if !process.isRunning {
                let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                XCTFail("cace \(arguments[0]) ended (status \(process.terminationStatus)) before it was killed mid-write: \(message)",
                        file: file, line: line)
                return []
            }
            usleep(2000)
        }
        XCTFail("no temporary file appeared within 300 s", file: file, line: line)
        return []
    }

    func run(_ arguments: [String]) throws -> (status: Int32, err: String) {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: message, as: UTF8.self))
    }

    /// Extended XYZ of labelled frames, as `cace fit` reads it.
    static func trainingText(_ frames: [LabelledFrame]) -> String {
        var text = ""
        for f in frames {
            let s = f.structure
            var comment = "Properties=species:S:1:pos:R:3:forces:R:3 energy=\(f.energy) config_type=\(f.configType)"
            if let cell = s.cell {
                comment += " Lattice=\"\(cell.map { "\($0)" }.joined(separator: " "))\""
                comment += " pbc=\"\(s.pbc.0 ? "T" : "F") \(s.pbc.1 ? "T" : "F") \(s.pbc.2 ? "T" : "F")\""
            }
            if let virial = f.virial { comment += " virial=\"\(virial.map { "\($0)" }.joined(separator: " "))\"" }
            text += "\(s.count)\n\(comment)\n"
            for i in 0..<s.count {
                let symbol = Elements.symbol(of: s.atomicNumbers[i]) ?? "X"
                let row = (0..<3).map { "\(s.positions[3 * i + $0])" } + (0..<3).map { "\(f.forces[3 * i + $0])" }
                text += symbol + " " + row.joined(separator: " ") + "\n"
            }
        }
        return text
    }

    func testFitKilledMidWriteKeepsThePreviousModel() throws {
        let training = try file("train.xyz", Array(Self.trainingText(Array(FitTests.data.training.prefix(4))).utf8))
        let target = scratch.appendingPathComponent("fitted.safetensors").path
        var old = SyntheticModel()
        old.zs = [8, 14]
        let previous = old.fileBytes()
        try Data(previous).write(to: URL(fileURLWithPath: target))
        let arguments = ["fit", training, "--output", target, "--cutoff", "4.0", "--radial", "3", "--max-l", "2",
                         "--max-nu", "2", "--solver", "qr", "--threads", "1", "--quiet"]

        let partial = try killMidWrite(arguments, target: target, previous: previous)
        XCTAssertTrue(contents(target) == previous, "the previous model must survive the killed fit byte for byte (now \(contents(target)?.count ?? -1) bytes, was \(previous.count))")
        XCTAssertFalse(partial.isEmpty, "the fit was killed, but not half-way through its temporary file")
        let listing = try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted()
        XCTAssertEqual(listing, (["fitted.safetensors", "train.xyz"] + partial.map { URL(fileURLWithPath: $0).lastPathComponent }).sorted())
        if let half = partial.first { XCTAssertThrowsError(try CACEModel(contentsOf: half), "the temporary file holds half a model") }

        // Without the hook the same command replaces the file (the kill above was not vacuous).
        for p in partial { try FileManager.default.removeItem(atPath: p) }
        let done = try run(arguments)
        XCTAssertEqual(done.status, 0, done.err)
        XCTAssertTrue(contents(target) != previous, "the fit did not replace the model")
        XCTAssertEqual(try CACEModel(contentsOf: target).radialFunctionCount, 3)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted(), ["fitted.safetensors", "train.xyz"])
    }

    func testFeaturesKilledMidWriteKeepPreviousArrays() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]
        let model = try file("model.safetensors", spec.fileBytes())
        // 12 atoms of water-like rows in a 5 Angstrom cell.
        var rows = ""
        for k in 0..<4 {
            let (x, y, z) = (Double(k % 2) * 2.5, Double(k / 2) * 2.5, 0.5 * Double(k))
            rows += "O \(x) \(y) \(z)\nH \(x + 0.96) \(y) \(z)\nH \(x - 0.24) \(y + 0.93) \(z)\n"
        }
        let first = try file("a.xyz", Array("12\nLattice=\"5 0 0 0 5 0 0 0 5\" pbc=\"T T T\"\n\(rows)".utf8))
        let second = try file("b.xyz", Array("12\nLattice=\"5.5 0 0 0 5 0 0 0 5\" pbc=\"T T T\"\n\(rows)".utf8))
        let directory = scratch.appendingPathComponent("npy").path
        let written = try run(["features", model, first, "--derivatives", "--format", "npy", "--output", directory])
        XCTAssertEqual(written.status, 0, written.err)
        let names = ["frame1_features.npy", "frame1_edges.npy", "frame1_edge_vectors.npy", "frame1_jacobians.npy"]
        let previous = names.map { contents(directory + "/" + $0) }
        XCTAssertTrue(previous.allSatisfy { $0 != nil })

        // Killed while writing the first array.
        let target = directory + "/frame1_features.npy"
        let partial = try killMidWrite(["features", model, second, "--derivatives", "--format", "npy", "--output", directory],
                                       target: target, previous: previous[0])
        XCTAssertFalse(partial.isEmpty, "cace features was killed, but not half-way through its temporary file")
        for (name, old) in zip(names, previous) {
            XCTAssertTrue(contents(directory + "/" + name) == old, "\(name) must survive the killed run byte for byte")
        }
        let listing = try FileManager.default.contentsOfDirectory(atPath: directory)
        XCTAssertEqual(Set(listing), Set(names + partial.map { URL(fileURLWithPath: $0).lastPathComponent }))

        // Without the hook the run replaces every array.
        for p in partial { try FileManager.default.removeItem(atPath: p) }
        let done = try run(["features", model, second, "--derivatives", "--format", "npy", "--output", directory])
        XCTAssertEqual(done.status, 0, done.err)
        for (name, old) in zip(names, previous) where name != "frame1_edges.npy" {
            XCTAssertTrue(contents(directory + "/" + name) != old, "\(name) was not replaced")
        }
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: directory)), Set(names))
    }

    /// The writer itself: replaces contents, keeps the permissions of the file it replaces,
    /// writes through a symbolic link, and a failure (a missing directory) creates nothing.
    func testAtomicFileReplacesKeepsModeAndFollowsLinks() throws {
        let path = scratch.appendingPathComponent("table.txt").path
        try AtomicFile.write(Array("one\n".utf8), to: path)
        XCTAssertEqual(contents(path), Array("one\n".utf8))
        XCTAssertEqual(chmod(path, 0o640), 0)
        try AtomicFile.write(Array("two\n".utf8), to: path)
        XCTAssertEqual(contents(path), Array("two\n".utf8))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o640)

        let link = scratch.appendingPathComponent("link.txt").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        try AtomicFile.write(Array("three\n".utf8), to: link)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), path)
        XCTAssertEqual(contents(path), Array("three\n".utf8))

        let missing = scratch.appendingPathComponent("no/such/dir/file.npy").path
        XCTAssertThrowsError(try AtomicFile.write([1, 2, 3], to: missing)) { error in
            XCTAssertTrue("\(error)".contains(missing), "\(error)")
        }
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: scratch.path)), ["table.txt", "link.txt"])
    }
}
