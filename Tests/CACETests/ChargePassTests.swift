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
    func waterModel() throws -> CACEModel {
        let root = try requireReference()
        return try CACEModel(contentsOf: root.appendingPathComponent("water_trained/model.safetensors").path)
    }

    func waterFrame(_ name: String) throws -> Structure {
        let root = try requireReference()
        return try ExtendedXYZ.read(contentsOf: root.appendingPathComponent("water_trained/\(name).xyz").path)[0]
    }

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
}
