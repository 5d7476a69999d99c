import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures

/// The atom-by-atom path evaluates the long-range model with one forward pass and a backward
/// pass split around the Ewald term (Evaluation/Evaluator+ChargePass.swift). The layered
/// (message-passing) driver computes the same quantities with its own charge pass: the two must
/// agree in energy, per-atom energies, forces, virial and per-atom virials, for the direct sum and
/// the mesh, on one and several threads, in double and single precision.
final class ChargePassTests: XCTestCase {
    func testSplitBackwardMatchesTheLayeredPath() throws {
        let model = try waterModel()
        let frames = [try waterFrame("liquid64_rattled"), try waterFrame("liquid64_triclinic"), try waterFrame("water_dimer")]
        for s in frames {
            for method in [LongRangeMethod.direct, .mesh] where s.cell != nil || method == .direct {
                for precision in [Precision.double, .single] {
                    let layered = Evaluator(model: model)
                    layered.usesLayeredPath = true
                    layered.precision = precision
                    try layered.setLongRange(method)
                    let reference = try layered.evaluate(s, atomVirials: true)
                    for threads in [1, 3] {
                        let evaluator = Evaluator(model: model)
                        evaluator.precision = precision
                        evaluator.threadCount = threads
                        try evaluator.setLongRange(method)
                        let split = try evaluator.evaluate(s, atomVirials: true)
                        let tolerance = precision == .double ? 1e-12 : 1e-5
                        let label = "\(s.count) atoms, \(method), \(precision), \(threads) threads"
                        let a = split.result, b = reference.result
                        XCTAssertNotEqual(a.longRangeEnergy, 0, label)
                        XCTAssertEqual(a.longRangeEnergy, b.longRangeEnergy, accuracy: tolerance * abs(b.longRangeEnergy), label)
                        XCTAssertEqual(a.energy, b.energy, accuracy: tolerance * abs(b.energy), label)
                        XCTAssertLessThanOrEqual(relativeError(a.atomEnergies, b.atomEnergies, floor: 1e-3), tolerance, label)
                        XCTAssertLessThanOrEqual(relativeError(a.forces, b.forces, floor: 1e-3), tolerance, label)
                        XCTAssertLessThanOrEqual(relativeError(a.virial, b.virial, floor: 1e-3), tolerance, label)
                        XCTAssertLessThanOrEqual(relativeError(try XCTUnwrap(split.atomVirials), try XCTUnwrap(reference.atomVirials),
                                                               floor: 1e-3), tolerance, label)
                    }
                }
            }
        }
    }

    /// Forces and virial of synthetic long-range models against central differences: self-
    /// interacting ones (the kept forward state; heads with hidden layers, without, and without a
    /// linear part) and a canonical one (its own charge pass), on a periodic and an open structure.
    func testSyntheticLongRangeModelsMatchFiniteDifferences() throws {
        var plain = SyntheticModel()
        plain.zs = [1, 8]; plain.ewald = true
        var linearOnly = plain
        linearOnly.hiddenWidths = []; linearOnly.seed = 2
        var noLinearPart = plain
        noLinearPart.linearHead = false; noLinearPart.seed = 3
        let models = [("hidden layers", try plain.model()), ("linear heads", try linearOnly.model()),
                      ("no linear part", try noLinearPart.model()), ("canonical", try CanonicalTests.canonicalModel(plain))]
        for (name, model) in models {
            let evaluator = Evaluator(model: model)
            for s in [rattledCrystal(species: [1, 8], repeats: 1), cluster(species: [1, 8])] {
                let r = try evaluator.evaluate(s)
                XCTAssertNotEqual(r.longRangeEnergy, 0, name)
                let h = 1e-5
                for i in [0, 1, s.count - 1] {
                    for c in 0..<3 {
                        var plus = s, minus = s
                        plus.positions[3 * i + c] += h
                        minus.positions[3 * i + c] -= h
                        let fd = -(try evaluator.evaluate(plus).energy - evaluator.evaluate(minus).energy) / (2 * h)
                        XCTAssertEqual(r.forces[3 * i + c], fd, accuracy: 1e-7 * max(1, abs(fd)), "\(name): atom \(i) dim \(c)")
                    }
                }
                guard s.cell != nil else { continue }
                let e = 1e-6   // isotropic strain: -dE/d(strain) is the virial's trace
                func scaled(_ f: Double) -> Structure {
                    var t = s
                    t.positions = s.positions.map { $0 * f }
                    t.cell = s.cell.map { $0.map { $0 * f } }
                    return t
                }
                let fd = -(try evaluator.evaluate(scaled(1 + e)).energy - evaluator.evaluate(scaled(1 - e)).energy) / (2 * e)
                XCTAssertEqual(r.virial[0] + r.virial[4] + r.virial[8], fd, accuracy: 1e-6 * max(1, abs(fd)), "\(name): virial")
            }
        }
    }
}
