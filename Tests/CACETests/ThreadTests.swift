import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures

/// Every threaded path with 2 and 4 threads against one thread: atom by atom (Double and
/// Float), message passing (one and two layers, its last layer with the read-out), the periodic
/// Ewald sum, per-atom virials and the descriptor API's stacked features. The structures are big
/// enough that each path really runs that many workers (16 atoms per worker for the short-range
/// paths, 64 for the Ewald sum). `scripts/sanitize.sh` runs this class under ThreadSanitizer.
final class ThreadTests: XCTestCase {
    static let threadCounts = [2, 4]

    static let models: [(String, SyntheticModel)] = {
        var plain = SyntheticModel()
        plain.zs = [1, 8]; plain.maxL = 3; plain.maxNu = 3
        var gaussian = SyntheticModel()   // the edge-batch fallback bases, one edge at a time
        gaussian.zs = [14]; gaussian.radial = "gaussian"; gaussian.cutoffFunction = "cosine"; gaussian.seed = 7
        var mp = SyntheticModel()
        mp.zs = [1, 8]; mp.layers = 1; mp.messageTypes = ["M", "Ar", "Bchi"]; mp.seed = 2
        var deep = SyntheticModel()
        deep.zs = [13, 29]; deep.layers = 2; deep.messageTypes = ["Bchi", "Ar"]; deep.bchiSharedL = false
        deep.bchiSharedChannels = false; deep.seed = 3
        var ewald = SyntheticModel()
        ewald.zs = [1, 8]; ewald.ewald = true; ewald.seed = 4
        var ewaldMP = ewald
        ewaldMP.layers = 1; ewaldMP.messageTypes = ["M", "Ar", "Bchi"]; ewaldMP.seed = 5
        return [("atom by atom", plain), ("atom by atom, Gaussian", gaussian), ("message passing", mp),
                ("two layers", deep), ("Ewald", ewald), ("Ewald + message passing", ewaldMP)]
    }()

    /// 64 atoms (4 short-range workers); Ewald: 512 atoms (4 workers of the Ewald loops), with
    /// message passing 216 (3 Ewald workers with 4 threads, 2 with 2: the cost stays modest).
    func structure(for spec: SyntheticModel) -> Structure {
        rattledCrystal(species: spec.zs, repeats: spec.ewald ? (spec.layers > 0 ? 3 : 4) : 2)
    }

    func assertSame(_ b: StructureEvaluation, _ a: StructureEvaluation, _ name: String, rel: Double = 1e-12) {
        let (x, y) = (a.result, b.result)
        XCTAssertEqual(y.energy, x.energy, accuracy: rel * max(1, abs(x.energy)), name)
        XCTAssertLessThanOrEqual(relativeError(y.forces, x.forces), rel, name)
        XCTAssertLessThanOrEqual(relativeError(y.virial, x.virial), rel, name)
        XCTAssertLessThanOrEqual(relativeError(y.atomEnergies, x.atomEnergies, floor: 1), rel, name)
        if let va = a.atomVirials, let vb = b.atomVirials {
            XCTAssertLessThanOrEqual(relativeError(vb, va, floor: 1), rel, "\(name): per-atom virials")
        }
    }

    /// 2 threads without and 4 threads with per-atom virials; the 4-thread evaluator runs twice
    /// (its per-thread scratch is reused, not rebuilt).
    func testThreadedPathsGiveTheSerialAnswer() throws {
        for (name, spec) in Self.models {
            let model = try spec.model()
            let s = structure(for: spec)
            let serial = try Evaluator(model: model).evaluate(s, atomVirials: true)
            for threads in Self.threadCounts {
                let evaluator = Evaluator(model: model)
                evaluator.threadCount = threads
                let atomVirials = threads == 4
                let label = "\(name), \(threads) threads\(atomVirials ? ", per-atom virials" : "")"
                let first = try evaluator.evaluate(s, atomVirials: atomVirials)
                XCTAssertEqual(first.atomVirials == nil, !atomVirials, label)
                assertSame(first, serial, label)
                if threads == 4 { assertSame(try evaluator.evaluate(s, atomVirials: true), serial, "\(label), second call") }
            }
        }
    }

    /// Single precision (models without message passing): threads give the one-thread answer.
    func testThreadedSinglePrecisionGivesTheSerialAnswer() throws {
        for (name, spec) in Self.models where spec.layers == 0 {
            let model = try spec.model()
            let s = structure(for: spec)
            let serial = Evaluator(model: model)
            serial.precision = .single
            let a = try serial.evaluate(s, atomVirials: false)
            for threads in Self.threadCounts {
                let evaluator = Evaluator(model: model)
                evaluator.precision = .single
                evaluator.threadCount = threads
                assertSame(try evaluator.evaluate(s, atomVirials: false), a, "\(name), single, \(threads) threads", rel: 1e-10)
            }
        }
    }

    /// The descriptor API: layer 0 runs on one thread, the stacked read-out features of a
    /// message-passing model come from a threaded evaluation through `featureObserver`.
    func testThreadedDescriptorsGiveTheSerialAnswer() throws {
        for (name, spec) in Self.models where spec.layers > 0 {
            let model = try spec.model()
            let s = rattledCrystal(species: spec.zs, repeats: 2)   // 64 atoms: 4 short-range workers
            let a = try Evaluator(model: model).descriptors(s, derivatives: false)   // the Jacobians run on one thread
            for threads in Self.threadCounts {
                let evaluator = Evaluator(model: model)
                evaluator.threadCount = threads
                let b = try evaluator.descriptors(s, derivatives: false)
                let label = "\(name), descriptors, \(threads) threads"
                XCTAssertEqual(b.atoms, a.atoms, label)
                XCTAssertEqual(b.features, a.features, label)
                XCTAssertEqual(b.stackedFeatures == nil, a.stackedFeatures == nil, label)
                if let x = a.stackedFeatures, let y = b.stackedFeatures {
                    XCTAssertLessThanOrEqual(relativeError(y, x, floor: 1e-12), 1e-12, label)
                }
            }
        }
    }
}
