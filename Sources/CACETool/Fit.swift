import ArgumentParser
import CACE
import CACEFit
import CACEStructures
import Foundation

extension FitOptions.Solver: ExpressibleByArgument {}
extension LinearCACESpec.RadialTransform: ExpressibleByArgument {}
extension LinearCACESpec.InvariantTable: ExpressibleByArgument {}

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit a linear CACE potential (T = 0, linear read-out) to energies, forces and virials by least squares.",
        discussion: """
            Training (and validation) data: extended XYZ with energy= on the comment line and a forces:R:3 \
            column in every frame; virial= (3x3, eV) or stress= (ASE sign) on fully periodic frames adds \
            virial rows; config_type= groups the error report. Rows are weighted W_E/sqrt(N), W_F and \
            W_V/sqrt(N) (ACEpotentials' convention); columns are normalised and penalised by the smoothness \
            prior (--smoothness p; 0, the default: plain ridge) times --lambda (relative to the mean diagonal of the scaled \
            normal matrix). Per-element reference energies are fitted without penalty and stored in \
            atomic_energies. Every option can also come from a JSON file (--config; keys are the long \
            option names, e.g. {"training": "train.xyz", "cutoff": 3.9, "max-l": 2, "config-weight": \
            {"liquid": 2}}); options on the command line override it. See docs/fitting.md.
            """)

    @Argument(help: "Training data (extended XYZ); or \"training\" in the --config file.")
    var training: String?

    @Option(help: "A JSON file of options (keys: the long option names, and \"training\"); command-line options override it.")
    var config: String?

    @Option(help: "Model file to write (.safetensors).")
    var output: String?

    @Option(help: "Cutoff radius (Angstrom).")
    var cutoff: Double?

    @Option(help: "Highest angular degree L (0-4; default 2).")
    var maxL: Int?

    @Option(help: "Highest body order nu (1-4; default 2).")
    var maxNu: Int?

    @Option(help: "Number of Bessel radial functions (default 8).")
    var radial: Int?

    @Option(help: "Fixed radial transform: pairs (default: R_a and R_a + R_b, M = n(n+1)/2) or identity (M = n).")
    var transform: LinearCACESpec.RadialTransform?

    @Option(help: "Invariant table: extended (default: upstream's plus the l = 0 contractions) or upstream.")
    var table: LinearCACESpec.InvariantTable?

    @Option(help: "Invariants: self (upstream's, default) or canonical (sums over pairwise distinct edges; format version 2).")
    var basis: Convert.Basis?

    @Option(help: "Regularisation strength, relative to the mean diagonal of the scaled normal matrix (qr and cholesky; bayesian chooses it, default for the others 1e-10).")
    var lambda: Double?

    @Option(help: "Power p of the algebraic smoothness prior (default 0: none; ACEpotentials uses 4).")
    var smoothness: Double?

    @Option(help: "Energy weight W_E (rows weighted W_E / sqrt(N); default 30).")
    var energyWeight: Double?

    @Option(help: "Force weight W_F (default 1).")
    var forceWeight: Double?

    @Option(help: "Virial weight W_V (rows weighted W_V / sqrt(N); default 1).")
    var virialWeight: Double?

    @Option(name: .customLong("config-weight"), help: "TYPE=W: multiply the weights of every row of the frames with config_type=TYPE by W (repeatable).")
    var configWeights: [String] = []

    @Option(help: "Validation data (extended XYZ), reported but not fitted.")
    var validation: String?

    @Option(help: "Solver: bayesian (default: lambda and the noise level maximise the evidence), qr (Householder QR) or cholesky (normal equations accumulated frame by frame: memory does not grow with the data).")
    var solver: FitOptions.Solver?

    @Flag(help: "With --solver bayesian: stream its QR frame by frame (TSQR) instead of holding the design matrix, so memory does not grow with the data (cholesky always streams).")
    var stream = false

    @Option(help: "Committee members drawn from the Bayesian posterior and stored in the model file (default 0: none), for uncertainties.")
    var committee: Int?

    @Option(help: "Seed of the committee's random draws (default 1).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Worker threads for the features (default: all cores).")
    var threads: Int?

    @Option(help: "Write the fit's predictions and the reference energies and forces (training and validation) to this JSON file.")
    var predictions: String?

    @Option(help: "Draw parity plots of energy per atom and force components to this PNG (runs python3 -m pair_cace.parity; needs matplotlib).")
    var parityPlot: String?

    @Flag(help: "Do not print progress to standard error.")
    var quiet = false

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let file = try config.map { try FitConfig(path: $0) }
        guard let training = self.training ?? file?.path("training") else {
            throw CLIError("no training data: give TRAIN.xyz or \"training\" in the --config file")
        }
        guard let output = self.output ?? file?.path("output") else {
            throw CLIError("no model file to write: give --output MODEL.safetensors or \"output\" in the --config file")
        }
        guard let cutoff = self.cutoff ?? file?.cutoff else {
            throw CLIError("no cutoff: give --cutoff RC (Angstrom) or \"cutoff\" in the --config file")
        }
        let validation = self.validation ?? file?.path("validation")
        let predictions = self.predictions ?? file?.path("predictions")
        let parityPlot = self.parityPlot ?? file?.path("parity-plot")
        let quiet = self.quiet || (file?.quiet ?? false)
        let solver = try self.solver ?? file?.choice("solver", FitOptions.Solver.self) ?? .bayesian
        var options = FitOptions(cutoff: cutoff)
        options.maxL = self.maxL ?? file?.maxL ?? options.maxL
        options.maxNu = self.maxNu ?? file?.maxNu ?? options.maxNu
        options.radialCount = self.radial ?? file?.radial ?? options.radialCount
        options.transform = try self.transform ?? file?.choice("transform", LinearCACESpec.RadialTransform.self) ?? options.transform
        options.table = try self.table ?? file?.choice("table", LinearCACESpec.InvariantTable.self) ?? options.table
        options.selfInteraction = (try self.basis ?? file?.choice("basis", Convert.Basis.self) ?? .selfInteracting) == .selfInteracting
        if let lambda = self.lambda ?? file?.lambda {
            guard solver != .bayesian else {
                throw CLIError("--lambda is chosen by the evidence with --solver bayesian: use --solver qr or cholesky to set it")
            }
            options.lambda = lambda
        }
        options.smoothness = self.smoothness ?? file?.smoothness ?? options.smoothness
        options.committee = self.committee ?? file?.committee ?? options.committee
        options.seed = self.seed ?? file?.seed ?? options.seed
        options.configWeights = file?.configWeights ?? [:]
        for item in configWeights {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, let w = Double(parts[1]) else {
                throw CLIError("--config-weight expects TYPE=WEIGHT (for example liquid=2), got '\(item)'")
            }
            options.configWeights[parts[0]] = w
        }
        options.energyWeight = self.energyWeight ?? file?.energyWeight ?? options.energyWeight
        options.forceWeight = self.forceWeight ?? file?.forceWeight ?? options.forceWeight
        options.virialWeight = self.virialWeight ?? file?.virialWeight ?? options.virialWeight
        options.solver = solver
        options.stream = self.stream || (file?.stream ?? false)
        options.threads = self.threads ?? file?.threads ?? ProcessInfo.processInfo.activeProcessorCount
        do {
            let trainFrames = try LabelledFrame.frames(try readStructures(training), file: training)
            let validationFrames = try validation.map { try LabelledFrame.frames(try readStructures($0), file: $0) } ?? []
            let report: @Sendable (String) -> Void = { message in
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
            let progress = quiet ? nil : report
            let result = try LinearFit.run(training: trainFrames, validation: validationFrames, options: options, progress: progress)
            let source = "cace fit \(training)\(validation.map { " (validation \($0))" } ?? ""): \(options.solver.rawValue), lambda \(String(format: "%.3e", result.lambdaRelative))"
            try result.modelFile(source: source).write(to: output)
            let check = try LinearFit.roundTrip(modelPath: output, frames: trainFrames, predictions: result.checkedPredictions)
            print(FitReport.text(result, output: output, roundTrip: check, seconds: seconds(start.duration(to: clock.now))))
            if predictions != nil || parityPlot != nil {
                let path = predictions ?? (parityPlot! + ".predictions.json")
                let text = FitPredictions.json(training: trainFrames, trainingPredictions: result.trainingPredictions,
                                               validation: validationFrames, validationPredictions: result.validationPredictions)
                do { try AtomicFile.write(Array(text.utf8), to: path) } catch { throw CLIError(error.description) }
                if let parityPlot {
                    try FitPredictions.plot(predictions: path, output: parityPlot)
                    if predictions == nil { try? FileManager.default.removeItem(atPath: path) }
                    print("parity plots: \(parityPlot)")
                }
            }
            guard check.largest <= 1e-10 else {
                throw CLIError("the written model disagrees with the fit's predictions by \(check.largest) (relative): please report this")
            }
        } catch let error as FitError {
            throw CLIError(error.description)
        }
    }

    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
}

enum FitReport {
    static func text(_ r: FitResult, output: String, roundTrip: RoundTripDeviation, seconds: Double) -> String {
        let s = r.spec
        var lines: [String] = []
        lines.append("model: \(output)")
        lines.append("  elements \(s.atomicNumbers.map { Elements.symbol(of: $0) ?? "Z\($0)" }.joined(separator: " ")), cutoff \(s.cutoff), L \(s.maxL), nu \(s.maxNu), \(s.radialCount) Bessel, transform \(s.transform.rawValue) (M = \(s.mixedCount)), table \(s.table.rawValue) (S = \(s.invariants.count)), basis \(s.selfInteraction ? "self" : "canonical")")
        lines.append("  features \(s.featureCount) (\(r.droppedFeatures) redundant or never non-zero, dropped), unknowns \(r.unknowns), observations \(r.rows)")
        lines.append("  E0: " + s.atomicNumbers.map { "\(Elements.symbol(of: $0) ?? "Z\($0)") \(String(format: "%.6f", r.atomicEnergies[$0] ?? 0))" }.joined(separator: ", ") + " eV")
        lines.append("solver \(r.options.solver.rawValue), lambda \(String(format: "%.3e", r.lambdaRelative)) (absolute \(String(format: "%.3e", r.lambdaAbsolute))), smoothness p = \(r.options.smoothness), weights E \(r.options.energyWeight) F \(r.options.forceWeight) V \(r.options.virialWeight)")
        if let e = r.evidence {
            lines.append("evidence: alpha \(String(format: "%.3e", e.alpha)), beta \(String(format: "%.3e", e.beta)) (noise s = \(String(format: "%.3e", 1 / e.beta.squareRoot())) per weighted row), effective parameters \(String(format: "%.1f", e.effectiveParameters)) of \(r.unknowns), log evidence \(String(format: "%.6e", e.logEvidence)), \(e.iterations) iterations")
        }
        if let c = r.calibration {
            lines.append("committee: \(r.committee.count) members, spread scaled by \(String(format: "%.3f", c.scale)) on the \(c.dataSet) frames; within 1 and 2 sigma: forces \(String(format: "%.1f", 100 * c.forceWithin1)) % and \(String(format: "%.1f", 100 * c.forceWithin2)) % of \(c.forceComponents) components, energies \(String(format: "%.1f", 100 * c.energyWithin1)) % and \(String(format: "%.1f", 100 * c.energyWithin2)) % of \(c.frames) frames (Gaussian: 68.3 % and 95.4 %)")
        }
        lines.append("condition number of the scaled system: \(String(format: "%.3e", r.conditionNumber))")
        let cancellation = r.cancellation
        lines.append("cancellation of the coefficients (largest |Psi||c| / |prediction| of a frame): \(String(format: "%.1e", cancellation))"
                     + (cancellation > 1e5 ? "; precision single would lose about \(String(format: "%.0e", 1e-7 * cancellation)) relative: evaluate in double, or regularise more (--solver qr --lambda 1e-10)" : ""))
        lines.append("time: features \(String(format: "%.2f", r.featureSeconds)) s, solve \(String(format: "%.2f", r.solveSeconds)) s, total \(String(format: "%.2f", seconds)) s")
        let checked = r.checkedPredictions.count < r.trainingPredictions.count ? " (first \(r.checkedPredictions.count) training frames)" : ""
        lines.append("round trip\(checked) (cace evaluate on the written file vs the fit, relative): energy \(String(format: "%.1e", roundTrip.energy)), forces \(String(format: "%.1e", roundTrip.force)), virial \(String(format: "%.1e", roundTrip.virial))")
        func table(_ title: String, _ rows: [(String, ErrorSummary)]) {
            guard !rows.isEmpty else { return }
            lines.append(title)
            lines.append("  " + "config_type".padding(toLength: 16, withPad: " ", startingAt: 0)
                         + " frames  atoms  E RMSE    E MAE   (meV/atom)  F RMSE   F MAE   (eV/A)  V RMSE   V MAE  (meV/atom)")
            for (name, e) in rows {
                var line = "  " + String(name.prefix(16)).padding(toLength: 16, withPad: " ", startingAt: 0)
                line += String(format: " %6d %6d  %8.3f %8.3f            %7.4f  %7.4f         ", e.frames, e.atoms,
                               1000 * e.energyRMSE, 1000 * e.energyMAE, e.forceRMSE, e.forceMAE)
                line += e.virialFrames > 0 ? String(format: "%7.3f  %7.3f", 1000 * e.virialRMSE, 1000 * e.virialMAE) : "      -        -"
                lines.append(line)
            }
        }
        table("training errors:", r.training)
        table("validation errors:", r.validation)
        return lines.joined(separator: "\n")
    }
}
