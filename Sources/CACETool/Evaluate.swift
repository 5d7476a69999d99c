import ArgumentParser
import CACE
import CACEStructures

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case extxyz, json
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate every frame of an extended XYZ file: energy, per-atom energies, forces, virial, stress.")

    @Argument(help: "Model file (.safetensors).")
    var model: String

    @Argument(help: "Structures (extended XYZ, one or many frames).")
    var structures: String

    @Option(help: "Output format: extxyz or json.")
    var format: OutputFormat = .extxyz

    @Flag(help: "Do not add the model's per-element reference energies (E0s).")
    var noE0 = false

    @Option(help: "Precision of the feature arithmetic: double or single (forces and sums stay double).")
    var precision = Precision.double

    @Flag(help: "Also print the committee's spread (models fitted with cace fit --committee K): the energy's and each atom's energy standard deviation and each atom's force deviation.")
    var uncertainty = false

    // .unconditional: "--threads -1" reaches the range check instead of reading as a flag
    @Option(parsing: .unconditional, help: "Worker threads (at least 1).")
    var threads = 1

    @OptionGroup var longRange: LongRangeOptions

    func run() throws {
        let evaluator = try makeEvaluator(try loadModel(model), precision: precision)
        evaluator.includeAtomicEnergies = !noE0
        guard (1...1024).contains(threads) else { throw CLIError("--threads must be between 1 and 1024, got \(threads)") }
        evaluator.threadCount = threads
        try longRange.apply(to: evaluator)
        let reporter = LongRangeReporter()
        if uncertainty && evaluator.model.committee == nil {
            throw CLIError("--uncertainty needs a model with a committee (fit one with cace fit --committee K); \(model) has none")
        }
        let frames = try readStructures(structures)
        var results: [StructureResult] = []
        var spreads: [CommitteeSpread] = []
        for (index, frame) in frames.enumerated() {
            do {
                results.append(try evaluator.evaluate(frame))
                reporter.report(evaluator)
                if uncertainty, let spread = try evaluator.committeeSpread(frame) { spreads.append(spread) }
            } catch {
                throw CLIError("frame \(index + 1): \(error.description)")
            }
        }
        let spread = uncertainty ? spreads : nil
        switch format {
        case .json: print(OutputWriter.json(results, spreads: spread))
        case .extxyz: print(OutputWriter.extendedXYZ(frames, results, spreads: spread), terminator: "")
        }
    }
}
