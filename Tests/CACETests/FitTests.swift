import Foundation
import XCTest
@testable import CACE
@testable import CACEFit
@testable import CACEStructures

/// `cace fit`: the linear model constructor, the design matrix, the solvers, the model file and
/// the bad-input errors.
final class FitTests: XCTestCase {
    /// A small two-element representation (F = M S C = 6 * 4 * 4 = 96 features): fast enough for
    /// debug builds.
    static func spec(transform: LinearCACESpec.RadialTransform = .pairSums) -> LinearCACESpec {
        LinearCACESpec(atomicNumbers: [8, 14], cutoff: 4.0, maxL: 2, maxNu: 2, radialCount: 3, transform: transform,
                       table: .extended)
    }

    static func options(_ spec: LinearCACESpec, solver: FitOptions.Solver = .qr, lambda: Double = 0) -> FitOptions {
        var o = FitOptions(cutoff: spec.cutoff)
        o.maxL = spec.maxL; o.maxNu = spec.maxNu; o.radialCount = spec.radialCount
        o.transform = spec.transform; o.table = spec.table
        o.solver = solver; o.lambda = lambda; o.threads = 2
        return o
    }

    /// The known linear model: random weights (0 on redundant features) and E0s.
    static func truth(_ spec: LinearCACESpec) -> (weights: [Double], e0: [Int: Double]) {
        var rng = SyntheticModel.Generator(state: 11)
        let redundant = spec.redundantFeatures()
        let weights = (0..<spec.featureCount).map { redundant[$0] ? 0 : rng.next(0.05) }
        return (weights, [8: -4.25, 14: -1.5])
    }

    static func writeModel(_ spec: LinearCACESpec, weights: [Double], e0: [Int: Double]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fit-\(UUID().uuidString).safetensors").path
        try spec.modelFile(weights: weights, bias: 0, atomicEnergies: e0, averageNeighbors: nil, source: "test",
                           fitInfo: .null).write(to: path)
        return path
    }

    /// Structures labelled (energy, forces, virial) by the model file at `path`, E0s included.
    static func labelled(_ structures: [Structure], modelPath: String) throws -> [LabelledFrame] {
        let evaluator = Evaluator(model: try CACEModel(contentsOf: modelPath))
        evaluator.includeAtomicEnergies = true
        return try structures.enumerated().map { index, s in
            let r = try evaluator.evaluate(s)
            var frame = s
            frame.labels = StructureLabels(energy: r.energy, forces: r.forces, virial: s.isFullyPeriodic ? r.virial : nil,
                                           configType: s.isPeriodic ? "crystal" : "cluster")
            return try LabelledFrame.frames([frame], file: "synthetic")[0].renamed("synthetic: frame \(index + 1)")
        }
    }

    /// Rattled two-element crystals (8 atoms, skewed cells) and open clusters, all different.
    static func structures(count: Int, seed: UInt64) -> [Structure] {
        var out: [Structure] = []
        for k in 0..<count {
            let seedK = seed + UInt64(k)
            if k % 3 == 2 {
                out.append(cluster(species: [8, 14], count: 7, seed: seedK))
            } else {
                let lattice = 4.6 + 0.1 * Double(k % 4), skew = 0.05 * Double(k % 3)
                out.append(rattledCrystal(species: [14, 8], repeats: 1, lattice: lattice, rattle: 0.25, skew: skew, seed: seedK))
            }
        }
        return out
    }

    /// Training and validation data labelled by the known model, shared by the tests.
    static let data: (training: [LabelledFrame], validation: [LabelledFrame], truth: (weights: [Double], e0: [Int: Double])) = {
        let representation = FitTests.spec()
        let known = FitTests.truth(representation)
        let path = try! writeModel(representation, weights: known.weights, e0: known.e0)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return (try! labelled(structures(count: 9, seed: 100), modelPath: path),
                try! labelled(structures(count: 3, seed: 500), modelPath: path), known)
    }()

    func testConstructedModelLoadsWithTheRequestedShape() throws {
        for (transform, m) in [(LinearCACESpec.RadialTransform.pairSums, 6), (.identity, 3)] {
            let spec = Self.spec(transform: transform)
            let path = try Self.writeModel(spec, weights: Self.truth(spec).weights, e0: [8: -1, 14: -2])
            defer { try? FileManager.default.removeItem(atPath: path) }
            let model = try CACEModel(contentsOf: path)
            XCTAssertEqual(model.atomicNumbers, [8, 14])
            XCTAssertEqual(model.channelCount, 4)
            XCTAssertEqual(model.radialBasisCount, m)
            XCTAssertEqual(model.invariantCount, 4)   // B_0 and nu = 2 with l = 0, 1, 2
            XCTAssertEqual(model.featureCount, spec.featureCount)
            XCTAssertEqual(model.messagePassingCount, 0)
            XCTAssertEqual(model.atomicEnergies?.count, 2)
        }
        // the upstream table has no l = 0 entries
        var upstream = Self.spec()
        upstream.table = .upstream; upstream.maxNu = 3
        XCTAssertEqual(upstream.invariants.map { $0.nu }, [1, 2, 2, 3])
        upstream.table = .extended
        XCTAssertEqual(upstream.invariants.map { $0.nu }, [1, 2, 2, 2, 3, 3, 3, 3])
    }

    /// Noise-free data from a known linear model: QR with lambda = 0 recovers its coefficients and
    /// E0s, and predicts held-out frames.
    func testRecoversKnownLinearModel() throws {
        let (training, validation, truth) = Self.data
        let result = try LinearFit.run(training: training, validation: validation, options: Self.options(Self.spec()))
        let redundant = Self.spec().redundantFeatures()
        XCTAssertEqual(result.droppedFeatures, redundant.filter { $0 }.count)
        XCTAssertLessThanOrEqual(relativeError(result.weights, truth.weights, floor: 1e-3), 1e-6)
        XCTAssertEqual(result.atomicEnergies[8]!, truth.e0[8]!, accuracy: 1e-7)
        XCTAssertEqual(result.atomicEnergies[14]!, truth.e0[14]!, accuracy: 1e-7)
        for (frame, p) in zip(validation, result.validationPredictions) {
            XCTAssertEqual(p.energy, frame.energy, accuracy: 1e-8 * max(1, abs(frame.energy)))
            XCTAssertLessThanOrEqual(relativeError(p.forces, frame.forces, floor: 1), 1e-8)
            if let w = frame.virial { XCTAssertLessThanOrEqual(relativeError(p.virial!, w, floor: 1), 1e-8) }
        }
        XCTAssertLessThan(result.training[0].1.forceRMSE, 1e-8)
        XCTAssertLessThan(result.validation[0].1.energyRMSE, 1e-8)
        XCTAssertEqual(result.training.map { $0.0 }, ["all", "cluster", "crystal"])
        XCTAssertTrue(result.conditionNumber.isFinite && result.conditionNumber > 1)
    }

    /// QR and Cholesky solve the same regularised problem.
    func testQRAndCholeskyAgree() throws {
        let (training, _, _) = Self.data
        let spec = Self.spec()
        let qr = try LinearFit.run(training: training, options: Self.options(spec, solver: .qr, lambda: 1e-6))
        let chol = try LinearFit.run(training: training, options: Self.options(spec, solver: .cholesky, lambda: 1e-6))
        XCTAssertLessThanOrEqual(relativeError(chol.weights, qr.weights, floor: 1e-6), 1e-7)
        XCTAssertEqual(chol.atomicEnergies[8]!, qr.atomicEnergies[8]!, accuracy: 1e-7)
        XCTAssertEqual(chol.lambdaAbsolute, qr.lambdaAbsolute, accuracy: 1e-12 * qr.lambdaAbsolute)
        XCTAssertGreaterThan(qr.lambdaAbsolute, 0)
        // regularisation moves the solution away from the truth, but not far
        XCTAssertGreaterThan(relativeError(qr.weights, Self.data.truth.weights, floor: 1e-3), 1e-12)
        XCTAssertEqual(qr.conditionNumber, chol.conditionNumber, accuracy: 1e-3 * qr.conditionNumber)
    }

    /// The streamed Cholesky solver keeps no design matrix: its error tables come from the fitted
    /// model, the round trip from the few blocks it keeps; its sums are reproducible for a thread
    /// count and differ between counts by round-off only.
    func testStreamedCholesky() throws {
        let (training, validation, _) = Self.data
        var options = Self.options(Self.spec(), solver: .cholesky, lambda: 1e-6)
        options.threads = 1
        let one = try LinearFit.run(training: training, validation: validation, options: options)
        options.threads = 3
        let three = try LinearFit.run(training: training, validation: validation, options: options)
        XCTAssertEqual(try LinearFit.run(training: training, validation: validation, options: options).weights, three.weights)
        // other thread counts add the frames in another order: round-off amplified by kappa(G + lambda I)
        let kappa = one.conditionNumber * one.conditionNumber
        XCTAssertLessThanOrEqual(relativeError(three.weights, one.weights, floor: 1e-6), max(1e-12, 1e-14 * kappa),
                                 "kappa(G + lambda I) = \(kappa)")
        XCTAssertEqual(one.trainingPredictions.count, training.count)
        XCTAssertEqual(one.checkedPredictions.count, min(LinearFit.checkedFrames, training.count))
        XCTAssertLessThan(one.checkedPredictions.count, training.count)   // the data set is larger than what is kept
        // the error tables equal those of the QR solver's design matrix at the same lambda
        let qr = try LinearFit.run(training: training, validation: validation, options: Self.options(Self.spec(), lambda: 1e-6))
        for (a, b) in zip(one.training + one.validation, qr.training + qr.validation) {
            XCTAssertEqual(a.0, b.0)
            XCTAssertEqual(a.1.forceRMSE, b.1.forceRMSE, accuracy: 1e-4 * max(b.1.forceRMSE, 1e-9))
            XCTAssertEqual(a.1.energyRMSE, b.1.energyRMSE, accuracy: 1e-4 * max(b.1.energyRMSE, 1e-9))
            XCTAssertEqual(a.1.virialFrames, b.1.virialFrames)
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fit-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try one.modelFile(source: "streamed").write(to: path)
        XCTAssertLessThanOrEqual(try LinearFit.roundTrip(modelPath: path, frames: training, predictions: one.checkedPredictions).largest, 1e-10)
    }

    /// The written file, evaluated by the core (as `cace evaluate` does), gives the fit's own
    /// predictions to 1e-10; so does the CLI end to end.
    func testModelFileRoundTrip() throws {
        let (training, validation, _) = Self.data
        var options = Self.options(Self.spec(), lambda: 1e-4)
        options.smoothness = 2
        let result = try LinearFit.run(training: training, validation: validation, options: options)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fit-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try result.modelFile(source: "round trip").write(to: path)
        let check = try LinearFit.roundTrip(modelPath: path, frames: training, predictions: result.trainingPredictions)
        XCTAssertLessThanOrEqual(check.largest, 1e-10)
        let held = try LinearFit.roundTrip(modelPath: path, frames: validation, predictions: result.validationPredictions)
        XCTAssertLessThanOrEqual(held.largest, 1e-10)
        // the check can fail: perturb one prediction
        var wrong = result.trainingPredictions
        wrong[0].forces[0] += 1e-6
        XCTAssertGreaterThan(try LinearFit.roundTrip(modelPath: path, frames: training, predictions: wrong).largest, 1e-10)
        // the metadata records the fit; no temporary file is left behind
        let model = try CACEModel(contentsOf: path)
        XCTAssertTrue(model.source.contains("round trip"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
            .filter { $0.hasPrefix(".\((path as NSString).lastPathComponent)") }
        XCTAssertEqual(leftovers, [])
    }

    func testExtendedXYZLabels() throws {
        let text = """
            2
            Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3:forces:R:3 energy=-3.5 config_type=bulk stress="1 2 3 4 5 6" pbc="T T T"
            Si 0 0 0 0.1 0.2 0.3
            O 1 1 1 -0.1 -0.2 -0.3
            1
            virial="1 2 3 2 5 6 3 6 9" Properties=species:S:1:pos:R:3
            Si 0 0 0

            """
        let frames = try ExtendedXYZ.parse(text)
        XCTAssertEqual(frames[0].labels.energy, -3.5)
        XCTAssertEqual(frames[0].labels.forces, [0.1, 0.2, 0.3, -0.1, -0.2, -0.3])
        XCTAssertEqual(frames[0].labels.configType, "bulk")
        XCTAssertEqual(frames[0].labels.stress, [1, 6, 5, 6, 2, 4, 5, 4, 3])   // Voigt xx yy zz yz xz xy
        XCTAssertEqual(frames[0].labels.referenceVirial(volume: frames[0].volume), [1, 6, 5, 6, 2, 4, 5, 4, 3].map { -64 * $0 })
        XCTAssertNil(frames[1].labels.energy)
        XCTAssertNil(frames[1].labels.forces)
        XCTAssertEqual(frames[1].labels.virial, [1, 2, 3, 2, 5, 6, 3, 6, 9])
        XCTAssertEqual(frames[1].positions, [0, 0, 0])
        for (bad, expected) in [
            ("1\nenergy=abc\nSi 0 0 0\n", "energy must be a finite number"),
            ("1\nProperties=species:S:1:pos:R:3:forces:R:2\nSi 0 0 0 1 2\n", "forces must have 3 columns"),
            ("1\nProperties=species:S:1:pos:R:3:forces:R:3\nSi 0 0 0 1 x 2\n", "bad force component 'x'"),
            ("1\nstress=\"1 2 3\"\nSi 0 0 0\n", "stress must hold 9 numbers"),
            ("1\nvirial=\"1 2 3 4 5 6\"\nSi 0 0 0\n", "virial must hold 9 numbers"),
        ] {
            XCTAssertThrowsError(try ExtendedXYZ.parse(bad, name: "bad.xyz")) { error in
                let text = (error as? CACEError)?.description ?? "\(error)"
                XCTAssertTrue(text.contains(expected) && text.hasPrefix("bad.xyz:"), text)
                XCTAssertFalse(text.contains("\n"), text)
            }
        }
    }

    func testBadInput() throws {
        func fitError(_ body: () throws -> Void) -> String {
            do { try body() } catch let error as FitError {
                XCTAssertFalse(error.description.contains("\n"), error.description)
                return error.description
            } catch { return "unexpected \(error)" }
            return "no error"
        }
        let s = rattledCrystal(species: [14], repeats: 1)
        var noEnergy = s
        noEnergy.labels = StructureLabels(forces: Array(repeating: 0, count: 3 * s.count))
        XCTAssertEqual(fitError { _ = try LabelledFrame.frames([s, noEnergy], file: "t.xyz") },
                       "t.xyz: frame 1 has no energy (the comment line needs energy=...)")
        var noForces = s
        noForces.labels = StructureLabels(energy: -1)
        XCTAssertEqual(fitError { _ = try LabelledFrame.frames([noForces], file: "t.xyz") },
                       "t.xyz: frame 1 has no forces (Properties needs a forces:R:3 column)")

        let (training, _, _) = Self.data
        var stranger = s
        stranger.atomicNumbers[3] = 6
        stranger.labels = StructureLabels(energy: -1, forces: Array(repeating: 0, count: 3 * s.count))
        let validation = try LabelledFrame.frames([stranger], file: "val.xyz")
        XCTAssertEqual(fitError { _ = try LinearFit.run(training: training, validation: validation, options: Self.options(Self.spec())) },
                       "val.xyz: frame 1 has C, which no training frame has (training elements: O Si)")

        // Dimers of one length in several orientations: every feature column is a combination
        // of the same two patterns (B(d) in the energy rows, B'(d) u in the force rows), so with
        // lambda = 0 the system is singular; lambda > 0 makes it solvable.
        let dimers = (0..<6).map { k -> Structure in
            let t = 0.5 * Double(k), u = [cos(t) * 2.3, sin(t) * 2.3 * 0.6, sin(t) * 2.3 * 0.8]
            var d = Structure(atomicNumbers: [14, 14], positions: [0, 0, 0] + u, cell: nil, pbc: (false, false, false))
            d.labels = StructureLabels(energy: -1 + 0.01 * Double(k), forces: [0.1, 0, 0, -0.1, 0, 0])
            return d
        }
        let dimerFrames = try LabelledFrame.frames(dimers, file: "dimers.xyz")
        var options = Self.options(LinearCACESpec(atomicNumbers: [14], cutoff: 4.0, maxL: 2, maxNu: 2, radialCount: 2,
                                                  transform: .identity, table: .extended))
        for solver in [FitOptions.Solver.qr, .cholesky] {
            options.solver = solver
            options.lambda = 0
            let message = fitError { _ = try LinearFit.run(training: dimerFrames, options: options) }
            XCTAssertTrue(message.contains("singular"), message)
            options.lambda = 1e-3
            XCTAssertNoThrow(try LinearFit.run(training: dimerFrames, options: options), solver.rawValue)
        }
        // The Bayesian solver's prior regularises what the data leave undetermined.
        options.solver = .bayesian
        XCTAssertGreaterThan(try LinearFit.run(training: dimerFrames, options: options).lambdaAbsolute, 0)
        options.solver = .qr
        options.lambda = -1
        XCTAssertEqual(fitError { _ = try LinearFit.run(training: dimerFrames, options: options) }, "--lambda must be >= 0, got -1.0")
        options.lambda = 0
        options.maxNu = 5
        XCTAssertEqual(fitError { _ = try LinearFit.run(training: dimerFrames, options: options) }, "--max-nu must be 1-4, got 5")
    }
}

extension LabelledFrame {
    func renamed(_ name: String) -> LabelledFrame { var f = self; f.name = name; return f }
}
