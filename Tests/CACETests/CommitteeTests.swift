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
