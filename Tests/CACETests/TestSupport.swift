import Foundation
import XCTest
@testable import CACE
@testable import CACECAPI
@testable import CACEStructures

/// The project root (this file is Tests/CACETests/TestSupport.swift).
let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// `../shared/reference` beside the project, or nil (a user's clone has none).
let referenceDirectory: URL? = {
    let url = projectRoot.deletingLastPathComponent().appendingPathComponent("shared/reference")
    return FileManager.default.fileExists(atPath: url.path) ? url : nil
}()

func requireReference() throws -> URL {
    guard let url = referenceDirectory else {
        throw XCTSkip("SKIPPED: ../shared/reference not found; upstream reference comparisons need it (CI has it)")
    }
    return url
}

/// The trained water model with its long-range term (skips without ../shared/reference).
func waterModel() throws -> CACEModel {
    let root = try requireReference()
    return try CACEModel(contentsOf: root.appendingPathComponent("water_trained/model.safetensors").path)
}

/// A frame of the trained water model's reference structures.
func waterFrame(_ name: String) throws -> Structure {
    let root = try requireReference()
    return try ExtendedXYZ.read(contentsOf: root.appendingPathComponent("water_trained/\(name).xyz").path)[0]
}

/// max |a - b| / max(|b|), with an absolute floor.
func relativeError(_ a: [Double], _ b: [Double], floor: Double = 0) -> Double {
    precondition(a.count == b.count)
    let scale = max(b.map(abs).max() ?? 0, floor)
    let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    return scale == 0 ? diff : diff / scale
}

/// A small periodic silicon-like structure, rattled deterministically.
func rattledCrystal(species: [Int], repeats: Int = 2, lattice: Double = 5.43, rattle: Double = 0.15,
                    skew: Double = 0.2, seed: UInt64 = 7) -> Structure {
    let basis: [[Double]] = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0],
                             [0.25, 0.25, 0.25], [0.25, 0.75, 0.75], [0.75, 0.25, 0.75], [0.75, 0.75, 0.25]]
    var rng = SyntheticModel.Generator(state: seed)
    let a = lattice * Double(repeats)
    let cell = [a, 0, 0, skew * a, a, 0, 0.1 * a, -skew * a, a]
    var numbers: [Int] = []
    var positions: [Double] = []
    for i in 0..<repeats { for j in 0..<repeats { for k in 0..<repeats {
        for (b, f) in basis.enumerated() {
            let s = [(Double(i) + f[0]) / Double(repeats), (Double(j) + f[1]) / Double(repeats), (Double(k) + f[2]) / Double(repeats)]
            for c in 0..<3 {
                positions.append(s[0] * cell[c] + s[1] * cell[3 + c] + s[2] * cell[6 + c] + rng.next(rattle))
            }
            numbers.append(species[(b + i) % species.count])
        }
    } } }
    return Structure(atomicNumbers: numbers, positions: positions, cell: cell, pbc: (true, true, true))
}

/// A small open cluster.
func cluster(species: [Int], count: Int = 6, seed: UInt64 = 3) -> Structure {
    var rng = SyntheticModel.Generator(state: seed)
    var positions: [Double] = []
    for i in 0..<count {
        positions += [Double(i % 3) * 1.9 + rng.next(0.3), Double(i / 3) * 1.9 + rng.next(0.3), rng.next(0.8)]
    }
    return Structure(atomicNumbers: (0..<count).map { species[$0 % species.count] }, positions: positions,
                     cell: nil, pbc: (false, false, false))
}

/// The text of a NUL-terminated message buffer filled by the C ABI.
func message(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A synthetic model loaded through the C ABI (`cace_model_load`), as a host loads one; free it
/// with `caceModelFree`. The file is removed once loaded.
func loadThroughCInterface(_ spec: SyntheticModel) throws -> OpaquePointer {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cabi-\(UUID().uuidString).safetensors").path
    try Data(spec.fileBytes()).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    var err = [CChar](repeating: 0, count: 256)
    var model: OpaquePointer? = nil
    guard caceModelLoad(path, &model, &err, err.count) == 0, let model else {
        throw CACEError.io("cace_model_load failed: \(message(err))")   // fails the test
    }
    return model
}
