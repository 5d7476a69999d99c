import ArgumentParser
import CACE
import CACEStructures
import Foundation

struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time energy+force evaluations of the first frame: median microseconds per atom.")

    @Argument(help: "Model file (.safetensors).")
    var model: String

    @Argument(help: "Structure (extended XYZ; the first frame is used).")
    var structures: String

    @Option(name: .customLong("repeat"), parsing: .unconditional, help: "Timed evaluations after one warm-up.")
    var repetitions: Int = 5

    @Option(help: "Precision of the feature arithmetic: double or single (forces and sums stay double).")
    var precision = Precision.double

    // .unconditional: "--threads -1" reaches the range check instead of reading as a flag
    @Option(parsing: .unconditional, help: "Worker threads (at least 1).")
    var threads = 1

    @Option(help: "Output format: text or json.")
    var format: String = "text"

    @OptionGroup var longRange: LongRangeOptions

    func run() throws {
        guard repetitions >= 1, (1...1024).contains(threads) else {
            throw CLIError("--repeat must be at least 1 and --threads between 1 and 1024 (got \(repetitions) and \(threads))")
        }
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
        let evaluator = try makeEvaluator(try loadModel(model), precision: precision)
        evaluator.threadCount = threads
        try longRange.apply(to: evaluator)
        let frame = try readStructures(structures)[0]
        let edgesPerAtom: Double
        do { edgesPerAtom = try evaluator.averageEdgesPerAtom(frame) } catch { throw CLIError(error.description) }
        let operations = evaluator.model.operationsPerAtom(edgesPerAtom: edgesPerAtom)
        let canonicalOperations = evaluator.model.canonicalOperationsPerAtom(edgesPerAtom: edgesPerAtom)
        func timeOnce() throws -> Double {
            let clock = ContinuousClock()
            let start = clock.now
            _ = try evaluator.evaluate(frame)
            let elapsed = clock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        }
        func middle(_ values: [Double]) -> (value: Double, index: Int) {
            let order = values.indices.sorted { values[$0] < values[$1] }
            return (values[order[order.count / 2]], order[order.count / 2])
        }
        do {
            _ = try timeOnce()
            LongRangeReporter().report(evaluator)
            var times: [Double] = []
            for _ in 0..<repetitions { times.append(try timeOnce()) }
            let median = middle(times).value
            // The stage split comes from separate runs with the stage clocks on, so that reading
            // the clocks (a few per atom) does not count in the median above.
            evaluator.measuresStages = true
            var stagedRuns: [(seconds: Double, stages: [(String, Double)])] = []
            for _ in 0..<min(repetitions, 3) {
                let seconds = try timeOnce()
                stagedRuns.append((seconds, evaluator.lastStageTimes.named))
            }
            let stagedMedian = stagedRuns[middle(stagedRuns.map(\.seconds)).index]
            let stageList = stagedMedian.stages
            let staged = stageList.reduce(0) { $0 + $1.1 }
            let stageText = (stageList + [("neighbours_and_setup", max(0, stagedMedian.seconds - staged / Double(threads)))])
                .map { (name, seconds) in (name, seconds / Double(frame.count) * 1e6) }
            let perAtom = median / Double(frame.count) * 1e6
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let peakMB = Double(usage.ru_maxrss) / 1024
            let gflops = operations / (perAtom * 1e-6) / 1e9
            // Memory by component, per atom: the evaluator's buffers, and the rest of the peak
            // (structure, periodic images, neighbour list, model, runtime).
            let scratchUsage = evaluator.scratchUsage
            let peakBytes = Double(usage.ru_maxrss) * 1024
            let memory = scratchUsage.map { ($0.component, Double($0.bytes) / Double(frame.count)) }
                + [("other", max(0, peakBytes - Double(scratchUsage.reduce(0) { $0 + $1.bytes })) / Double(frame.count))]
            if format == "json" {
                let stageJSON = stageText.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ")
                print("{\"atoms\": \(frame.count), \"us_per_atom\": \(perAtom), \"seconds_median\": \(median), "
                      + "\"threads\": \(threads), \"precision\": \"\(precision.rawValue)\", \"repeat\": \(repetitions), "
                      + "\"peak_rss_mb\": \(peakMB), \"edges_per_atom\": \(edgesPerAtom), "
                      + "\"mflop_per_atom\": \(operations / 1e6), \"canonical_mflop_per_atom\": \(canonicalOperations / 1e6), \"gflops\": \(gflops), \"stages\": {\(stageJSON)}, \"stage_unit\": \"us_per_atom\", "
                      + "\"memory_bytes_per_atom\": {\(memory.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", "))}}")
            } else {
                print("atoms \(frame.count)  threads \(threads)  precision \(precision.rawValue)  median \(String(format: "%.4f", median)) s  "
                      + "\(String(format: "%.1f", perAtom)) us/atom/evaluation  peak RSS \(String(format: "%.0f", peakMB)) MB")
                print("operations: \(String(format: "%.2f", operations / 1e6)) Mflop/atom\(canonicalOperations > 0 ? String(format: " (canonical corrections %.2f)", canonicalOperations / 1e6) : "") (\(String(format: "%.1f", edgesPerAtom)) edges/atom)  achieved \(String(format: "%.2f", gflops)) GFLOP/s")
                print("stages (us/atom, CPU time summed over threads):")
                for (name, value) in stageText { print("  \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(String(format: "%8.1f", value))") }
                print("memory (bytes/atom; 'other' is the rest of the peak RSS):")
                for (name, value) in memory { print("  \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(String(format: "%8.0f", value))") }
            }
        } catch let error as CACEError {
            throw CLIError(error.description)
        }
    }
}
