import Foundation
import XCTest
@testable import CACE
@testable import CACEFit
@testable import CACEStructures

/// Committees in the model file (format version 2): written by `cace fit --committee K`, read
/// by the core, and their spread through the descriptor API against the fit's own design matrix.
final class CommitteeTests: XCTestCase {
    static let fitted: (result: FitResult, path: String) = {
        var options = FitTests.options(FitTests.spec(), solver: .bayesian)
        options.committee = 6
        let data = FitTests.data
        let result = try! LinearFit.run(training: data.training, validation: data.validation, options: options)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("committee-\(UUID().uuidString).safetensors").path
        try! result.modelFile(source: "test").write(to: path)
        return (result, path)
    }()

    override class func tearDown() { try? FileManager.default.removeItem(atPath: fitted.path) }

    /// The spread that the core computes from one feature evaluation with Jacobians equals the
    /// spread of the members' predictions through the fit's design matrix (energy and forces).
    func testSpreadMatchesTheMembersPredictions() throws {
        let (result, path) = Self.fitted
        let model = try CACEModel(contentsOf: path)
        XCTAssertEqual(model.formatVersion, 2)
        let committee = try XCTUnwrap(model.committee)
        XCTAssertEqual(committee.count, 6)
        let evaluator = Evaluator(model: model)
        let spec = result.spec
        let features = Evaluator(model: try LinearFit.featureModel(spec))
        for frame in FitTests.data.validation {
            let spread = try XCTUnwrap(try evaluator.committeeSpread(frame.structure))
            let block = try FrameBlock(frame: frame, evaluator: features, spec: spec)
            let predictions = result.committee.map { block.predict($0) }
            func sigma(_ r: Int) -> Double { Committee.spread(predictions.map { $0[r] }) }
            XCTAssertEqual(spread.energy, sigma(0), accuracy: 1e-9 * max(1, sigma(0)), frame.name)
            for atom in 0..<frame.structure.count {
                let expected = (0..<3).map { sigma(1 + 3 * atom + $0) }.reduce(0) { $0 + $1 * $1 }.squareRoot()
                XCTAssertEqual(spread.forces[atom], expected, accuracy: 1e-9 * max(1, expected), "\(frame.name) atom \(atom)")
            }
            XCTAssertEqual(spread.atomEnergies.count, frame.structure.count)
            XCTAssertTrue(spread.atomEnergies.allSatisfy { $0 > 0 })
        }
        // The model itself still evaluates the posterior mean.
        let check = try LinearFit.roundTrip(modelPath: path, frames: FitTests.data.training, predictions: result.trainingPredictions)
        XCTAssertLessThan(check.largest, 1e-10)
    }

    /// The per-atom spread of a host's domain (what LAMMPS asks for, a forward pass only) is
    /// the per-atom spread of the whole-structure path; without a committee there is none.
    func testAtomSpreadOfADomain() throws {
        let model = try CACEModel(contentsOf: Self.fitted.path)
        let evaluator = Evaluator(model: model)
        for frame in FitTests.data.validation {
            let whole = try XCTUnwrap(try evaluator.committeeSpread(frame.structure))
            let (domain, boundary) = try evaluator.domain(for: frame.structure)
            let perAtom = try domain.withAtomsView(boundary: boundary) { (atoms) throws(CACEError) -> [Double]? in
                try evaluator.committeeAtomSpread(atoms, communicator: domain)
            }
            let spread = try XCTUnwrap(perAtom)
            for i in 0..<frame.structure.count {
                XCTAssertEqual(spread[i], whole.atomEnergies[i], accuracy: 1e-12 * max(1, whole.atomEnergies[i]), frame.name)
            }
        }
        let known = FitTests.truth(FitTests.spec())
        let plainPath = try FitTests.writeModel(FitTests.spec(), weights: known.weights, e0: known.e0)
        defer { try? FileManager.default.removeItem(atPath: plainPath) }
        let plain = Evaluator(model: try CACEModel(contentsOf: plainPath))
        let (domain, boundary) = try plain.domain(for: FitTests.data.validation[0].structure)
        XCTAssertNil(try domain.withAtomsView(boundary: boundary) { (atoms) throws(CACEError) -> [Double]? in
            try plain.committeeAtomSpread(atoms, communicator: domain)
        })
    }

    /// A committee needs format version 2 and a linear read-out.
    func testCommitteeNeedsVersion2AndALinearReadout() throws {
        let writer = try Self.fitted.result.modelFile(source: "test")
        let text = try XCTUnwrap(writer.metadata.first { $0.0 == "cace" }?.1)
        XCTAssertTrue(text.contains("\"format_version\":2"), "the writer's JSON layout changed")
        func load(_ edited: String) -> String {
            var copy = writer
            copy.metadata = [("cace", edited)]
            do {
                _ = try CACEModel(container: try SafeTensors(bytes: try copy.bytes(), name: "edited"), name: "edited")
                return "loaded"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(load(text), "loaded")
        XCTAssertTrue(load(text.replacingOccurrences(of: "\"format_version\":2", with: "\"format_version\":1"))
                        .contains("'committee' needs format_version 2"))
        XCTAssertTrue(load(text.replacingOccurrences(of: "\"members\":6", with: "\"members\":7"))
                        .contains("committee.weights"))
        XCTAssertTrue(load(text.replacingOccurrences(of: "\"activation\":\"identity\"", with: "\"activation\":\"silu\""))
                        .contains("one linear read-out"))
    }
}
