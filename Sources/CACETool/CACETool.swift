import ArgumentParser
import CACE
import CACEStructures

@main
struct CACETool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cace",
        abstract: "Evaluate CACE potentials (Cartesian Atomic Cluster Expansion) without LAMMPS.",
        subcommands: [Info.self, Evaluate.self, Features.self, Benchmark.self, Fit.self, Convert.self]
    )
}

/// A failure reported as one line ("Error: ...") and exit status 1, without the usage text.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Loads a model, turning a load failure into a one-line error.
func loadModel(_ path: String) throws -> CACEModel {
    do {
        return try CACEModel(contentsOf: path)
    } catch {
        throw CLIError(error.description)
    }
}

extension Precision: ExpressibleByArgument {}

/// An evaluator of `model` in `precision`.
func makeEvaluator(_ model: CACEModel, precision: Precision) throws -> Evaluator {
    let evaluator = Evaluator(model: model)
    evaluator.precision = precision
    return evaluator
}

func readStructures(_ path: String) throws -> [Structure] {
    do {
        return try ExtendedXYZ.read(contentsOf: path)
    } catch {
        throw CLIError(error.description)
    }
}
