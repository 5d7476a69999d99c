import CACEFit
import CACEStructures
import Foundation

/// The fit's predictions beside the reference values, as JSON for parity plots
/// (`cace fit --predictions FILE`, read by `python3 -m pair_cace.parity`).
enum FitPredictions {
    static func json(training: [LabelledFrame], trainingPredictions: [FramePrediction],
                     validation: [LabelledFrame], validationPredictions: [FramePrediction]) -> String {
        func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
        func list(_ xs: [Double]) -> String { "[" + xs.map(number).joined(separator: ",") + "]" }
        func frames(_ frames: [LabelledFrame], _ predictions: [FramePrediction]) -> String {
            let items = zip(frames, predictions).map { frame, p -> String in
                let name = frame.name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                let type = frame.configType.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                return "{\"name\":\"\(name)\",\"config_type\":\"\(type)\",\"atoms\":\(frame.structure.count),"
                    + "\"energy\":\(number(frame.energy)),\"energy_predicted\":\(number(p.energy)),"
                    + "\"forces\":\(list(frame.forces)),\"forces_predicted\":\(list(p.forces))}"
            }
            return "[\n" + items.joined(separator: ",\n") + "\n]"
        }
        return "{\"training\": \(frames(training, trainingPredictions)),\n\"validation\": \(frames(validation, validationPredictions))}\n"
    }

    /// Runs `python3 -m pair_cace.parity` on a predictions file to draw the PNG.
    static func plot(predictions: String, output: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "pair_cace.parity", predictions, output]
        let errors = Pipe()
        process.standardError = errors
        do { try process.run() } catch {
            throw CLIError("--parity-plot needs python3 with the pair_cace package and matplotlib (pip install ./python matplotlib): \(error.localizedDescription); the predictions are in \(predictions)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let last = message.split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
            throw CLIError("--parity-plot: python3 -m pair_cace.parity failed (\(last)); it needs the pair_cace package and matplotlib (pip install ./python matplotlib); the predictions are in \(predictions)")
        }
    }
}
