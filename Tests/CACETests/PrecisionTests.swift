import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures

/// `precision = .single` (feature arithmetic in Float, geometry and sums in Double) against
/// double, and the vector sin/cos and exp of the edge and message kernels.
final class PrecisionTests: XCTestCase {
    /// Models without message passing, with every radial basis and cutoff.
    static let variants: [(String, SyntheticModel)] = {
        var plain = SyntheticModel()
        plain.zs = [1, 8]; plain.maxL = 3; plain.embedReceiver = true
        var gaussian = SyntheticModel()
        gaussian.zs = [14]; gaussian.radial = "gaussian"; gaussian.cutoffFunction = "cosine"; gaussian.seed = 2
        var decay = SyntheticModel()
        decay.zs = [13, 28, 29]; decay.radial = "exponential_decay"; decay.cutoffFunction = "mollifier"
        decay.directed = false; decay.maxL = 4; decay.maxNu = 4; decay.seed = 3
        var ewald = SyntheticModel()
        ewald.zs = [1, 8]; ewald.ewald = true; ewald.seed = 4
        return [("Bessel", plain), ("Gaussian + cosine", gaussian), ("exponential decay + mollifier, L 4", decay),
                ("Ewald", ewald)]
    }()

    func compare(_ model: CACEModel, _ structure: Structure, _ name: String, threads: Int = 1) throws {
        let double = Evaluator(model: model)
        let single = Evaluator(model: model)
        single.precision = .single
        single.threadCount = threads
        let a = try double.evaluate(structure), b = try single.evaluate(structure)
        XCTAssertEqual(b.energy, a.energy, accuracy: 1e-5 * max(1, abs(a.energy)), name)
        let forceError = relativeError(b.forces, a.forces)
        XCTAssertLessThanOrEqual(forceError, 1e-4, name)
        XCTAssertGreaterThan(forceError, 0, "\(name): single precision gave the double answer bit for bit")
        XCTAssertLessThanOrEqual(relativeError(b.virial, a.virial), 1e-4, name)
    }

    func testSingleMatchesDoubleOnSyntheticModels() throws {
        for (name, spec) in Self.variants {
            let model = try spec.model()
            try compare(model, rattledCrystal(species: spec.zs, repeats: 2), "\(name), crystal")
            try compare(model, cluster(species: spec.zs), "\(name), cluster")
            try compare(model, rattledCrystal(species: spec.zs, repeats: 2), "\(name), 3 threads", threads: 3)
        }
    }

    func testSingleMatchesDoubleOnWaterModels() throws {
        let root = try requireReference()
        for name in ["water_sr", "water_trained"] {
            let model = try CACEModel(contentsOf: root.appendingPathComponent("\(name)/model.safetensors").path)
            for frame in ["liquid64_frame0", "liquid64_triclinic"] {
                let structure = try ExtendedXYZ.read(contentsOf: root.appendingPathComponent("\(name)/\(frame).xyz").path)[0]
                try compare(model, structure, "\(name) \(frame)")
            }
        }
    }

    /// The Ewald term in single precision on 1536 atoms (water_trained on its frame replicated
    /// 2x2x2): structure factors over many atoms and a few thousand k vectors.
    func testSingleEwaldInALargerBox() throws {
        let root = try requireReference()
        let model = try CACEModel(contentsOf: root.appendingPathComponent("water_trained/model.safetensors").path)
        let frame = try ExtendedXYZ.read(contentsOf: root.appendingPathComponent("water_trained/liquid64_frame0.xyz").path)[0]
        let cell = try XCTUnwrap(frame.cell)
        var numbers: [Int] = [], positions: [Double] = []
        for i in 0..<2 { for j in 0..<2 { for k in 0..<2 {
            for atom in 0..<frame.count {
                numbers.append(frame.atomicNumbers[atom])
                for c in 0..<3 {
                    positions.append(frame.positions[3 * atom + c] + Double(i) * cell[c] + Double(j) * cell[3 + c]
                                     + Double(k) * cell[6 + c])
                }
            }
        } } }
        let big = Structure(atomicNumbers: numbers, positions: positions, cell: cell.map { 2 * $0 }, pbc: (true, true, true))
        try compare(model, big, "water_trained, 1536 atoms")
    }

    /// Message-passing models in single precision: every message type (M, Ar, scalar and
    /// per-channel Bchi), one and two layers, with 1 and 3 threads, and the Ewald term.
    func testSingleMatchesDoubleWithMessagePassing() throws {
        var memoryAr = SyntheticModel()
        memoryAr.zs = [14]; memoryAr.layers = 1; memoryAr.messageTypes = ["M", "Ar"]
        var bchi = SyntheticModel()
        bchi.zs = [13, 28, 29]; bchi.layers = 2; bchi.messageTypes = ["M", "Ar", "Bchi"]; bchi.seed = 5
        var ewald = SyntheticModel()
        ewald.zs = [1, 8]; ewald.layers = 1; ewald.messageTypes = ["M", "Ar", "Bchi"]; ewald.ewald = true; ewald.seed = 6
        for (name, spec) in [("M + Ar", memoryAr), ("M + Ar + Bchi, 2 layers", bchi), ("M + Ar + Bchi + Ewald", ewald)] {
            let model = try spec.model()
            try compare(model, rattledCrystal(species: spec.zs, repeats: 2), "\(name), crystal")
            try compare(model, cluster(species: spec.zs), "\(name), cluster")
            try compare(model, rattledCrystal(species: spec.zs, repeats: 2), "\(name), 3 threads", threads: 3)
        }
    }

    /// A domain that carries only Double rows, as the C ABI's hosts (LAMMPS) do: single
    /// precision then stages its Float rows through Double, owners' rows in and ghosts' rows back
    /// (forward), every row in and owners' rows back (reverse).
    struct DoubleRowsOnly: DomainCommunicator {
        let domain: ReplicatedDomain
        func forwardExchange(_ rows: UnsafeMutablePointer<Double>, width: Int) { domain.forwardExchange(rows, width: width) }
        func reverseExchange(_ rows: UnsafeMutablePointer<Double>, width: Int) { domain.reverseExchange(rows, width: width) }
        func sumOverRanks(_ values: UnsafeMutablePointer<Double>, count: Int) {}
    }

    /// Forces of `structure` through a domain that moves Double rows only.
    func forcesThroughDoubleRows(_ evaluator: Evaluator, _ structure: Structure) throws -> [Double] {
        let (domain, boundary) = try evaluator.domain(for: structure)
        var forces = [Double](repeating: 0, count: 3 * domain.totalCount)
        try forces.withUnsafeMutableBufferPointer { f in
            _ = try domain.withAtomsView(boundary: boundary) { (atoms) throws(CACEError) -> EvaluationSummary in
                try evaluator.evaluate(atoms, into: EvaluationTargets(forces: f.baseAddress!),
                                       communicator: DoubleRowsOnly(domain: domain))
            }
        }
        domain.foldGhostRows(&forces, width: 3)
        return Array(forces[0..<(3 * structure.count)])
    }

    /// Single precision's exchanges staged through Double (the hosts' way) give what the Float
    /// rows moved as they are give (the CLI's way), and both stay within 1e-4 of double.
    func testStagedExchangesMatchFloatExchanges() throws {
        var spec = SyntheticModel()
        spec.zs = [13, 28, 29]; spec.layers = 2; spec.messageTypes = ["M", "Ar", "Bchi"]; spec.seed = 5
        let model = try spec.model()
        let structure = rattledCrystal(species: spec.zs, repeats: 2)
        let double = try Evaluator(model: model).evaluate(structure).forces
        // one evaluator each: a second evaluation would find the first one's ghost rows in the scratch
        let single = Evaluator(model: model), staging = Evaluator(model: model)
        single.precision = .single
        staging.precision = .single
        let moved = try single.evaluate(structure).forces
        let staged = try forcesThroughDoubleRows(staging, structure)
        XCTAssertLessThanOrEqual(relativeError(staged, moved), 1e-5, "staged vs moved Float rows")
        XCTAssertLessThanOrEqual(relativeError(staged, double), 1e-4, "staged single vs double")
        XCTAssertLessThanOrEqual(relativeError(moved, double), 1e-4, "moved single vs double")
        XCTAssertGreaterThan(relativeError(staged, double), 0, "single precision gave the double answer bit for bit")
    }

    /// The reference message-passing models (per-channel Bchi among them) in single precision.
    func testSingleMatchesDoubleOnMessagePassingReferenceModels() throws {
        let root = try requireReference()
        for name in ["rand_3el_l3_nu3_mp1_MArBchi", "rand_3el_l2_nu4_mp2_Bchi_gauss_cos",
                     "rand_2el_l3_nu4_mp1_MAr_expdecay_mollifier"] {
            let model = try CACEModel(contentsOf: root.appendingPathComponent("\(name)/model.safetensors").path)
            for frame in ["alloy_bulk", "triclinic"] {
                let structure = try ExtendedXYZ.read(contentsOf: root.appendingPathComponent("\(name)/\(frame).xyz").path)[0]
                try compare(model, structure, "\(name) \(frame)")
            }
        }
    }

    func testVectorSinCosMatchesTheLibrary() {
        var worstDouble = 0.0, worstFloat = 0.0
        var x = -60.0
        while x < 60 {
            let v = SIMD4<Double>(x, x + 0.0137, x + 0.731, x + 1.5707963267948966)
            let (s, c) = Double.sinCos(v)
            for lane in 0..<4 {
                worstDouble = max(worstDouble, abs(s[lane] - sin(v[lane])), abs(c[lane] - cos(v[lane])))
            }
            let f = SIMD8<Float>(lowHalf: SIMD4<Float>(v), highHalf: SIMD4<Float>(v + 0.25))
            let (sf, cf) = Float.sinCos(f)
            for lane in 0..<8 {
                worstFloat = max(worstFloat, abs(Double(sf[lane]) - sin(Double(f[lane]))),
                                 abs(Double(cf[lane]) - cos(Double(f[lane]))))
            }
            x += 0.0371
        }
        XCTAssertLessThan(worstDouble, 4e-16)
        XCTAssertLessThan(worstFloat, 3e-7)
    }

    func testVectorExponentialMatchesTheLibrary() {
        var worst = 0.0
        var x = -745.0
        while x < 709 {
            let v = SIMD4<Double>(x, x + 0.01, x + 0.3466, x + 0.6931)
            let e = Double.exponential(v)
            for lane in 0..<4 where v[lane] >= -708 && v[lane] <= 709 {
                worst = max(worst, abs(e[lane] - exp(v[lane])) / exp(v[lane]))
            }
            if v[0] < -708 { XCTAssertEqual(e[0], exp(-708.0), accuracy: 1e-320) }
            x += 0.173
        }
        XCTAssertLessThan(worst, 5e-16)
    }
}
