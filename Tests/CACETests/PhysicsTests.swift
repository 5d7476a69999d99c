import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures

/// Checks that hold for any model: forces and virial are derivatives of the energy, and
/// the energy is invariant under rotation, translation and permutation. They use synthetic
/// models covering every option, so they run without the shared reference data.
final class PhysicsTests: XCTestCase {
    static let variants: [(String, SyntheticModel)] = {
        var plain = SyntheticModel()
        plain.zs = [14]
        var mp = SyntheticModel()
        mp.zs = [1, 8]; mp.layers = 1; mp.messageTypes = ["M", "Ar", "Bchi"]; mp.maxL = 3; mp.maxNu = 4
        mp.radial = "gaussian"; mp.cutoffFunction = "cosine"; mp.embedReceiver = true; mp.seed = 2
        var deep = SyntheticModel()
        deep.zs = [13, 28, 29]; deep.layers = 2; deep.messageTypes = ["Bchi", "Ar"]; deep.bchiSharedL = false
        deep.bchiSharedChannels = false; deep.radial = "exponential_decay"; deep.cutoffFunction = "mollifier"
        deep.directed = false; deep.headBias = false; deep.cutoff = 4.5; deep.seed = 3
        var longRange = SyntheticModel()
        longRange.zs = [1, 8]; longRange.ewald = true; longRange.maxL = 3; longRange.seed = 4
        var high = SyntheticModel()
        high.zs = [6, 14]; high.maxL = 4; high.maxNu = 4; high.layers = 1; high.messageTypes = ["Ar"]
        high.radialFunctions = 3; high.radialBasis = 2; high.seed = 6
        var gaussian = SyntheticModel()   // no message passing: the edge-batch fallback bases
        gaussian.zs = [1, 8]; gaussian.radial = "gaussian"; gaussian.cutoffFunction = "cosine"; gaussian.seed = 7
        var decay = SyntheticModel()
        decay.zs = [14]; decay.radial = "exponential_decay"; decay.cutoffFunction = "mollifier"; decay.maxL = 4
        decay.seed = 8
        var longRangeMP = longRange
        longRangeMP.layers = 1; longRangeMP.messageTypes = ["M", "Ar", "Bchi"]; longRangeMP.seed = 5
        return [("plain", plain), ("Gaussian, no message passing", gaussian), ("exponential decay, L 4", decay),
                ("message passing", mp), ("two non-shared layers", deep), ("max_l 4, max_nu 4", high),
                ("Ewald", longRange), ("Ewald + message passing", longRangeMP)]
    }()

    func structures(for model: SyntheticModel) -> [Structure] {
        [rattledCrystal(species: model.zs, repeats: 1), cluster(species: model.zs)]
    }

    func energy(_ evaluator: Evaluator, _ s: Structure) throws -> Double { try evaluator.evaluate(s).energy }

    func testForcesAreMinusEnergyGradient() throws {
        for (name, spec) in Self.variants {
            let evaluator = Evaluator(model: try spec.model())
            for s in structures(for: spec) {
                let r = try evaluator.evaluate(s)
                let h = 1e-5
                for i in [0, 1, s.count - 1] {
                    for c in 0..<3 {
                        var plus = s, minus = s
                        plus.positions[3 * i + c] += h
                        minus.positions[3 * i + c] -= h
                        let fd = -(try energy(evaluator, plus) - energy(evaluator, minus)) / (2 * h)
                        XCTAssertEqual(r.forces[3 * i + c], fd, accuracy: 1e-7 * max(1, abs(fd)), "\(name) atom \(i) dim \(c)")
                    }
                }
            }
        }
    }

    func testVirialIsMinusStrainDerivative() throws {
        for (name, spec) in Self.variants {
            let evaluator = Evaluator(model: try spec.model())
            for s in structures(for: spec) {
                let r = try evaluator.evaluate(s)
                let h = 1e-6
                for (a, b) in [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)] {
                    func strained(_ e: Double) -> Structure {
                        var t = s
                        // x -> x (I + eps) with a symmetric eps, for positions and cell rows.
                        var eps = [Double](repeating: 0, count: 9)
                        eps[3 * a + b] += a == b ? e : e / 2
                        eps[3 * b + a] += a == b ? 0 : e / 2
                        func apply(_ v: [Double]) -> [Double] {
                            var out = v
                            for i in stride(from: 0, to: v.count, by: 3) {
                                for c in 0..<3 {
                                    let shift: Double = v[i] * eps[c] + v[i + 1] * eps[3 + c] + v[i + 2] * eps[6 + c]
                                    out[i + c] = v[i + c] + shift
                                }
                            }
                            return out
                        }
                        t.positions = apply(t.positions)
                        t.cell = t.cell.map(apply)
                        return t
                    }
                    let fd = -(try energy(evaluator, strained(h)) - energy(evaluator, strained(-h))) / (2 * h)
                    XCTAssertEqual(r.virial[3 * a + b], fd, accuracy: 1e-6 * max(1, abs(fd)), "\(name) virial \(a)\(b)")
                    XCTAssertEqual(r.virial[3 * a + b], r.virial[3 * b + a], accuracy: 1e-10, "\(name) symmetric")
                }
            }
        }
    }

    func testInvariancesAndConservation() throws {
        // A proper rotation (about a skew axis).
        let (c, s) = (cos(0.7), sin(0.7))
        let axis = [1.0, 2.0, -0.5].map { $0 / 5.25.squareRoot() }
        var rot = [Double](repeating: 0, count: 9)
        for i in 0..<3 { for j in 0..<3 {
            var v = (i == j ? c : 0) + (1 - c) * axis[i] * axis[j]
            let k = 3 - i - j
            if i != j { v += (((i + 1) % 3 == j) ? -1.0 : 1.0) * s * axis[k] }
            rot[3 * i + j] = v
        } }
        func rotate(_ v: [Double]) -> [Double] {
            stride(from: 0, to: v.count, by: 3).flatMap { i in (0..<3).map { a in (0..<3).reduce(0) { $0 + rot[3 * a + $1] * v[i + $1] } } }
        }
        for (name, spec) in Self.variants {
            let evaluator = Evaluator(model: try spec.model())
            for st in structures(for: spec) {
                let r = try evaluator.evaluate(st)
                // Forces sum to zero; per-atom energies sum to the energy.
                for d in 0..<3 {
                    let total = stride(from: d, to: r.forces.count, by: 3).reduce(0.0) { $0 + r.forces[$1] }
                    XCTAssertEqual(total, 0, accuracy: 1e-10, "\(name) sum of forces")
                }
                XCTAssertEqual(r.atomEnergies.reduce(0, +), r.energy, accuracy: 1e-10 * max(1, abs(r.energy)), name)
                // Rotation: same energy, rotated forces.
                var turned = st
                turned.positions = rotate(st.positions)
                turned.cell = st.cell.map(rotate)
                let rr = try evaluator.evaluate(turned)
                XCTAssertEqual(rr.energy, r.energy, accuracy: 1e-10 * max(1, abs(r.energy)), "\(name) rotation")
                XCTAssertLessThanOrEqual(relativeError(rr.forces, rotate(r.forces), floor: 1), 1e-10, "\(name) rotated forces")
                // Translation.
                var moved = st
                moved.positions = st.positions.enumerated().map { $0.element + [0.37, -1.21, 2.9][$0.offset % 3] }
                XCTAssertEqual(try evaluator.evaluate(moved).energy, r.energy, accuracy: 1e-10 * max(1, abs(r.energy)), "\(name) translation")
                // Permutation: reverse the atom order.
                var permuted = st
                let n = st.count
                permuted.atomicNumbers = st.atomicNumbers.reversed()
                permuted.positions = (0..<n).reversed().flatMap { Array(st.positions[(3 * $0)..<(3 * $0 + 3)]) }
                let rp = try evaluator.evaluate(permuted)
                XCTAssertEqual(rp.energy, r.energy, accuracy: 1e-10 * max(1, abs(r.energy)), "\(name) permutation")
                XCTAssertEqual(rp.forces[0], r.forces[3 * (n - 1)], accuracy: 1e-10 * max(1, abs(r.forces[3 * (n - 1)])), name)
            }
        }
    }

    func testThreadsGiveTheSerialAnswer() throws {
        for (name, spec) in Self.variants {
            let serial = Evaluator(model: try spec.model())
            let threaded = Evaluator(model: try spec.model())
            threaded.threadCount = 3
            let s = rattledCrystal(species: spec.zs, repeats: 2)
            let a = try serial.evaluate(s), b = try threaded.evaluate(s)
            XCTAssertEqual(a.energy, b.energy, accuracy: 1e-12 * max(1, abs(a.energy)), name)
            XCTAssertLessThanOrEqual(relativeError(b.forces, a.forces), 1e-12, name)
            XCTAssertLessThanOrEqual(relativeError(b.virial, a.virial), 1e-12, name)
            XCTAssertEqual(a.atomEnergies, b.atomEnergies, name)
        }
    }

    func testIsolatedAtomHasNoForceAndEnergyOfZeroFeatures() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]
        spec.headBias = false
        let evaluator = Evaluator(model: try spec.model())
        let atom = Structure(atomicNumbers: [8], positions: [0, 0, 0], cell: nil, pbc: (false, false, false))
        let r = try evaluator.evaluate(atom)
        XCTAssertEqual(r.energy, 0)          // no bias: the read-out of zero features is zero
        XCTAssertEqual(r.forces, [0, 0, 0])
    }

    func testAtomicEnergiesAreAddedWhenAsked() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]
        spec.atomicEnergies = [1: -13.6, 8: -432.1]
        let evaluator = Evaluator(model: try spec.model())
        let s = cluster(species: [1, 8], count: 4)
        let without = try evaluator.evaluate(s).energy
        evaluator.includeAtomicEnergies = true
        let with = try evaluator.evaluate(s)
        XCTAssertEqual(with.energy - without, 2 * -13.6 + 2 * -432.1, accuracy: 1e-9)
        XCTAssertEqual(with.atomEnergies.reduce(0, +), with.energy, accuracy: 1e-9)
    }
}
