import ArgumentParser
import CACE

@main
struct CACETool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cace",
        abstract: "Evaluate CACE potentials (Cartesian Atomic Cluster Expansion) without LAMMPS.",
        subcommands: [Info.self, Evaluate.self, Benchmark.self]
    )
}

/// Loads a model, turning a load failure into a one-line validation error.
func loadModel(_ path: String) throws -> CACEModel {
    do {
        return try CACEModel(contentsOf: path)
    } catch {
        throw ValidationError(error.description)
    }
}

func readStructures(_ path: String) throws -> [Structure] {
    do {
        return try ExtendedXYZ.read(contentsOf: path)
    } catch {
        throw ValidationError(error.description)
    }
}
