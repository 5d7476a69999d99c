import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures

/// Every case in ../shared/reference (upstream PyTorch CACE, float64): energy, forces,
/// virial, stress, per-atom energies and node features.
final class ReferenceTests: XCTestCase {
    struct Case {
        let model: URL
        let json: URL
        let xyz: URL
    }

    func cases() throws -> [Case] {
        let root = try requireReference()
        var result: [Case] = []
        let fm = FileManager.default
        for dir in try fm.contentsOfDirectory(atPath: root.path).sorted() {
            let caseDir = root.appendingPathComponent(dir)
            let model = caseDir.appendingPathComponent("model.safetensors")
            guard fm.fileExists(atPath: model.path) else { continue }
            for file in try fm.contentsOfDirectory(atPath: caseDir.path).sorted() where file.hasSuffix(".json") {
                let json = caseDir.appendingPathComponent(file)
                result.append(Case(model: model, json: json,
                                   xyz: json.deletingPathExtension().appendingPathExtension("xyz")))
            }
        }
        XCTAssertGreaterThanOrEqual(result.count, 30, "expected the shared reference cases")
        return result
    }

    func load(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    func flatten(_ value: Any?) -> [Double] {
        if let n = value as? NSNumber { return [n.doubleValue] }
        if let list = value as? [Any] { return list.flatMap { flatten($0) } }
        return []
    }

    func testEveryReferenceCase() throws {
        for c in try cases() {
            let ref = try load(c.json)
            let name = "\(c.model.deletingLastPathComponent().lastPathComponent)/\(c.json.lastPathComponent)"
            let evaluator = Evaluator(model: try CACEModel(contentsOf: c.model.path))
            var features: [Int: [Double]] = [:]
            evaluator.featureObserver = { i, x in features[i] = Array(x) }
            // Structures come from the extended XYZ files, as a user would pass them.
            let frames = try ExtendedXYZ.read(contentsOf: c.xyz.path)
            XCTAssertEqual(frames.count, 1, name)
            let r = try evaluator.evaluate(frames[0])

            let energy = (ref["energy"] as! NSNumber).doubleValue
            XCTAssertLessThanOrEqual(abs(r.energy - energy), 1e-9 * max(abs(energy), 1e-3), "energy \(name)")
            let nearCutoff = name.contains("near_cutoff")
            let forces = flatten(ref["forces"])
            XCTAssertLessThanOrEqual(relativeError(r.forces, forces, floor: nearCutoff ? 1e-2 : 1e-2), 1e-8, "forces \(name)")
            XCTAssertLessThanOrEqual(relativeError(r.virial, flatten(ref["virial"]), floor: 1e-2), 1e-8, "virial \(name)")
            if let stress = ref["stress"] as? [Any] {
                XCTAssertLessThanOrEqual(relativeError(r.stress ?? [], flatten(stress), floor: 1e-4), 1e-8, "stress \(name)")
            } else {
                XCTAssertNil(r.stress, name)
            }
            // Per-atom energies sum to the total; for water the reference holds the short-range part.
            XCTAssertEqual(r.atomEnergies.reduce(0, +), r.energy, accuracy: 1e-9 * max(1, abs(r.energy)), name)
            let atomEnergies = flatten(ref["atom_energies"])
            if !atomEnergies.isEmpty, r.longRangeEnergy == 0 {
                XCTAssertLessThanOrEqual(relativeError(r.atomEnergies, atomEnergies, floor: 1e-3), 1e-9, "atom energies \(name)")
            }
            if let components = ref["energy_components"] as? [String: Any], let lr = components["ewald_potential"] as? NSNumber {
                XCTAssertEqual(r.longRangeEnergy, lr.doubleValue, accuracy: 1e-9 * max(1, abs(lr.doubleValue)), "Ewald \(name)")
            }
            if let nodeFeatures = ref["node_feats"] as? [Any] {
                let expected = flatten(nodeFeatures)
                let mine = (0..<frames[0].count).flatMap { features[$0] ?? [] }
                XCTAssertEqual(mine.count, expected.count, name)
                if mine.count == expected.count {
                    // Near-cutoff polynomial features cancel to ~1e-8 (reference README): absolute floor.
                    XCTAssertLessThanOrEqual(relativeError(mine, expected, floor: 1e-3), nearCutoff ? 1e-6 : 1e-10,
                                             "node_feats \(name)")
                }
            }
        }
    }

    /// Our generator of the invariant table (spec §4) agrees with the tables upstream stored.
    func testSymmetrizerTablesMatchModelFiles() throws {
        for c in try cases() where c.json.lastPathComponent == "dimer_mid.json" || c.json.lastPathComponent == "liquid64_frame0.json" {
            let model = try CACEModel(contentsOf: c.model.path)
            let table = SyntheticModel.symmetrizerTable(maxL: model.maxL, maxNu: model.maxNu)
            XCTAssertEqual(table.count, model.invariantCount, c.model.path)
            XCTAssertEqual(table.map(\.count), (0..<model.invariantCount).map {
                model.symmetrizer.termStart[$0 + 1] - model.symmetrizer.termStart[$0] }, c.model.path)
        }
    }
}
