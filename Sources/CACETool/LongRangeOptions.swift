import ArgumentParser
import CACE
import Foundation

extension LongRangeMethod: ExpressibleByArgument {}

/// `--long-range direct|mesh|auto [--mesh-accuracy X]` of `cace evaluate` and `cace benchmark`
/// (docs/long-range.md). Each structure is evaluated on its own k-set (no pinning).
struct LongRangeOptions: ParsableArguments {
    @Option(name: .customLong("long-range"),
            help: "Periodic long-range method: auto (direct below \(Int(LongRangePlan.autoThreshold)) atoms x k-vectors, else mesh), direct, or mesh.")
    var method = LongRangeMethod.auto

    @Option(name: .customLong("mesh-accuracy"), parsing: .unconditional,
            help: "Relative RMS error of the mesh's long-range forces against the direct sum (default \(LongRangePlan.defaultAccuracy)).")
    var accuracy: Double?

    /// Sets the method on `evaluator`; refuses options the model cannot use.
    func apply(to evaluator: Evaluator) throws {
        guard evaluator.model.hasLongRange || (method != .mesh && accuracy == nil) else {
            throw CLIError("--long-range mesh and --mesh-accuracy need a model with a long-range term; this model has none")
        }
        guard evaluator.model.hasLongRange else { return }
        do { try evaluator.setLongRange(method, accuracy: accuracy) } catch { throw CLIError(error.description) }
    }
}

/// Writes the line saying which long-range method ran and why, once per distinct plan.
final class LongRangeReporter {
    private var last: String? = nil

    func report(_ evaluator: Evaluator) {
        guard let summary = evaluator.lastLongRangePlan?.summary, summary != last else { return }
        last = summary
        FileHandle.standardError.write(Data((summary + "\n").utf8))
    }
}

