import ArgumentParser
import CACE
import CACEStructures

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a model's elements, cutoff and hyperparameters.")

    @Argument(help: "Model file (.safetensors).")
    var model: String

    func run() throws {
        let m = try loadModel(model)
        let elements = zip(m.elementSymbols, m.atomicNumbers).map { "\($0) (Z=\($1))" }.joined(separator: ", ")
        let lines = [
            "model:               \(model)",
            "elements:            \(elements)",
            "cutoff:              \(m.cutoff) Angstrom",
            "n_atom_basis:        \(m.embeddingSize) (\(m.channelCount) edge channels, \(m.directedEdges ? "directed" : "undirected"), receiver embedding \(m.embedReceiver ? "separate" : "shared"))",
            "radial functions:    \(m.radialFunctionCount) raw, \(m.radialBasisCount) mixed",
            "max_l, max_nu:       \(m.maxL), \(m.maxNu) (\(m.invariantCount) invariants)",
            "invariants:          \(m.selfInteraction ? "self-interacting (upstream's)" : "canonical: sums over pairwise distinct edges") (format_version \(m.formatVersion))",
            "message passing:     \(m.messagePassingCount == 0 ? "none" : "\(m.messagePassingCount) layer(s)")",
            "long-range term:     \(m.hasLongRange ? "Ewald (latent charges)" : "none")",
            "features per atom:   \(m.featureCount)",
            "parameters:          \(m.parameterCount)",
            "energy output:       \(m.energyKey)",
            "reference energies:  \(m.atomicEnergies == nil ? "none" : "included (E0s)")",
        ]
        print(lines.joined(separator: "\n"))
    }
}
