import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures

/// Cells of either handedness, geometry at the edge of what doubles hold, and structures that
/// would need more memory or time than any real one: answers where they exist, one-line
/// errors where they do not, never a trap.
final class GeometryTests: XCTestCase {
    /// The same lattice with its vectors listed as a, c, b: a negative determinant.
    func leftHanded(_ s: Structure) -> Structure {
        var t = s
        let h = s.cell!
        t.cell = Array(h[0..<3]) + Array(h[6..<9]) + Array(h[3..<6])
        return t
    }

    /// The mirror image z -> -z of a structure and its cell (a left-handed cell).
    func mirrored(_ s: Structure) -> Structure {
        var t = s
        for i in 0..<s.count { t.positions[3 * i + 2] = -s.positions[3 * i + 2] }
        t.cell = s.cell.map { h in (0..<9).map { $0 % 3 == 2 ? -h[$0] : h[$0] } }
        return t
    }

    func assertSameResult(_ a: StructureResult, _ b: StructureResult, forceSigns: [Double] = [1, 1, 1],
                          stressSigns: [Double] = Array(repeating: 1, count: 9), _ what: String) {
        XCTAssertEqual(a.energy, b.energy, accuracy: 1e-10 * max(1, abs(b.energy)), what)
        let mirroredForces = b.forces.enumerated().map { $0.element * forceSigns[$0.offset % 3] }
        XCTAssertLessThanOrEqual(relativeError(a.forces, mirroredForces, floor: 1e-8), 1e-10, what)
        let expectedStress = zip(b.stress!, stressSigns).map { $0 * $1 }
        XCTAssertLessThanOrEqual(relativeError(a.stress!, expectedStress, floor: 1e-8), 1e-10, what)
    }

    func testLeftHandedCellsGiveTheSameAnswer() throws {
        var ewald = SyntheticModel()
        ewald.zs = [1, 8]; ewald.ewald = true; ewald.maxL = 3; ewald.seed = 4
        var mp = SyntheticModel()
        mp.zs = [1, 8]; mp.layers = 1; mp.messageTypes = ["M", "Ar", "Bchi"]; mp.seed = 2
        for (name, spec) in [("Ewald", ewald), ("message passing", mp)] {
            let evaluator = Evaluator(model: try spec.model())
            let s = rattledCrystal(species: spec.zs, repeats: 1)
            let right = try evaluator.evaluate(s)
            XCTAssertGreaterThan(s.volume!, 0)
            assertSameResult(try evaluator.evaluate(leftHanded(s)), right, "\(name): vectors a, c, b")
            // A mirror image: z components of forces flip, and so do the xz and yz stresses.
            assertSameResult(try evaluator.evaluate(mirrored(s)), right, forceSigns: [1, 1, -1],
                             stressSigns: [1, 1, -1, 1, 1, -1, -1, -1, 1], "\(name): mirrored in z")
        }
    }

    func testLeftHandedWaterReference() throws {
        let reference = try requireReference()
        let model = try CACEModel(contentsOf: reference.appendingPathComponent("water_trained/model.safetensors").path)
        let s = try ExtendedXYZ.read(contentsOf: reference.appendingPathComponent("water_trained/liquid64_frame0.xyz").path)[0]
        let evaluator = Evaluator(model: model)
        let right = try evaluator.evaluate(s)
        assertSameResult(try evaluator.evaluate(leftHanded(s)), right, "water_trained, vectors a, c, b")
    }

    /// One Si atom per structure, far from everything: its energy is that of an isolated atom.
    func testSparseAndHugeStructuresAreComputed() throws {
        let evaluator = Evaluator(model: try SyntheticModel().model())
        let isolated = try evaluator.evaluate(Structure(atomicNumbers: [14], positions: [0, 0, 0], cell: nil,
                                                        pbc: (false, false, false))).energy
        let far = Structure(atomicNumbers: [14, 14], positions: [0, 0, 0, 1.7e7, 0, 0], cell: nil, pbc: (false, false, false))
        XCTAssertEqual(try evaluator.evaluate(far).energy, 2 * isolated, accuracy: 1e-12)
        for edge in [5e6, 1e8] {
            let cube = Structure(atomicNumbers: [14], positions: [1, 2, 3], cell: [edge, 0, 0, 0, edge, 0, 0, 0, edge],
                                 pbc: (true, true, true))
            XCTAssertEqual(try evaluator.evaluate(cube).energy, isolated, accuracy: 1e-12, "cube of edge \(edge)")
        }
    }

    /// A fractional coordinate a hair below 0 wraps to exactly 1 in floating point: the atom must
    /// still be moved with it, or its periodic images are missed (found through ASE's cell filters).
    func testAtomAHairBelowZeroKeepsItsImages() throws {
        var spec = SyntheticModel()
        spec.layers = 1; spec.messageTypes = ["M", "Ar", "Bchi"]
        let evaluator = Evaluator(model: try spec.model())
        let crystal = rattledCrystal(species: [14], repeats: 1, rattle: 0, skew: 0)
        let ideal = try evaluator.evaluate(crystal)
        for x in [-1e-17, -1e-16, 1e-17] {
            var s = crystal
            s.positions[0] = x
            let r = try evaluator.evaluate(s)
            XCTAssertEqual(r.energy, ideal.energy, accuracy: 1e-10 * abs(ideal.energy), "x = \(x)")
            XCTAssertLessThanOrEqual(relativeError(r.forces, ideal.forces, floor: 1e-6), 1e-8, "x = \(x)")
        }
    }

    func testCoordinatesBeyondDoublePrecisionAreRefused() throws {
        let evaluator = Evaluator(model: try SyntheticModel().model())
        let cases: [(Structure, String)] = [
            (Structure(atomicNumbers: [14, 14], positions: [0, 0, 0, 1e300, 0, 0], cell: nil, pbc: (false, false, false)),
             "coordinate 1e+300"),
            (Structure(atomicNumbers: [14], positions: [0, 0, 0], cell: [1e30, 0, 0, 0, 5, 0, 0, 0, 5], pbc: (true, true, true)),
             "lattice vector 1"),
            (Structure(atomicNumbers: [14], positions: [.nan, 0, 0], cell: nil, pbc: (false, false, false)), "nan"),
        ]
        for (s, text) in cases {
            XCTAssertThrowsError(try evaluator.evaluate(s)) { error in
                XCTAssertTrue("\(error)".contains(text), "'\(error)' lacks '\(text)'")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
    }

    /// A cell far smaller than the cutoff is refused before images or edges are allocated.
    func testTinyPeriodicCellsAreRefused() throws {
        var spec = SyntheticModel()
        spec.layers = 1; spec.messageTypes = ["M", "Ar", "Bchi"]
        let evaluator = Evaluator(model: try spec.model())
        for edge in [0.34, 0.3, 0.2, 0.1, 1e-3] {   // 0.34: images allowed, edges not
            let s = Structure(atomicNumbers: [14], positions: [0, 0, 0], cell: [edge, 0, 0, 0, edge, 0, 0, 0, edge],
                              pbc: (true, true, true))
            XCTAssertThrowsError(try evaluator.evaluate(s), "edge \(edge)") { error in
                XCTAssertTrue("\(error)".contains("far smaller than the cutoff"), "\(error)")
            }
        }
        // Periodic in two directions only: few images, but every one is a neighbour.
        let slab = Structure(atomicNumbers: [14], positions: [0, 0, 0], cell: [0.05, 0, 0, 0, 0.05, 0, 0, 0, 10],
                             pbc: (true, true, false))
        XCTAssertThrowsError(try evaluator.evaluate(slab)) { XCTAssertTrue("\($0)".contains("far smaller than the cutoff"), "\($0)") }
    }

    func testDirectEwaldSumRefusesHugeBoxes() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]; spec.ewald = true
        let evaluator = Evaluator(model: try spec.model())
        let water: [Double] = [0, 0, 0, 0.96, 0, 0, -0.24, 0.93, 0]
        for edge in [400.0, 1000, 10_000, 1e6] {
            let s = Structure(atomicNumbers: [8, 1, 1], positions: water, cell: [edge, 0, 0, 0, edge, 0, 0, 0, edge],
                              pbc: (true, true, true))
            let start = Date()
            XCTAssertThrowsError(try evaluator.evaluate(s), "box \(edge)") { error in
                XCTAssertTrue("\(error)".contains("k-vectors"), "\(error)")
            }
            // Refused from the estimate, before enumerating: enumerating first would take hours at
            // 1e6 A. The bound is loose so that a loaded machine cannot fail it.
            XCTAssertLessThan(Date().timeIntervalSince(start), 60, "refused at once, box \(edge)")
        }
        let estimate = ReciprocalSum.estimatedCount(nMax: [200, 200, 200], volume: 400 * 400 * 400, kSquaredMax: pow(Double.pi, 2))
        XCTAssertGreaterThan(estimate, Double(ReciprocalSum.maximumCount))
    }

    func testNonFiniteEnergyIsAnError() throws {
        var spec = SyntheticModel()
        spec.atomicEnergies = [14: -1e308]
        let evaluator = Evaluator(model: try spec.model())
        evaluator.includeAtomicEnergies = true
        let s = Structure(atomicNumbers: [14, 14], positions: [0, 0, 0, 2.3, 0, 0], cell: nil, pbc: (false, false, false))
        XCTAssertThrowsError(try evaluator.evaluate(s)) { XCTAssertTrue("\($0)".contains("energy is not finite"), "\($0)") }
        evaluator.includeAtomicEnergies = false
        XCTAssertTrue(try evaluator.evaluate(s).energy.isFinite)
    }

    /// The layered (message-passing) driver, run on a model without message passing, gives
    /// what the atom-by-atom path gives: T = 0 is a valid input for both.
    func testLayeredPathHandlesModelsWithoutMessagePassing() throws {
        for ewald in [false, true] {
            var spec = SyntheticModel()
            spec.zs = [1, 8]; spec.ewald = ewald
            let model = try spec.model()
            let atomByAtom = Evaluator(model: model), layered = Evaluator(model: model)
            layered.usesLayeredPath = true
            for s in [rattledCrystal(species: spec.zs, repeats: 1), cluster(species: spec.zs)] {
                let a = try atomByAtom.evaluate(s), b = try layered.evaluate(s)
                XCTAssertEqual(a.energy, b.energy, accuracy: 1e-12 * max(1, abs(a.energy)), "Ewald \(ewald)")
                XCTAssertLessThanOrEqual(relativeError(b.forces, a.forces, floor: 1e-8), 1e-12, "Ewald \(ewald)")
                XCTAssertLessThanOrEqual(relativeError(b.virial, a.virial, floor: 1e-8), 1e-12, "Ewald \(ewald)")
            }
        }
    }
}
