import Foundation
import XCTest
@testable import CACE
@testable import CACEFit
@testable import CACEStructures

/// The canonical basis (model-format §9, `symmetrizer.self_interaction: false`): features against
/// a brute-force sum over pairwise distinct edge tuples written here independently of the
/// Möbius formulas, the dimer, invariances, forces and virials, and the version rules.
final class CanonicalTests: XCTestCase {
    /// The bytes of `spec`'s file with format_version 2 and `symmetrizer.self_interaction` set,
    /// plus any other metadata edit.
    static func canonicalBytes(_ spec: SyntheticModel, version: Int = 2, selfInteraction: Bool = false,
                               edit: (inout [String: Any]) -> Void = { _ in }) throws -> [UInt8] {
        let bytes = spec.fileBytes()
        let headerLength = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
        var outer = try XCTUnwrap(header["__metadata__"] as? [String: Any])
        var meta = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try XCTUnwrap(outer["cace"] as? String).utf8)) as? [String: Any])
        meta["format_version"] = version
        var sym = try XCTUnwrap(meta["symmetrizer"] as? [String: Any])
        sym["self_interaction"] = selfInteraction
        meta["symmetrizer"] = sym
        edit(&meta)
        outer["cace"] = String(decoding: try JSONSerialization.data(withJSONObject: meta), as: UTF8.self)
        header["__metadata__"] = outer
        let headerBytes = Array(try JSONSerialization.data(withJSONObject: header))
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        return out + headerBytes + Array(bytes[(8 + headerLength)...])
    }

    static func canonicalModel(_ spec: SyntheticModel) throws -> CACEModel {
        try CACEModel(container: SafeTensors(bytes: canonicalBytes(spec), name: "canonical"), name: "canonical")
    }

    /// Two elements, L = 3, nu <= 4 (every group kind of upstream's table).
    static var spec: SyntheticModel {
        var s = SyntheticModel()
        s.zs = [1, 8]; s.maxL = 3; s.maxNu = 4; s.radialFunctions = 4; s.radialBasis = 3; s.embedReceiver = true; s.seed = 11
        return s
    }

    /// The canonical features of every atom, by brute force: for each invariant, each term
    /// p A_k1..A_kν and each ordered tuple of pairwise distinct edges into the atom,
    /// p Π_t φ_{e_t}[m, k_t, c], with φ_e[m,k,c] = Σ_n ρ_e[n] W[l(k)][n][m][c] Y_e[k] χ_e[c].
    func bruteForce(_ model: CACEModel, _ d: Descriptors, species: [Int]) -> [[Double]] {
        let nr = model.radialFunctionCount, nm = model.radialBasisCount, cs = model.channelCount
        let nk = model.angularCount, nq = model.invariantCount, nz = model.elementCount
        let sym = model.symmetrizer
        return d.atoms.map { i in
            // phi[e][m][k][c] of the edges into i
            var phi: [[Double]] = []
            for e in d.edgeReceivers.indices where d.edgeReceivers[e] == i {
                let r = Array(d.edgeVectors[(3 * e)..<(3 * e + 3)])
                let dist = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).squareRoot()
                let u = r.map { $0 / (dist + 1e-9) }
                let (f, df) = model.cutoffFunction.evaluate(dist)
                var rho = [Double](repeating: 0, count: nr), rhoDerivative = [Double](repeating: 0, count: nr)
                model.radialBasis.evaluate(dist, cutoff: f, cutoffDerivative: df, rho: &rho, rhoDerivative: &rhoDerivative, stride: 1)
                let zs = species[d.edgeSenders[e]], zr = species[i]
                var row = [Double](repeating: 0, count: nm * nk * cs)
                for m in 0..<nm { for k in 0..<nk { for c in 0..<cs {
                    let (a, b, cc) = model.angular.exponents[k]
                    let y = pow(u[0], Double(a)) * pow(u[1], Double(b)) * pow(u[2], Double(cc))
                    var radial = 0.0
                    for n in 0..<nr { radial += rho[n] * model.radialTransform[((model.angular.degree[k] * nr + n) * nm + m) * cs + c] }
                    row[(m * nk + k) * cs + c] = radial * y * model.edgeChannels[(zs * nz + zr) * cs + c]
                } } }
                phi.append(row)
            }
            var features = [Double](repeating: 0, count: nm * nq * cs)
            func tuples(_ length: Int, _ prefix: [Int] = []) -> [[Int]] {
                guard prefix.count < length else { return [prefix] }
                return phi.indices.filter { !prefix.contains($0) }.flatMap { tuples(length, prefix + [$0]) }
            }
            var tuplesOfLength: [Int: [[Int]]] = [:]
            for q in 0..<nq {
                for t in sym.termStart[q]..<sym.termStart[q + 1] {
                    let (k0, k1, k2, k3) = sym.factors[t]
                    let ks = Array([k0, k1, k2, k3].prefix(sym.order[t]))
                    if tuplesOfLength[ks.count] == nil { tuplesOfLength[ks.count] = tuples(ks.count) }
                    for tuple in tuplesOfLength[ks.count]! {
                        for m in 0..<nm { for c in 0..<cs {
                            var product = sym.prefactor[t]
                            for (position, e) in tuple.enumerated() { product *= phi[e][(m * nk + ks[position]) * cs + c] }
                            features[(m * nq + q) * cs + c] += product
                        } }
                    }
                }
            }
            return features
        }
    }

    func species(_ model: CACEModel, _ s: Structure) -> [Int] { s.atomicNumbers.map { model.elementIndex(atomicNumber: $0)! } }

    /// Small environments (at most 5 edges per atom), nu = 2, 3 and 4, periodic images included.
    func testFeaturesMatchBruteForceOverDistinctEdges() throws {
        let model = try Self.canonicalModel(Self.spec)
        XCTAssertFalse(model.selfInteraction)
        XCTAssertEqual(model.formatVersion, 2)
        let selfInteracting = try Self.spec.model()
        var open = cluster(species: [1, 8], count: 5, seed: 5)
        open.positions = open.positions.map { $0 * 0.8 }
        var periodic = Structure(atomicNumbers: [8, 1, 1], positions: [0, 0, 0, 0.96, 0.1, 0, -0.2, 0.93, 0.1],
                                 cell: [4.5, 0, 0, 0.3, 4.7, 0, 0, 0.2, 6.0], pbc: (true, true, true))
        periodic.positions[8] += 0.3
        for s in [open, periodic] {
            let d = try Evaluator(model: model).descriptors(s, derivatives: true)
            let reference = bruteForce(model, d, species: species(model, s))
            let plain = try Evaluator(model: selfInteracting).descriptors(s, derivatives: false)
            let maxEdges = d.atoms.map { i in d.edgeReceivers.filter { $0 == i }.count }.max() ?? 0
            XCTAssertGreaterThanOrEqual(maxEdges, 4, "the environments must reach nu = 4")
            XCTAssertLessThanOrEqual(maxEdges, 6)
            for (row, expected) in reference.enumerated() {
                let got = Array(d.features[(row * d.featureCount)..<((row + 1) * d.featureCount)])
                // absolute tolerance on the scale of the self-interacting features (cancellation, P2)
                let scale = plain.features.map(abs).max()!
                for f in got.indices {
                    XCTAssertEqual(got[f], expected[f], accuracy: 1e-12 * scale, "feature \(f) of atom \(d.atoms[row])")
                }
            }
            // The canonical features differ from the self-interacting ones beyond nu = 1.
            XCTAssertGreaterThan(relativeError(d.features, plain.features), 1e-3)
        }
    }

    /// The closed forms on `cace fit`'s extended table (l = 0 groups, pair-sum transform), and the
    /// generic Möbius path on a table entry that is no longer a whole group (one prefactor changed).
    func testClosedFormsAndGenericPathMatchBruteForce() throws {
        var spec = LinearCACESpec(atomicNumbers: [1, 8], cutoff: 4, maxL: 2, maxNu: 3, radialCount: 3, table: .extended)
        spec.selfInteraction = false
        var rng = SyntheticModel.Generator(state: 9)
        let weights = (0..<spec.featureCount).map { _ in rng.next() }
        let bytes = try spec.modelFile(weights: weights, bias: 0, atomicEnergies: [:], averageNeighbors: nil, source: "test",
                                       fitInfo: .null).bytes()
        let fitted = try CACEModel(container: SafeTensors(bytes: bytes, name: "fit"), name: "fit")
        let table = CanonicalTable(symmetrizer: fitted.symmetrizer, angular: fitted.angular)
        XCTAssertEqual(table.closedForms.count, fitted.invariantCount - 1, "every nu >= 2 group of the extended table")
        XCTAssertTrue(table.corrections.isEmpty)
        var perturbed = Self.spec
        perturbed.maxNu = 3
        let generic = try CACEModel(container: SafeTensors(bytes: try Self.canonicalBytes(perturbed) { meta in
            var sym = meta["symmetrizer"] as! [String: Any]
            var entries = sym["table"] as! [[[Any]]]
            var term = entries[4][0]
            term[1] = (term[1] as! NSNumber).doubleValue * 1.5
            entries[4][0] = term
            sym["table"] = entries
            meta["symmetrizer"] = sym
        }, name: "perturbed"), name: "perturbed")
        let genericTable = CanonicalTable(symmetrizer: generic.symmetrizer, angular: generic.angular)
        XCTAssertFalse(genericTable.corrections.isEmpty)
        XCTAssertFalse(genericTable.closedForms.contains { $0.feature == 4 })
        var open = cluster(species: [1, 8], count: 5, seed: 5)
        open.positions = open.positions.map { $0 * 0.8 }
        for model in [fitted, generic] {
            let d = try Evaluator(model: model).descriptors(open, derivatives: true)
            let reference = bruteForce(model, d, species: species(model, open))
            let scale = reference.flatMap { $0 }.map(abs).max()!
            for (row, expected) in reference.enumerated() {
                for f in expected.indices {
                    XCTAssertEqual(d.features[row * d.featureCount + f], expected[f], accuracy: 1e-11 * scale)
                }
            }
        }
    }

    /// A dimer: one edge per atom, so every canonical feature with nu >= 2 vanishes and nu = 1
    /// is unchanged.
    func testDimerHasOnlyTwoBodyFeatures() throws {
        let model = try Self.canonicalModel(Self.spec)
        let plainModel = try Self.spec.model()
        let dimer = Structure(atomicNumbers: [1, 8], positions: [0, 0, 0, 0.7, 0.5, -0.3], cell: nil, pbc: (false, false, false))
        let d = try Evaluator(model: model).descriptors(dimer, derivatives: true)
        let plain = try Evaluator(model: plainModel).descriptors(dimer, derivatives: false)
        let (nq, cs) = (model.invariantCount, model.channelCount)
        let scale = plain.features.map(abs).max()!
        var nonZeroTwoBody = 0
        for f in 0..<d.features.count {
            let q = (f % d.featureCount) / cs % nq
            if model.symmetrizer.order[model.symmetrizer.termStart[q]] == 1 {
                XCTAssertEqual(d.features[f], plain.features[f], accuracy: 1e-14 * scale)
                if abs(d.features[f]) > 1e-6 * scale { nonZeroTwoBody += 1 }
            } else {
                XCTAssertEqual(d.features[f], 0, accuracy: 1e-14 * scale, "feature \(f % d.featureCount)")
                XCTAssertGreaterThan(abs(plain.features[f]) + 1e-300, 0)
            }
        }
        XCTAssertGreaterThan(nonZeroTwoBody, 0)
        // Their derivatives vanish too.
        for e in d.edgeReceivers.indices {
            for f in 0..<d.featureCount where model.symmetrizer.order[model.symmetrizer.termStart[f / cs % nq]] > 1 {
                for c in 0..<3 { XCTAssertEqual(d.jacobians[(e * d.featureCount + f) * 3 + c], 0, accuracy: 1e-13 * scale) }
            }
        }
    }

    /// Canonical models with a non-linear read-out: forces and virials against central differences,
    /// rotation, inversion, translation and permutation invariance, threads.
    func testForcesVirialsAndInvariances() throws {
        var single = Self.spec
        single.zs = [14]; single.maxL = 2; single.maxNu = 3; single.seed = 3
        var gaussian = Self.spec
        gaussian.radial = "gaussian"; gaussian.cutoffFunction = "cosine"; gaussian.directed = false; gaussian.seed = 5
        for spec in [Self.spec, single, gaussian] {
            let evaluator = Evaluator(model: try Self.canonicalModel(spec))
            for s in [rattledCrystal(species: spec.zs, repeats: 1), cluster(species: spec.zs)] {
                let r = try evaluator.evaluate(s)
                let h = 1e-5
                for i in [0, 1, s.count - 1] {
                    for c in 0..<3 {
                        var plus = s, minus = s
                        plus.positions[3 * i + c] += h
                        minus.positions[3 * i + c] -= h
                        let fd = -(try evaluator.evaluate(plus).energy - evaluator.evaluate(minus).energy) / (2 * h)
                        XCTAssertEqual(r.forces[3 * i + c], fd, accuracy: 1e-7 * max(1, abs(fd)), "atom \(i) dim \(c)")
                    }
                }
                if s.cell != nil {
                    for (a, b) in [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)] {
                        func strained(_ e: Double) -> Structure {
                            var eps = [Double](repeating: 0, count: 9)
                            eps[3 * a + b] += a == b ? e : e / 2
                            eps[3 * b + a] += a == b ? 0 : e / 2
                            func apply(_ v: [Double]) -> [Double] {
                                var out = v
                                for i in stride(from: 0, to: v.count, by: 3) {
                                    for c in 0..<3 { out[i + c] = v[i + c] + v[i] * eps[c] + v[i + 1] * eps[3 + c] + v[i + 2] * eps[6 + c] }
                                }
                                return out
                            }
                            var t = s
                            t.positions = apply(t.positions)
                            t.cell = t.cell.map(apply)
                            return t
                        }
                        let e = 1e-6
                        let fd = -(try evaluator.evaluate(strained(e)).energy - evaluator.evaluate(strained(-e)).energy) / (2 * e)
                        XCTAssertEqual(r.virial[3 * a + b], fd, accuracy: 1e-6 * max(1, abs(fd)), "virial \(a)\(b)")
                    }
                }
                // Rotation with inversion (an improper rotation), translation, permutation.
                let (c, sn) = (cos(0.9), sin(0.9))
                let rot = [c, -sn, 0, sn, c, 0, 0, 0, 1].map { -$0 }
                func turn(_ v: [Double]) -> [Double] {
                    stride(from: 0, to: v.count, by: 3).flatMap { i in (0..<3).map { a in (0..<3).reduce(0) { $0 + rot[3 * a + $1] * v[i + $1] } } }
                }
                var turned = s
                turned.positions = turn(s.positions)
                turned.cell = s.cell.map(turn)
                let rt = try evaluator.evaluate(turned)
                XCTAssertEqual(rt.energy, r.energy, accuracy: 1e-10 * max(1, abs(r.energy)))
                XCTAssertLessThanOrEqual(relativeError(rt.forces, turn(r.forces), floor: 1), 1e-10)
                var permuted = s
                permuted.atomicNumbers = s.atomicNumbers.reversed()
                permuted.positions = (0..<s.count).reversed().flatMap { Array(s.positions[(3 * $0)..<(3 * $0 + 3)]) }
                let rp = try evaluator.evaluate(permuted)
                XCTAssertEqual(rp.energy, r.energy, accuracy: 1e-10 * max(1, abs(r.energy)))
                XCTAssertEqual(rp.forces[0], r.forces[3 * (s.count - 1)], accuracy: 1e-10 * max(1, abs(r.forces[0])))
                for d in 0..<3 {
                    XCTAssertEqual(stride(from: d, to: r.forces.count, by: 3).reduce(0.0) { $0 + r.forces[$1] }, 0, accuracy: 1e-10)
                }
                let threaded = Evaluator(model: evaluator.model)
                threaded.threadCount = 2
                var big = rattledCrystal(species: spec.zs, repeats: 2)
                big.positions = big.positions.map { $0 * 0.9 }
                XCTAssertLessThanOrEqual(relativeError(try threaded.evaluate(big).forces, try evaluator.evaluate(big).forces, floor: 1), 1e-12)
            }
        }
    }

    /// The single-precision path runs the same corrections in Float.
    func testSinglePrecisionIsCloseToDouble() throws {
        let model = try Self.canonicalModel(Self.spec)
        let s = rattledCrystal(species: [1, 8], repeats: 1)
        let double = try Evaluator(model: model).evaluate(s)
        let evaluator = Evaluator(model: model)
        evaluator.precision = .single
        let single = try evaluator.evaluate(s)
        XCTAssertEqual(single.energy, double.energy, accuracy: 1e-4 * max(1, abs(double.energy)))
        XCTAssertLessThanOrEqual(relativeError(single.forces, double.forces, floor: 1), 1e-3)
    }

    /// `cace benchmark`'s operation count includes the canonical corrections: per edge work
    /// (linear in the edges per atom) plus the generic path's per-atom corrections, and nothing
    /// for the self-interacting model.
    func testOperationCountIncludesTheCorrections() throws {
        let canonical = try Self.canonicalModel(Self.spec)
        let selfInteracting = try CACEModel(container: SafeTensors(bytes: Self.spec.fileBytes(), name: "self"), name: "self")
        XCTAssertEqual(selfInteracting.canonicalOperationsPerAtom(edgesPerAtom: 40), 0)
        let (c20, c40, c80) = (canonical.canonicalOperationsPerAtom(edgesPerAtom: 20), canonical.canonicalOperationsPerAtom(edgesPerAtom: 40),
                               canonical.canonicalOperationsPerAtom(edgesPerAtom: 80))
        XCTAssertGreaterThan(c20, 0)
        XCTAssertEqual(c80 - c40, 2 * (c40 - c20), accuracy: 1e-9 * c80)   // affine in the edges
        XCTAssertGreaterThan(c20, c40 - c20)                                   // nu = 4 uses the generic path: per-atom work
        XCTAssertEqual(canonical.operationsPerAtom(edgesPerAtom: 40) - selfInteracting.operationsPerAtom(edgesPerAtom: 40), c40,
                       accuracy: 1e-9 * c40)
    }

    /// Version rules: version-1 files unchanged, the flag needs version 2, no message passing,
    /// unknown versions refused.
    func testFormatVersionRules() throws {
        func load(_ bytes: [UInt8]) throws -> CACEModel {
            try CACEModel(container: SafeTensors(bytes: bytes, name: "m.safetensors"), name: "m.safetensors")
        }
        func message(_ bytes: [UInt8]) -> String {
            do { _ = try load(bytes); return "" } catch { return "\(error)" }
        }
        let v1 = try load(Self.spec.fileBytes())
        XCTAssertTrue(v1.selfInteraction)
        XCTAssertEqual(v1.formatVersion, 1)
        // Version 2 with the flag true (or absent) is the self-interacting model.
        let v2self = try load(try Self.canonicalBytes(Self.spec, selfInteraction: true))
        XCTAssertTrue(v2self.selfInteraction)
        let s = rattledCrystal(species: [1, 8], repeats: 1)
        XCTAssertEqual(try Evaluator(model: v2self).evaluate(s).energy, try Evaluator(model: v1).evaluate(s).energy)
        XCTAssertTrue(message(try Self.canonicalBytes(Self.spec, version: 1)).contains("needs format_version 2"))
        XCTAssertTrue(message(try Self.canonicalBytes(Self.spec, version: 3)).contains("format_version 3"))
        var mp = Self.spec
        mp.layers = 1; mp.messageTypes = ["M", "Ar"]
        let refused = message(try Self.canonicalBytes(mp))
        XCTAssertTrue(refused.contains("without message passing"), refused)
        XCTAssertTrue(message(try Self.canonicalBytes(Self.spec) { meta in
            var sym = meta["symmetrizer"] as! [String: Any]
            sym["self_interaction"] = "no"
            meta["symmetrizer"] = sym
        }).contains("self_interaction"))
    }
}
