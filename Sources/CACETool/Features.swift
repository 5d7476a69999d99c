import ArgumentParser
import CACE
import CACEStructures

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the invariant features B of every atom (and, with --derivatives, dB/dr per edge).",
        discussion: """
            Layer-0 features, F0 = M Q C per atom, in upstream order (m Q + q) C + c. With --derivatives, \
            every edge within the cutoff: receiver i, sender j (the atom whose periodic image it is), \
            r = x_i - x_j, and dB_i/dr [F0][3]. Models with message passing also give the stacked read-out \
            features of all layers (without derivatives).
            json: one object per frame on standard output. npy: files frameN_features.npy [atoms][F0], \
            frameN_edges.npy [E][2] (int64), frameN_edge_vectors.npy [E][3], frameN_jacobians.npy [E][F0][3], \
            frameN_stacked_features.npy, in the directory given by --output.
            """)

    @Argument(help: "Model file (.safetensors).")
    var model: String

    @Argument(help: "Structures (extended XYZ, one or many frames).")
    var structures: String

    @Option(help: "Output format: json or npy.")
    var format: DescriptorFormat = .json

    @Option(help: "Directory for the npy files (created if missing).")
    var output: String?

    @Flag(help: "Also write the Jacobian of each atom's features with respect to each edge vector.")
    var derivatives = false

    func run() throws {
        let evaluator = Evaluator(model: try loadModel(model))
        let frames = try readStructures(structures)
        if format == .npy, output == nil { throw CLIError("--format npy needs --output DIRECTORY") }
        var objects: [String] = []
        for (index, frame) in frames.enumerated() {
            let d: Descriptors
            do { d = try evaluator.descriptors(frame, derivatives: derivatives) } catch {
                throw CLIError("frame \(index + 1): \(error.description)")
            }
            switch format {
            case .json: objects.append(DescriptorWriter.json(d))
            case .npy: try DescriptorWriter.npy(d, directory: output ?? ".", prefix: "frame\(index + 1)_")
            }
        }
        if format == .json { print("[\n" + objects.joined(separator: ",\n") + "\n]") }
    }
}

enum DescriptorFormat: String, ExpressibleByArgument, CaseIterable {
    case json, npy
}
