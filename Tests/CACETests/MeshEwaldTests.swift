import Foundation
import XCTest
@testable import CACE
@testable import CACEFFTW
@testable import CACEStructures

/// Smooth particle-mesh Ewald (MeshEwaldTerm) against the direct sum of the same k-set
/// (EwaldTerm), its derivatives, pinning, the serial FFT and bad input. Term-level tests call the
/// two `LongRangeTerm`s with the same charges (water-like: O -0.8, H +0.4, with noise); model-level
/// tests run water_trained with `setLongRange`.
final class MeshEwaldTests: XCTestCase {
    // MARK: - Structures

    /// `s` repeated n x n x n, rattled by up to `rattle` A per coordinate.
    func supercell(_ s: Structure, _ n: Int, rattle: Double = 0, seed: UInt64 = 11) -> Structure {
        let cell = s.cell ?? []
        var rng = SyntheticModel.Generator(state: seed)
        var numbers: [Int] = [], positions: [Double] = []
        for i in 0..<n { for j in 0..<n { for k in 0..<n {
            for atom in 0..<s.count {
                numbers.append(s.atomicNumbers[atom])
                for c in 0..<3 {
                    positions.append(s.positions[3 * atom + c] + Double(i) * cell[c] + Double(j) * cell[3 + c]
                                     + Double(k) * cell[6 + c] + rng.next(rattle))
                }
            }
        } } }
        return Structure(atomicNumbers: numbers, positions: positions, cell: cell.map { Double(n) * $0 },
                         pbc: (true, true, true))
    }

    func charges(for s: Structure, seed: UInt64 = 5) -> [Double] {
        var rng = SyntheticModel.Generator(state: seed)
        return s.atomicNumbers.map { ($0 == 8 ? -0.8 : 0.4) + rng.next(0.05) }
    }

    // MARK: - Running one term

    struct TermRun {
        var energy = 0.0, virial: [Double] = [], forces: [Double] = [], chargeBar: [Double] = []
        var atomEnergies: [Double] = [], atomVirials: [Double] = []
    }

    func run(_ term: any LongRangeTerm, _ s: Structure, _ q: [Double], atomVirials: Bool = false) throws -> TermRun {
        let species = [Int32](repeating: 0, count: s.count)
        let domain = try ReplicatedDomain(structure: s, species: species, cutoff: 0.5)
        var out = TermRun()
        out.forces = [Double](repeating: 0, count: 3 * domain.totalCount)
        out.chargeBar = [Double](repeating: 0, count: s.count)
        out.atomEnergies = [Double](repeating: 0, count: s.count)
        out.atomVirials = [Double](repeating: 0, count: 6 * domain.totalCount)
        let cell = try XCTUnwrap(domain.cell)
        var chargeBar = out.chargeBar, forces = out.forces, energies = out.atomEnergies, virials = out.atomVirials
        let result = try chargeBar.withUnsafeMutableBufferPointer { bar in
            try forces.withUnsafeMutableBufferPointer { f in
                try energies.withUnsafeMutableBufferPointer { e in
                    try virials.withUnsafeMutableBufferPointer { v in
                        try domain.withAtomsView(boundary: .periodic(cell: cell)) { (atoms) throws(CACEError) -> LongRangeResult in
                            try term.evaluate(atoms: atoms, charges: q, chargeBar: bar.baseAddress!, forces: f.baseAddress!,
                                              atomEnergies: e.baseAddress, atomVirials: atomVirials ? v.baseAddress : nil,
                                              communicator: domain)
                        }
                    }
                }
            }
        }
        (out.chargeBar, out.forces, out.atomEnergies, out.atomVirials) = (chargeBar, forces, energies, virials)
        out.energy = result.energy
        out.virial = result.virial
        out.forces = Array(out.forces.prefix(3 * s.count))
        out.atomVirials = Array(out.atomVirials.prefix(6 * s.count))
        return out
    }

    func settings(_ model: CACEModel) throws -> EwaldSettings { try XCTUnwrap(model.ewald) }

    func direct(_ model: CACEModel, kSet: KSet? = nil, threads: Int = 1) throws -> EwaldTerm {
        EwaldTerm(settings: try settings(model), scale: try settings(model).normFactor * model.ewaldEnergyWeight,
                  threads: threads, kSet: kSet)
    }

    func mesh(_ model: CACEModel, plan: LongRangePlan, threads: Int = 1) throws -> MeshEwaldTerm {
        MeshEwaldTerm(settings: try settings(model), scale: try settings(model).normFactor * model.ewaldEnergyWeight,
                      plan: plan, transforms: SerialMeshTransforms(), scratch: MeshScratch(), threads: threads)
    }

    func meshPlan(_ model: CACEModel, _ s: Structure, accuracy: Double = LongRangePlan.defaultAccuracy) throws -> LongRangePlan {
        try LongRangePlan.choose(cell: try XCTUnwrap(s.cell), atomCount: s.count, settings: try settings(model),
                                 method: .mesh, accuracy: accuracy)
    }

    func rms(_ v: [Double]) -> Double { (v.reduce(0) { $0 + $1 * $1 } / Double(max(v.count, 1))).squareRoot() }
    func rmsDifference(_ a: [Double], _ b: [Double]) -> Double { rms(zip(a, b).map { $0 - $1 }) }

    /// Relative errors of the mesh against the direct sum: (forces RMS, energy, dE/dq RMS, virial max).
    func meshErrors(_ model: CACEModel, _ s: Structure, accuracy: Double = LongRangePlan.defaultAccuracy,
                    plan: LongRangePlan? = nil) throws -> (force: Double, energy: Double, charge: Double, virial: Double) {
        let q = charges(for: s)
        let reference = try run(try direct(model), s, q)
        let approximate = try run(try mesh(model, plan: try plan ?? meshPlan(model, s, accuracy: accuracy)), s, q)
        return (rmsDifference(approximate.forces, reference.forces) / rms(reference.forces),
                abs(approximate.energy - reference.energy) / abs(reference.energy),
                rmsDifference(approximate.chargeBar, reference.chargeBar) / rms(reference.chargeBar),
                relativeError(approximate.virial, reference.virial))
    }

    // MARK: - Mesh against the direct sum

    /// Every periodic reference frame with the long-range term, at the default accuracy (1e-7):
    /// the issue's targets, forces within 1e-5 and energy within 1e-8 (accuracy 1e-6 gave 4-6e-8
    /// in energy here; under auto these frames use the direct sum anyway).
    func testMeshMatchesDirectSumOnReferenceFrames() throws {
        let model = try waterModel()
        for name in ["liquid64_frame0", "liquid64_rattled", "liquid64_triclinic"] {
            let s = try waterFrame(name)
            let e = try meshErrors(model, s)
            print("mesh vs direct, \(name): forces \(e.force), energy \(e.energy), dE/dq \(e.charge), virial \(e.virial)")
            let tight = try meshErrors(model, s, accuracy: 1e-7)
            print("mesh vs direct at accuracy 1e-7, \(name): forces \(tight.force), energy \(tight.energy)")
            XCTAssertLessThanOrEqual(tight.energy, 1e-8, name)
            XCTAssertLessThanOrEqual(e.force, 1e-5, name)
            XCTAssertLessThanOrEqual(e.energy, 1e-8, name)
            XCTAssertLessThanOrEqual(e.charge, 1e-5, name)
            XCTAssertLessThanOrEqual(e.virial, 1e-5, name)
        }
    }

    /// Rattled and triclinic supercells of 1536 atoms.
    func testMeshMatchesDirectSumOnSupercells() throws {
        let model = try waterModel()
        let cases = [("frame0 2x2x2 rattled", supercell(try waterFrame("liquid64_frame0"), 2, rattle: 0.1)),
                     ("triclinic 2x2x2 rattled", supercell(try waterFrame("liquid64_triclinic"), 2, rattle: 0.1, seed: 3))]
        for (name, s) in cases {
            XCTAssertGreaterThanOrEqual(s.count, 1536)
            let e = try meshErrors(model, s)
            print("mesh vs direct, \(name) (\(s.count) atoms): forces \(e.force), energy \(e.energy), dE/dq \(e.charge), virial \(e.virial)")
            XCTAssertLessThanOrEqual(e.force, 1e-5, name)
            XCTAssertLessThanOrEqual(e.energy, 1e-8, name)
            XCTAssertLessThanOrEqual(e.charge, 1e-5, name)
            XCTAssertLessThanOrEqual(e.virial, 1e-5, name)
        }
    }

    /// The mesh converges to the direct sum as the requested accuracy tightens (the error is
    /// controlled by the setting, not fixed), and a loose setting really is looser.
    func testErrorFollowsTheRequestedAccuracy() throws {
        let model = try waterModel()
        let s = try waterFrame("liquid64_triclinic")
        var previous = Double.infinity
        for accuracy in [1e-3, 1e-5, 1e-7, 1e-9] {
            let e = try meshErrors(model, s, accuracy: accuracy)
            print("accuracy \(accuracy): force error \(e.force), energy \(e.energy)")
            XCTAssertLessThanOrEqual(e.force, accuracy, "accuracy \(accuracy)")
            XCTAssertLessThan(e.force, previous)
            previous = e.force
        }
    }

    /// The whole model: water_trained with the mesh against the direct sum, and single precision.
    func testWholeModelWithTheMesh() throws {
        let model = try waterModel()
        let s = try waterFrame("liquid64_rattled")
        let reference = Evaluator(model: model)
        try reference.setLongRange(.direct)
        let a = try reference.evaluate(s)
        let evaluator = Evaluator(model: model)
        try evaluator.setLongRange(.mesh)
        let b = try evaluator.evaluate(s)
        XCTAssertEqual(evaluator.lastLongRangePlan?.method, .mesh)
        XCTAssertEqual(reference.lastLongRangePlan?.method, .direct)
        let forceError = rmsDifference(b.forces, a.forces) / rms(a.forces)
        print("whole model, mesh vs direct: forces \(forceError) of RMS total, energy \(abs(b.energy - a.energy) / abs(a.longRangeEnergy)) of E_lr")
        XCTAssertLessThanOrEqual(forceError, 1e-7)
        XCTAssertEqual(b.energy, a.energy, accuracy: 1e-8 * abs(a.longRangeEnergy))
        XCTAssertLessThanOrEqual(relativeError(b.virial, a.virial), 1e-6)
        evaluator.precision = .single
        let c = try evaluator.evaluate(s)
        XCTAssertLessThanOrEqual(rmsDifference(c.forces, b.forces) / rms(b.forces), 1e-4, "single vs double")
        XCTAssertEqual(c.energy, b.energy, accuracy: 1e-4 * abs(b.energy))
    }

    /// The calibration table of docs/long-range.md: relative RMS force and energy errors against
    /// the direct sum for meshes of K_a = smooth(ratio (2 n_a + 1)) points and orders p, with the
    /// error model's estimate. Slow: runs only with CACE_MESH_TABLE=1 (skipped visibly otherwise).
    func testAccuracyTable() throws {
        guard ProcessInfo.processInfo.environment["CACE_MESH_TABLE"] == "1" else {
            throw XCTSkip("SKIPPED: the calibration table runs with CACE_MESH_TABLE=1")
        }
        let model = try waterModel()
        let cases = [("frame0", try waterFrame("liquid64_frame0")),
                     ("triclinic 2x2x2", supercell(try waterFrame("liquid64_triclinic"), 2, rattle: 0.1, seed: 3))]
        for (name, s) in cases {
            let cell = try XCTUnwrap(s.cell)
            let kSet = try KSet(cell: cell, settings: try settings(model))
            print("table \(name): \(s.count) atoms, n_max \(kSet.largest), \(kSet.count) k-vectors")
            print("| ratio | p | mesh | force error | energy error | dE/dq error | model estimate |")
            for ratio in [1.0, 1.25, 1.5, 2.0, 2.5, 3.0] {
                for p in [4, 5, 6, 7, 8, 10, 12] {
                    let meshSize = kSet.largest.map { MeshSize.smoothSize(max(Int((ratio * Double(2 * $0 + 1)).rounded(.up)), p)) }
                    let plan = LongRangePlan(method: .mesh, mesh: meshSize, order: p, accuracy: 0, atomCount: s.count,
                                             reason: "table", kSet: kSet)
                    let e = try meshErrors(model, s, plan: plan)
                    let q = (0..<3).map { Double(kSet.largest[$0]) / Double(meshSize[$0] - kSet.largest[$0]) }.max() ?? 1
                    print("| \(ratio) | \(p) | \(meshSize.map(String.init).joined(separator: "x")) | \(String(format: "%.2e", e.force)) | "
                          + "\(String(format: "%.2e", e.energy)) | \(String(format: "%.2e", e.charge)) | "
                          + "\(String(format: "%.2e", MeshSize.estimatedError(order: p, ratio: q))) |")
                }
            }
        }
    }

    // MARK: - Derivatives, shares, threads

    /// Forces and the strain virial of the mesh energy against central differences (plan fixed).
    func testForcesAndVirialAreDerivativesOfTheMeshEnergy() throws {
        let model = try waterModel()
        let s = try waterFrame("liquid64_triclinic")
        let q = charges(for: s)
        let plan = try meshPlan(model, s, accuracy: 1e-4)   // a coarse mesh: its own energy, not the direct sum's
        let term = try mesh(model, plan: plan)
        let base = try run(term, s, q)
        let h = 1e-5
        for atom in [0, 17, 100] {
            for c in 0..<3 {
                var plus = s, minus = s
                plus.positions[3 * atom + c] += h
                minus.positions[3 * atom + c] -= h
                let derivative = (try run(term, plus, q).energy - (try run(term, minus, q)).energy) / (2 * h)
                XCTAssertEqual(-derivative, base.forces[3 * atom + c], accuracy: 1e-6 * max(1, rms(base.forces)),
                               "atom \(atom) axis \(c)")
            }
        }
        // dE/dq_i: the energy is quadratic in q.
        for atom in [3, 50] {
            var plus = q, minus = q
            plus[atom] += 1e-4; minus[atom] -= 1e-4
            let derivative = (try run(term, s, plus).energy - (try run(term, s, minus)).energy) / 2e-4
            XCTAssertEqual(derivative, base.chargeBar[atom], accuracy: 1e-7 * max(1, abs(derivative)))
        }
        // W_ab = -dE/d(eps_ab) with positions and cell strained together (symmetric strain).
        let voigt = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
        for (component, (a, b)) in voigt.enumerated() {
            func strained(_ e: Double) -> Structure {
                var t = s
                func apply(_ v: inout [Double], _ offset: Int) {
                    let (x, y) = (v[offset + a], v[offset + b])
                    if a == b { v[offset + a] = x * (1 + e) } else { v[offset + a] = x + 0.5 * e * y; v[offset + b] = y + 0.5 * e * x }
                }
                for i in 0..<t.count { apply(&t.positions, 3 * i) }
                var cell = t.cell ?? []
                for r in 0..<3 { apply(&cell, 3 * r) }
                t.cell = cell
                return t
            }
            let e = 1e-6
            let derivative = (try run(term, strained(e), q).energy - (try run(term, strained(-e), q)).energy) / (2 * e)
            XCTAssertEqual(-derivative, base.virial[component], accuracy: 1e-6 * max(1, abs(base.energy)),
                           "virial \(component)")
        }
    }

    /// Per-atom energies and virials sum to the totals; threads give the serial answer.
    func testPerAtomSharesAndThreads() throws {
        let model = try waterModel()
        let s = supercell(try waterFrame("liquid64_triclinic"), 2, rattle: 0.05)
        let q = charges(for: s)
        let plan = try meshPlan(model, s)
        let serial = try run(try mesh(model, plan: plan), s, q, atomVirials: true)
        XCTAssertEqual(serial.atomEnergies.reduce(0, +), serial.energy, accuracy: 1e-10 * abs(serial.energy))
        for c in 0..<6 {
            let sum = stride(from: c, to: serial.atomVirials.count, by: 6).reduce(0) { $0 + serial.atomVirials[$1] }
            XCTAssertEqual(sum, serial.virial[c], accuracy: 1e-9 * max(1, abs(serial.energy)), "virial \(c)")
        }
        // Per-atom virials against the direct sum's.
        let reference = try run(try direct(model), s, q, atomVirials: true)
        XCTAssertLessThanOrEqual(rmsDifference(serial.atomVirials, reference.atomVirials) / rms(reference.atomVirials), 1e-4)
        for threads in [2, 4] {
            let threaded = try run(try mesh(model, plan: plan, threads: threads), s, q, atomVirials: true)
            XCTAssertEqual(threaded.energy, serial.energy, accuracy: 1e-12 * abs(serial.energy))
            XCTAssertLessThanOrEqual(relativeError(threaded.forces, serial.forces), 1e-12)
            XCTAssertLessThanOrEqual(relativeError(threaded.chargeBar, serial.chargeBar), 1e-12)
            XCTAssertLessThanOrEqual(relativeError(threaded.atomVirials, serial.atomVirials), 1e-12)
        }
    }

    /// The open-boundary pair sum, threaded over atoms, gives the serial answer (and `auto` uses it).
    func testOpenBoundaryPairSumThreads() throws {
        let model = try waterModel()
        var s = try waterFrame("liquid64_frame0")
        s.cell = nil
        s.pbc = (false, false, false)
        let serial = Evaluator(model: model)
        let a = try serial.evaluate(s, atomVirials: true)
        let threaded = Evaluator(model: model)
        threaded.threadCount = 2
        let b = try threaded.evaluate(s, atomVirials: true)
        XCTAssertNotEqual(a.result.longRangeEnergy, 0)
        XCTAssertEqual(b.result.energy, a.result.energy, accuracy: 1e-12 * abs(a.result.energy))
        XCTAssertLessThanOrEqual(relativeError(b.result.forces, a.result.forces), 1e-12)
        XCTAssertLessThanOrEqual(relativeError(b.atomVirials ?? [], a.atomVirials ?? []), 1e-12)
    }

    // MARK: - Pinning

    /// A scan of the box scale in small steps: with the k-set pinned both methods are smooth
    /// (no jumps) and the virial is the strain derivative; unpinned, the direct sum jumps where
    /// its k-set changes (upstream CACE issue #43).
    func testPinnedScanIsSmooth() throws {
        let model = try waterModel()
        let s0 = try waterFrame("liquid64_frame0")
        let q = charges(for: s0)
        func scaled(_ f: Double) -> Structure {
            var t = s0
            t.positions = t.positions.map { $0 * f }
            t.cell = t.cell?.map { $0 * f }
            return t
        }
        let cell0 = try XCTUnwrap(s0.cell)
        let pinnedSet = try KSet(cell: cell0, settings: try settings(model))
        let meshPlan = try self.meshPlan(model, s0)
        let scales = stride(from: 0.97, through: 1.03, by: 0.0005).map { $0 }
        var pinned: [Double] = [], pinnedMesh: [Double] = [], unpinned: [Double] = [], virials: [Double] = []
        for f in scales {
            let t = scaled(f)
            let p = try run(try direct(model, kSet: pinnedSet), t, q)
            pinned.append(p.energy)
            virials.append(p.virial[0] + p.virial[1] + p.virial[2])
            pinnedMesh.append(try run(try mesh(model, plan: meshPlan), t, q).energy)
            unpinned.append(try run(try direct(model), t, q).energy)
        }
        // Jumps: the largest deviation of a point from the average of its neighbours.
        func roughness(_ e: [Double]) -> Double {
            var largest = 0.0
            for i in 1..<(e.count - 1) {
                let middle: Double = 0.5 * (e[i - 1] + e[i + 1])
                largest = max(largest, abs(e[i] - middle))
            }
            return largest
        }
        let (rPinned, rMesh, rUnpinned) = (roughness(pinned), roughness(pinnedMesh), roughness(unpinned))
        print("box-scale scan 0.97...1.03 step 5e-4: largest second difference (eV): pinned direct \(rPinned), "
              + "pinned mesh \(rMesh), unpinned direct \(rUnpinned)")
        XCTAssertLessThan(rPinned, 1e-4)
        XCTAssertLessThan(rMesh, 1e-4)
        XCTAssertGreaterThan(rUnpinned, 100 * rPinned, "the unpinned k-set changes in this range")
        // Isotropic scale f: dE/df = -tr(W) / f (W = -dE/d eps).
        for index in stride(from: 1, to: scales.count - 1, by: 10) {
            let dEdf = (pinned[index + 1] - pinned[index - 1]) / (scales[index + 1] - scales[index - 1])
            XCTAssertEqual(-dEdf * scales[index], virials[index], accuracy: 1e-4 * max(1, abs(virials[index])),
                           "scale \(scales[index])")
        }
    }

    /// The evaluator's pinning API: a pinned plan keeps its k-set and mesh as the cell changes.
    func testEvaluatorPinning() throws {
        let model = try waterModel()
        let s = try waterFrame("liquid64_frame0")
        let evaluator = Evaluator(model: model)
        try evaluator.setLongRange(.mesh)
        let plan = try evaluator.pinLongRange(cell: try XCTUnwrap(s.cell), atomCount: s.count)
        XCTAssertEqual(plan.method, .mesh)
        var t = s
        t.positions = t.positions.map { $0 * 1.02 }
        t.cell = t.cell?.map { $0 * 1.02 }
        _ = try evaluator.evaluate(t)
        XCTAssertEqual(evaluator.lastLongRangePlan?.mesh, plan.mesh)
        XCTAssertEqual(evaluator.lastLongRangePlan?.kvectorCount, plan.kvectorCount)
        evaluator.unpinLongRange()
        _ = try evaluator.evaluate(t)
        XCTAssertNotEqual(evaluator.lastLongRangePlan?.kvectorCount, plan.kvectorCount)
        // auto: the reference frame stays direct, a 1536-atom box uses the mesh.
        try evaluator.setLongRange(.auto)
        _ = try evaluator.evaluate(s)
        XCTAssertEqual(evaluator.lastLongRangePlan?.method, .direct)
        let big = try evaluator.longRangePlan(cell: try XCTUnwrap(s.cell).map { 2 * $0 }, atomCount: 8 * s.count)
        XCTAssertEqual(big.method, .mesh, big.summary)
    }

    // MARK: - The serial FFT

    /// Forward and backward of the FFTW transform against a naive DFT on a tiny odd mesh, and the
    /// ghost folding and filling.
    func testSerialTransformAgainstNaiveDFT() throws {
        let mesh = [5, 4, 3]
        let transform = try SerialMeshTransforms().transform(mesh: mesh, order: 3)
        XCTAssertEqual(transform.brickLow, [-2, -2, -2])
        var rng = SyntheticModel.Generator(state: 9)
        let n = mesh.reduce(1, *)
        var brick = [Double](repeating: 0, count: transform.brickCount)
        func index(_ x: Int, _ y: Int, _ z: Int) -> Int { ((z + 2) * (mesh[1] + 2) + (y + 2)) * (mesh[0] + 2) + (x + 2) }
        var values = [Double](repeating: 0, count: n)
        for z in 0..<mesh[2] { for y in 0..<mesh[1] { for x in 0..<mesh[0] {
            let v = rng.next(); values[(z * mesh[1] + y) * mesh[0] + x] = v; brick[index(x, y, z)] = v
        } } }
        var spectrum = [Double](repeating: 0, count: 2 * n)
        transform.forward(brick, &spectrum)
        for m in 0..<n {
            let mx: Int = m % mesh[0], my: Int = (m / mesh[0]) % mesh[1], mz: Int = m / (mesh[0] * mesh[1])
            var re = 0.0, im = 0.0
            for g in 0..<n {
                let x: Int = g % mesh[0], y: Int = (g / mesh[0]) % mesh[1], z: Int = g / (mesh[0] * mesh[1])
                let phase: Double = Double(mx * x) / 5 + Double(my * y) / 4 + Double(mz * z) / 3
                let angle: Double = -2 * Double.pi * phase
                re += values[g] * cos(angle)
                im += values[g] * sin(angle)
            }
            XCTAssertEqual(spectrum[2 * m], re, accuracy: 1e-12); XCTAssertEqual(spectrum[2 * m + 1], im, accuracy: 1e-12)
        }
        // backward(forward(f)) = N f on owned points
        var back = [Double](repeating: 0, count: transform.brickCount)
        transform.backward(spectrum, &back)
        for z in 0..<mesh[2] { for y in 0..<mesh[1] { for x in 0..<mesh[0] {
            XCTAssertEqual(back[index(x, y, z)], Double(n) * brick[index(x, y, z)], accuracy: 1e-12)
        } } }
        // A ghost at (-1, -2, -1) folds into (4, 2, 2) and is filled back from it.
        var ghosts = [Double](repeating: 0, count: transform.brickCount)
        ghosts[index(-1, -2, -1)] = 2.5
        transform.sumGhosts(&ghosts)
        XCTAssertEqual(ghosts[index(4, 2, 2)], 2.5)
        transform.fillGhosts(&ghosts)
        XCTAssertEqual(ghosts[index(-1, -2, -1)], 2.5)
        XCTAssertEqual(ghosts[index(-1, 2, 2)], 2.5)
    }

    /// The B-splines: weights sum to 1, derivatives are their slopes.
    func testBSplines() {
        for p in 3...10 {
            var w = [Double](repeating: 0, count: p), d = w, work = w, w2 = w, d2 = w
            for fraction in [0.0, 0.3, 0.999] {
                BSplines.fill(order: p, fraction: fraction, weights: &w, derivatives: &d, work: &work)
                XCTAssertEqual(w.reduce(0, +), 1, accuracy: 1e-14)
                XCTAssertEqual(d.reduce(0, +), 0, accuracy: 1e-13)
                BSplines.fill(order: p, fraction: fraction + 1e-7, weights: &w2, derivatives: &d2, work: &work)
                for j in 0..<p { XCTAssertEqual((w2[j] - w[j]) / 1e-7, d[j], accuracy: 1e-6, "p \(p) j \(j)") }
            }
        }
    }

    // MARK: - Bad input

    func testBadInput() throws {
        let model = try waterModel()
        let evaluator = Evaluator(model: model)
        for accuracy in [0.0, 1e-13, 0.5, .nan] {
            XCTAssertThrowsError(try evaluator.setLongRange(.mesh, accuracy: accuracy)) {
                XCTAssertTrue("\($0)".contains("out of range"), "\($0)")
            }
        }
        // Mesh with open boundaries.
        try evaluator.setLongRange(.mesh)
        var open = try waterFrame("water_dimer")
        open.pbc = (false, false, false); open.cell = nil
        XCTAssertThrowsError(try evaluator.evaluate(open)) { XCTAssertTrue("\($0)".contains("periodic in all three"), "\($0)") }
        XCTAssertThrowsError(try evaluator.checkBoundary(periodic: (false, false, false)))
        try evaluator.setLongRange(.auto)
        XCTAssertNoThrow(try evaluator.evaluate(open))
        // A mesh too large for memory (a 1000 A box at accuracy 1e-12).
        XCTAssertThrowsError(try LongRangePlan.choose(cell: [600, 0, 0, 0, 600, 0, 0, 0, 600], atomCount: 1000,
                                                      settings: try settings(model), method: .mesh, accuracy: 1e-12)) {
            XCTAssertTrue("\($0)".contains("mesh of"), "\($0)")
        }
        // Long-range options on a model without a long-range term.
        let plain = Evaluator(model: try SyntheticModel().model())
        XCTAssertThrowsError(try plain.setLongRange(.mesh)) { XCTAssertTrue("\($0)".contains("no long-range term"), "\($0)") }
        XCTAssertThrowsError(try plain.setLongRange(.auto, accuracy: 1e-6)) { XCTAssertTrue("\($0)".contains("no long-range term"), "\($0)") }
        XCTAssertNoThrow(try plain.setLongRange(.direct))
        // An atom outside a host's brick: the clear geometry error.
        let s = try waterFrame("liquid64_frame0")
        let plan = try meshPlan(model, s)
        let narrow = NarrowBrick(SerialMeshTransforms())
        let term = MeshEwaldTerm(settings: try settings(model), scale: 1, plan: plan, transforms: narrow,
                                 scratch: MeshScratch())
        XCTAssertThrowsError(try run(term, s, charges(for: s))) {
            XCTAssertTrue("\($0)".contains("farther than the mesh's ghost layer"), "\($0)")
        }
    }

    /// A transform whose brick holds half the mesh along x (a host domain): atoms elsewhere do not fit.
    final class NarrowBrick: MeshTransformProvider {
        let serial: SerialMeshTransforms
        init(_ serial: SerialMeshTransforms) { self.serial = serial }
        func transform(mesh: [Int], order: Int) throws(CACEError) -> any MeshTransform {
            Narrow(try serial.transform(mesh: mesh, order: order))
        }
        final class Narrow: MeshTransform {
            let inner: any MeshTransform
            init(_ inner: any MeshTransform) { self.inner = inner }
            var mesh: [Int] { inner.mesh }
            var brickLow: [Int] { inner.brickLow }
            var brickHigh: [Int] { [inner.mesh[0] / 2, inner.brickHigh[1], inner.brickHigh[2]] }
            var spectrumLow: [Int] { inner.spectrumLow }
            var spectrumHigh: [Int] { inner.spectrumHigh }
            var origin: [Double] { inner.origin }
            func sumGhosts(_ brick: UnsafeMutablePointer<Double>) {}
            func fillGhosts(_ brick: UnsafeMutablePointer<Double>) {}
            func forward(_ brick: UnsafePointer<Double>, _ spectrum: UnsafeMutablePointer<Double>) {}
            func backward(_ spectrum: UnsafePointer<Double>, _ brick: UnsafeMutablePointer<Double>) {}
        }
    }
}
