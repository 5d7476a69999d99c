import CCACE
import Foundation
import XCTest
@testable import CACE
@testable import CACECAPI
@testable import CACEStructures

/// The descriptor API against the evaluator's own features, finite differences, and a linear
/// read-out evaluated both ways.
final class DescriptorTests: XCTestCase {
    static let models: [(String, SyntheticModel)] = {
        var plain = SyntheticModel()
        plain.zs = [1, 8]; plain.maxL = 3; plain.maxNu = 4
        var gaussian = SyntheticModel()
        gaussian.zs = [14]; gaussian.radial = "gaussian"; gaussian.cutoffFunction = "cosine"; gaussian.seed = 7
        var mp = SyntheticModel()
        mp.zs = [1, 8]; mp.layers = 1; mp.messageTypes = ["M", "Ar", "Bchi"]; mp.seed = 2
        return [("plain", plain), ("Gaussian", gaussian), ("message passing", mp)]
    }()

    /// The features the read-out sees, as the evaluator reports them to `featureObserver`.
    func observedFeatures(_ model: CACEModel, _ s: Structure) throws -> [Int: [Double]] {
        let evaluator = Evaluator(model: model)
        let lock = NSLock()
        var seen: [Int: [Double]] = [:]
        evaluator.featureObserver = { i, x in lock.lock(); seen[i] = Array(x); lock.unlock() }
        _ = try evaluator.evaluate(s)
        return seen
    }

    func testFeaturesAreWhatTheReadoutSees() throws {
        for (name, spec) in Self.models {
            let model = try spec.model()
            for s in [rattledCrystal(species: spec.zs, repeats: 1), cluster(species: spec.zs)] {
                let d = try Evaluator(model: model).descriptors(s, derivatives: false)
                let seen = try observedFeatures(model, s)
                XCTAssertEqual(d.atoms, Array(0..<s.count), name)
                let layers = model.layers.count + 1
                for (row, i) in d.atoms.enumerated() {
                    let readout = try XCTUnwrap(seen[i])
                    // layer 0 is every (T+1)-th entry of the stacked read-out input
                    let layerZero = stride(from: 0, to: readout.count, by: layers).map { readout[$0] }
                    XCTAssertLessThanOrEqual(relativeError(Array(d.features[(row * d.featureCount)..<((row + 1) * d.featureCount)]),
                                                           layerZero, floor: 1e-12), 1e-13, name)
                    if let stacked = d.stackedFeatures {
                        let w = d.stackedFeatureCount
                        XCTAssertLessThanOrEqual(relativeError(Array(stacked[(row * w)..<((row + 1) * w)]), readout), 1e-13, name)
                    }
                }
                XCTAssertEqual(d.stackedFeatures == nil, model.layers.isEmpty, name)
            }
        }
    }

    /// dB_i/dx_k assembled from the edge Jacobians against central differences of B_i.
    func testJacobiansMatchFiniteDifferences() throws {
        for (name, spec) in Self.models {
            let evaluator = Evaluator(model: try spec.model())
            for s in [rattledCrystal(species: spec.zs, repeats: 1), cluster(species: spec.zs)] {
                let d = try evaluator.descriptors(s, derivatives: true)
                let f0 = d.featureCount
                XCTAssertEqual(d.jacobians.count, d.edgeReceivers.count * f0 * 3)
                let h = 1e-5
                for k in [0, s.count - 1] {
                    for c in 0..<3 {
                        var plus = s, minus = s
                        plus.positions[3 * k + c] += h
                        minus.positions[3 * k + c] -= h
                        let fp = try evaluator.descriptors(plus, derivatives: false).features
                        let fm = try evaluator.descriptors(minus, derivatives: false).features
                        var assembled = [Double](repeating: 0, count: d.features.count)
                        for e in 0..<d.edgeReceivers.count {
                            let i = d.edgeReceivers[e], j = d.edgeSenders[e]
                            let sign = (i == k ? 1.0 : 0.0) - (j == k ? 1.0 : 0.0)   // r_e = x_i - x_j
                            guard sign != 0 else { continue }
                            for f in 0..<f0 { assembled[i * f0 + f] += sign * d.jacobians[(e * f0 + f) * 3 + c] }
                        }
                        let fd = zip(fp, fm).map { ($0 - $1) / (2 * h) }
                        XCTAssertLessThanOrEqual(relativeError(assembled, fd, floor: 1e-6), 1e-6, "\(name) atom \(k) dim \(c)")
                    }
                }
            }
        }
    }

    /// A read-out linear in the features (E_i = w . B_i + b) gives, through the descriptor API,
    /// the evaluator's energy and forces.
    func testLinearReadoutThroughDescriptorsMatchesEvaluator() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]; spec.hiddenWidths = []; spec.linearHead = false; spec.maxL = 3
        let model = try spec.model()
        let head = model.heads[0].network.layers[0]
        XCTAssertEqual(model.heads[0].network.layers.count, 1)
        for s in [rattledCrystal(species: spec.zs, repeats: 1), cluster(species: spec.zs)] {
            let expected = try Evaluator(model: model).evaluate(s)
            let d = try Evaluator(model: model).descriptors(s, derivatives: true)
            let f0 = d.featureCount
            var energy = 0.0
            for row in 0..<d.atoms.count {
                energy += (head.bias?[0] ?? 0)
                for f in 0..<f0 { energy += head.weight[f] * d.features[row * f0 + f] }
            }
            var forces = [Double](repeating: 0, count: 3 * s.count)
            for e in 0..<d.edgeReceivers.count {
                for c in 0..<3 {
                    var g = 0.0
                    for f in 0..<f0 { g += head.weight[f] * d.jacobians[(e * f0 + f) * 3 + c] }
                    forces[3 * d.edgeReceivers[e] + c] -= g
                    forces[3 * d.edgeSenders[e] + c] += g
                }
            }
            XCTAssertEqual(energy, expected.energy, accuracy: 1e-12 * max(1, abs(expected.energy)))
            XCTAssertLessThanOrEqual(relativeError(forces, expected.forces, floor: 1e-10), 1e-12)
        }
    }

    /// cace_compute_features on a hand-made neighbour list gives the Swift API's answer.
    func testCInterfaceFeatures() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]
        var err = [CChar](repeating: 0, count: 256)
        let model: OpaquePointer? = try loadThroughCInterface(spec)
        defer { caceModelFree(model) }
        let structure = Structure(atomicNumbers: [8, 1, 1], positions: [0, 0, 0, 0.96, 0, 0, -0.24, 0.93, 0.1],
                                  cell: nil, pbc: (false, false, false))
        let expected = try Evaluator(model: spec.model()).descriptors(structure, derivatives: true)
        var x = structure.positions
        var species: [Int32] = [1, 0, 0]
        var ilist: [Int32] = [0, 1, 2]
        var numneigh: [Int32] = [2, 2, 2]
        var neighbours: [[Int32]] = [[1, 2], [0, 2], [0, 1]].map { $0.map(Int32.init) }
        let pointers = neighbours.indices.map { i in neighbours[i].withUnsafeMutableBufferPointer { $0.baseAddress } }
        var firstneigh: [UnsafeMutablePointer<Int32>?] = pointers
        var system = cace_system()
        system.nlocal = 3; system.nall = 3; system.inum = 3; system.neighmask = -1; system.periodic = 0
        var out = cace_features()
        let status = x.withUnsafeBufferPointer { xp in
            species.withUnsafeBufferPointer { sp in
                ilist.withUnsafeBufferPointer { il in
                    numneigh.withUnsafeBufferPointer { nn in
                        firstneigh.withUnsafeBufferPointer { fn in
                            system.x = xp.baseAddress; system.species = sp.baseAddress; system.ilist = il.baseAddress
                            system.numneigh = nn.baseAddress; system.firstneigh = UnsafePointer(fn.baseAddress)
                            return caceComputeFeatures(model, &system, nil, 1, &out, &err, err.count)
                        }
                    }
                }
            }
        }
        XCTAssertEqual(status, 0, message(err))
        defer { caceFeaturesRelease(&out) }
        XCTAssertEqual(Int(out.feature_count), expected.featureCount)
        XCTAssertEqual(Int(out.atom_count), 3)
        XCTAssertEqual(Int(out.edge_count), expected.edgeReceivers.count)
        let features = Array(UnsafeBufferPointer(start: out.features, count: 3 * expected.featureCount))
        XCTAssertEqual(features, expected.features)
        let jacobians = Array(UnsafeBufferPointer(start: out.jacobian, count: expected.jacobians.count))
        XCTAssertEqual(jacobians, expected.jacobians)
        XCTAssertNil(out.stacked_features)
        // Bad input: a NULL system is an error with a message, not a trap. A fresh struct: the
        // call clears `out`, and `out` still holds the arrays released by the defer above (reusing
        // it leaked them, found by LeakSanitizer in scripts/sanitize.sh).
        var failed = cace_features()
        XCTAssertEqual(caceComputeFeatures(model, nil, nil, 0, &failed, &err, err.count), Int32(CACE_ERR_ARGUMENT.rawValue))
        XCTAssertNil(failed.internal)
        XCTAssertTrue(message(err).contains("system is NULL"))
        _ = neighbours
    }

    func testBoundaryCheckThroughCInterface() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]; spec.ewald = true
        var err = [CChar](repeating: 0, count: 256)
        let model: OpaquePointer? = try loadThroughCInterface(spec)
        defer { caceModelFree(model) }
        XCTAssertEqual(caceModelCheckBoundary(model, 1, 1, 1, &err, err.count), 0)
        XCTAssertEqual(caceModelCheckBoundary(model, 0, 0, 0, &err, err.count), 0)
        XCTAssertEqual(caceModelCheckBoundary(model, 1, 1, 0, &err, err.count), Int32(CACE_ERR_ARGUMENT.rawValue))
        XCTAssertTrue(message(err).contains("mixed boundaries are not supported"))
    }
}
