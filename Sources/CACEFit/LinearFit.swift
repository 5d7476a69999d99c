import CACE
import CACEStructures
import Foundation

/// Settings of a linear fit (docs/fitting.md).
public struct FitOptions: Sendable {
    public enum Solver: String, Sendable, CaseIterable {
        /// Householder QR of the weighted, scaled design matrix stacked on sqrt(lambda) I.
        case qr
        /// Cholesky of the normal equations (G + lambda I) c = h, accumulated frame by frame: the
        /// frames' design-matrix blocks are not kept, so memory does not grow with the data.
        case cholesky
        /// Bayesian linear regression: lambda and the noise level maximise the evidence
        /// (normal equations, one eigendecomposition); the posterior gives committees.
        case bayesian
    }

    public var cutoff: Double
    public var maxL = 2
    public var maxNu = 2
    public var radialCount = 8
    public var transform = LinearCACESpec.RadialTransform.pairSums
    public var table = LinearCACESpec.InvariantTable.extended
    /// False: fit the canonical invariants (`LinearCACESpec.selfInteraction`).
    public var selfInteraction = true
    /// lambda relative to the mean diagonal of the scaled normal matrix over the feature columns.
    public var lambda = 1e-10
    /// The smoothness prior's power p (linear-fit.md §4.2); 0 (default): plain ridge on the
    /// normalised columns (docs/fitting.md has the measurements behind the default).
    public var smoothness = 0.0
    public var energyWeight = 30.0
    public var forceWeight = 1.0
    public var virialWeight = 1.0
    /// Factors on every row of the frames of a config_type (1 for types not listed).
    public var configWeights: [String: Double] = [:]
    public var solver = Solver.bayesian
    /// The Bayesian solver without the design matrix in memory: its QR is streamed (TSQR), frame
    /// by frame, so memory does not grow with the data (cholesky always streams).
    public var stream = false
    /// Members of the committee drawn from the Bayesian posterior (0: none; needs the bayesian solver).
    public var committee = 0
    /// Seed of the committee's draws.
    public var seed: UInt64 = 1
    public var threads = 1

    public init(cutoff: Double) { self.cutoff = cutoff }

    public func validate() throws(FitError) {
        guard lambda.isFinite, lambda >= 0 else { throw .argument("--lambda must be >= 0, got \(lambda)") }
        guard smoothness.isFinite, smoothness >= 0, smoothness <= 16 else { throw .argument("--smoothness must be in [0, 16], got \(smoothness)") }
        for (name, w) in [("--energy-weight", energyWeight), ("--force-weight", forceWeight), ("--virial-weight", virialWeight)] {
            guard w.isFinite, w >= 0 else { throw .argument("\(name) must be >= 0, got \(w)") }
        }
        guard energyWeight > 0 || forceWeight > 0 else { throw .argument("--energy-weight and --force-weight are both 0: nothing to fit") }
        for (type, w) in configWeights.sorted(by: { $0.key < $1.key }) {
            guard w.isFinite, w >= 0 else { throw .argument("--config-weight \(type)=\(w): the weight must be >= 0") }
        }
        guard (1...256).contains(threads) else { throw .argument("--threads must be 1-256, got \(threads)") }
        guard (0...1024).contains(committee) else { throw .argument("--committee must be 0-1024, got \(committee)") }
        guard committee == 0 || committee >= 2 else { throw .argument("--committee needs at least 2 members, got 1") }
        guard !stream || solver != .qr else {
            throw .argument("--stream applies to --solver bayesian (cholesky always streams; qr keeps the design matrix)")
        }
        guard committee == 0 || solver == .bayesian else {
            throw .argument("--committee needs --solver bayesian (the committee is drawn from its posterior)")
        }
    }
}

/// RMSE and MAE of one set of frames: energy per atom (eV/atom), force components (eV/A),
/// virial components per atom (eV/atom, frames with a reference virial only).
public struct ErrorSummary: Sendable {
    public var frames = 0
    public var atoms = 0
    public var energyRMSE = 0.0, energyMAE = 0.0
    public var forceRMSE = 0.0, forceMAE = 0.0
    public var virialFrames = 0
    public var virialRMSE = 0.0, virialMAE = 0.0

    /// Accumulates squared and absolute errors; `finish` turns the sums into means.
    mutating func add(block: FrameBlock, predicted: [Double]) {
        frames += 1
        atoms += block.atoms
        let de = (predicted[0] - block.targets[0]) / Double(block.atoms)
        energyRMSE += de * de; energyMAE += abs(de)
        for r in block.forceRows {
            let df = predicted[r] - block.targets[r]
            forceRMSE += df * df; forceMAE += abs(df)
        }
        if block.hasVirialTarget {
            virialFrames += 1
            for r in block.virialRowRange {
                let dv = (predicted[r] - block.targets[r]) / Double(block.atoms)
                virialRMSE += dv * dv; virialMAE += abs(dv)
            }
        }
    }

    /// The same for a prediction made by the written model (the streamed solver keeps no blocks).
    mutating func add(frame: LabelledFrame, prediction p: FramePrediction) {
        frames += 1
        let n = frame.structure.count
        atoms += n
        let de = (p.energy - frame.energy) / Double(n)
        energyRMSE += de * de; energyMAE += abs(de)
        for (a, b) in zip(p.forces, frame.forces) {
            forceRMSE += (a - b) * (a - b); forceMAE += abs(a - b)
        }
        if let w = frame.virial, let v = p.virial {
            virialFrames += 1
            for (i, j) in FrameBlock.virialComponents {
                let dv = (v[3 * i + j] - w[3 * i + j]) / Double(n)
                virialRMSE += dv * dv; virialMAE += abs(dv)
            }
        }
    }

    mutating func finish() {
        let nf = Double(max(1, frames)), nc = Double(max(1, 3 * atoms)), nv = Double(max(1, 6 * virialFrames))
        energyRMSE = (energyRMSE / nf).squareRoot(); energyMAE /= nf
        forceRMSE = (forceRMSE / nc).squareRoot(); forceMAE /= nc
        virialRMSE = (virialRMSE / nv).squareRoot(); virialMAE /= nv
    }
}

/// The fit's own predictions for one frame (E0s included).
public struct FramePrediction: Sendable {
    public var energy: Double
    /// [N][3]
    public var forces: [Double]
    /// 3x3 row-major (W = -dE/d(strain)), fully periodic frames only.
    public var virial: [Double]?
    /// The largest |Psi| |c| over the frame's energy, force and virial rows: the scale of its round-off.
    public var magnitude: Double = 0
}

/// The outcome of `LinearFit.run`.
public struct FitResult: Sendable {
    public var spec: LinearCACESpec
    public var options: FitOptions
    /// Read-out weights per feature (upstream order), 0 for dropped columns.
    public var weights: [Double]
    /// Fitted reference energy per atomic number.
    public var atomicEnergies: [Int: Double]
    /// Sizes: observations (rows with a non-zero weight), unknowns (active columns), features.
    public var rows: Int
    public var unknowns: Int
    /// Features left out: never non-zero in the training data, or redundant (`redundantFeatures`).
    public var droppedFeatures: Int
    /// lambda as used (absolute, in the scaled problem).
    public var lambdaAbsolute: Double
    /// lambda relative to the mean diagonal (the --lambda scale): the option, or the evidence's choice.
    public var lambdaRelative: Double
    /// The Bayesian solver's hyperparameters and evidence, nil for the other solvers.
    public var evidence: EvidenceSummary?
    /// Committee members drawn from the posterior, calibrated: all P coefficients each (features, then E0 per element).
    public var committee: [[Double]] = []
    public var calibration: CommitteeCalibration?
    /// Condition number of the scaled, regularised system [W Psi (Gamma D)^-1 ; sqrt(lambda) I].
    public var conditionNumber: Double
    public var averageNeighbors: Double
    /// Error summaries: "all" first, then per config_type, sorted.
    public var training: [(String, ErrorSummary)]
    public var validation: [(String, ErrorSummary)]
    public var trainingPredictions: [FramePrediction]
    /// The fit's predictions from the design matrix Psi c, for the first frames of the training
    /// data (all frames, except with the streamed Cholesky solver, which keeps a few blocks only
    /// and predicts with the written model): what the round-trip check compares with the file.
    public var checkedPredictions: [FramePrediction]
    public var validationPredictions: [FramePrediction]
    public var featureSeconds: Double
    public var solveSeconds: Double

    /// The largest ratio, over the training frames, of |Psi| |c| to the largest |prediction| of the
    /// frame: how much the fitted coefficients cancel. Single precision keeps about
    /// 1e-7 times it, relative.
    public var cancellation: Double {
        zip(checkedPredictions, checkedPredictions.map { p in
            max(abs(p.energy), p.forces.map { abs($0) }.max() ?? 0, p.virial?.map { abs($0) }.max() ?? 0, 1e-300)
        }).map { $0.magnitude / $1 }.max() ?? 0
    }

    /// All P coefficients (features, then E0 per element).
    var coefficients: [Double] { weights + spec.atomicNumbers.map { atomicEnergies[$0] ?? 0 } }

    /// The model file of the fitted potential.
    public func modelFile(source: String) throws(FitError) -> SafeTensorsWriter {
        let info: JSONValue = .object([
            ("method", .string("linear least squares (cace fit)")),
            ("solver", .string(options.solver.rawValue)),
            ("radial_transform", .string(spec.transform.rawValue)),
            ("invariant_table", .string(spec.table.rawValue)),
            ("lambda_relative", .number(lambdaRelative)), ("lambda_absolute", .number(lambdaAbsolute)),
            ("smoothness_power", .number(options.smoothness)),
            ("weights", .object([("energy", .number(options.energyWeight)), ("forces", .number(options.forceWeight)),
                                 ("virial", .number(options.virialWeight)),
                                 ("convention", .string("rows weighted W_E/sqrt(N), W_F, W_V/sqrt(N) (ACEpotentials)"))])),
            ("condition_number", .number(conditionNumber.isFinite ? conditionNumber : -1)),
            ("evidence", evidence.map { e in .object([("alpha", .number(e.alpha)), ("beta", .number(e.beta)),
                                                      ("effective_parameters", .number(e.effectiveParameters)),
                                                      ("log_evidence", .number(e.logEvidence))]) } ?? .null),
            ("committee_calibration", calibration.map { c in .object([
                ("data", .string(c.dataSet)), ("scale", .number(c.scale)),
                ("force_within_1_sigma", .number(c.forceWithin1)), ("force_within_2_sigma", .number(c.forceWithin2))]) } ?? .null),
            ("rows", .int(rows)), ("unknowns", .int(unknowns)),
        ])
        return try spec.modelFile(weights: weights, bias: 0, atomicEnergies: atomicEnergies,
                                  averageNeighbors: averageNeighbors, source: source, fitInfo: info, committee: committee)
    }
}

public enum LinearFit {
    /// The representation's model with zero read-out weights, for the features.
    static func featureModel(_ spec: LinearCACESpec) throws(FitError) -> CACEModel {
        let bytes = try spec.modelFile(weights: Array(repeating: 0, count: spec.featureCount), bias: 0, atomicEnergies: [:],
                                       averageNeighbors: nil, source: "cace fit (features)", fitInfo: .null).bytes()
        do {
            return try CACEModel(container: SafeTensors(bytes: bytes, name: "cace fit"), name: "cace fit")
        } catch {
            throw .internal("the constructed model does not load: \(error.description)")
        }
    }

    /// Fits a linear CACE model to `training` and reports errors on `training` and `validation`.
    public static func run(training: [LabelledFrame], validation: [LabelledFrame] = [], options: FitOptions,
                           progress: (@Sendable (String) -> Void)? = nil) throws(FitError) -> FitResult {
        try options.validate()
        guard !training.isEmpty else { throw .data("no training frames") }
        let elements = Set(training.flatMap { $0.structure.atomicNumbers }).sorted()
        for frame in validation {
            for z in Set(frame.structure.atomicNumbers) where !elements.contains(z) {
                let symbol = Elements.symbol(of: z) ?? "Z=\(z)"
                throw .data("\(frame.name) has \(symbol), which no training frame has (training elements: \(elements.map { Elements.symbol(of: $0) ?? "Z=\($0)" }.joined(separator: " ")))")
            }
        }
        var spec = LinearCACESpec(atomicNumbers: elements, cutoff: options.cutoff, maxL: options.maxL, maxNu: options.maxNu,
                                  radialCount: options.radialCount, transform: options.transform, table: options.table)
        try spec.validate()
        spec.atomicNumbers = elements
        spec.selfInteraction = options.selfInteraction
        let model = try featureModel(spec)
        if options.solver == .cholesky || options.stream {
            return try runStreamed(training: training, validation: validation, options: options, spec: spec, model: model,
                                   progress: progress)
        }
        let f0 = spec.featureCount, nz = spec.elementCount, p = f0 + nz

        let clock = ContinuousClock()
        let start = clock.now
        let blocks = try computeBlocks(training, model: model, spec: spec, threads: options.threads, progress: progress, label: "training")
        let validationBlocks = try computeBlocks(validation, model: model, spec: spec, threads: options.threads, progress: progress, label: "validation")
        let featureTime = start.duration(to: clock.now)

        // Column scaling D (RMS of each feature over the atoms of its receiver element; 1 for the
        // E0 columns) and the smoothness prior Gamma; features that never occur are dropped.
        var squares = [Double](repeating: 0, count: f0)
        var atomsOf = [Int](repeating: 0, count: nz)
        for b in blocks {
            for f in 0..<f0 { squares[f] += b.featureSquares[f] }
            for z in 0..<nz { atomsOf[z] += b.elementCounts[z] }
        }
        let (scale, activeFeatures) = columnScaling(spec: spec, squares: squares, atomsOf: atomsOf, smoothness: options.smoothness)
        var active = activeFeatures
        let featureColumns = active.count
        active += (f0..<p)
        let na = active.count
        let averageNeighbors = Double(blocks.reduce(0) { $0 + $1.edges }) / Double(max(1, atomsOf.reduce(0, +)))

        let solveStart = clock.now
        for type in options.configWeights.keys.sorted() where !blocks.contains(where: { $0.configType == type }) {
            let known = Set(blocks.map(\.configType)).sorted().joined(separator: " ")
            throw .data("--config-weight \(type): no training frame has config_type=\(type) (types: \(known))")
        }
        let weightsOf = blocks.map { block in
            let factor = options.configWeights[block.configType] ?? 1
            return block.weights(energy: options.energyWeight, force: options.forceWeight, virial: options.virialWeight)
                .map { $0 * factor }
        }
        let observations = weightsOf.reduce(0) { $0 + $1.filter { $0 != 0 }.count }
        // The scaled, weighted block of one frame over the active columns, and its targets.
        func scaledBlock(_ k: Int) -> (a: [Double], y: [Double], m: Int) {
            let b = blocks[k], w = weightsOf[k], m = b.rows
            var a = [Double](repeating: 0, count: m * na)
            for (j, col) in active.enumerated() {
                let s = scale[col]
                for r in 0..<m { a[j * m + r] = b.design[col * m + r] * w[r] * s }
            }
            return (a, zip(b.targets, w).map { $0 * $1 }, m)
        }
        // The rows with a non-zero weight stacked into one matrix (observations x na, column-major),
        // followed by `extraRows` zero rows: QR and the Bayesian solver factorise it.
        func stackedSystem(extraRows: Int) -> (a: [Double], y: [Double], m: Int) {
            let m = observations + extraRows
            var a = [Double](repeating: 0, count: m * na)
            var y = [Double](repeating: 0, count: m)
            var row = 0
            for k in 0..<blocks.count {
                let (bk, yk, mk) = scaledBlock(k)
                let w = weightsOf[k]
                for r in 0..<mk where w[r] != 0 {
                    for j in 0..<na { a[j * m + row] = bk[j * mk + r] }
                    y[row] = yk[r]
                    row += 1
                }
            }
            return (a, y, m)
        }
        // The diagonal of G = A^T A sets the scale of lambda.
        var diagonal = [Double](repeating: 0, count: na)
        for k in 0..<blocks.count {
            let (a, _, m) = scaledBlock(k)
            for j in 0..<featureColumns { for r in 0..<m { diagonal[j] += a[j * m + r] * a[j * m + r] } }
        }
        let meanDiagonal = diagonal.reduce(0, +) / Double(max(1, featureColumns))
        var lambda = options.lambda * meanDiagonal

        var solution: [Double]
        var condition: Double
        var posterior: BayesianPosterior?
        switch options.solver {
        case .bayesian:
            let (a, y, m) = stackedSystem(extraRows: 0)
            let fit = try BayesianPosterior(design: a, rows: m, targets: y, featureCount: featureColumns)
            lambda = fit.lambda
            // Of the regularised feature system with the E0s integrated out: sqrt((s_max^2 + lambda) / (s_min^2 + lambda)).
            let lo = (fit.values.min() ?? 0) + lambda, hi = (fit.values.max() ?? 0) + lambda
            condition = lo > 0 ? (hi / lo).squareRoot() : .infinity
            solution = fit.mean
            posterior = fit
        case .cholesky:
            throw .internal("the Cholesky solver streams the normal equations (runStreamed)")
        case .qr:
            let m = observations + featureColumns
            guard m >= na else {
                throw .numerical("\(observations) observations for \(na) unknowns: too few (add frames or use --lambda > 0)")
            }
            let stacked = stackedSystem(extraRows: featureColumns)
            var a = stacked.a
            let y = stacked.y, row = observations
            let root = lambda.squareRoot()
            for j in 0..<featureColumns { a[j * m + row + j] = root }
            let (x, rDiagonal) = try LAPACK.qrSolve(&a, m: m, n: na, y: y)
            var r = [Double](repeating: 0, count: na * na)
            for j in 0..<na { for i in 0...j { r[j * na + i] = a[j * m + i] } }
            let sv = try LAPACK.singularValues(r, m: na, n: na)
            condition = (sv.last ?? 0) > 0 ? sv[0] / sv[sv.count - 1] : .infinity
            let largest = rDiagonal.map { abs($0) }.max() ?? 0
            let smallest = rDiagonal.map { abs($0) }.min() ?? 0
            guard let x, condition < 1e12, smallest > 1e-14 * largest else {
                throw .numerical("the least-squares system is singular (condition number of the scaled system \(format(condition))): use --lambda > 0 or more varied data (\(na) unknowns, \(observations) observations)")
            }
            solution = x
        }
        let solveTime = solveStart.duration(to: clock.now)

        var coefficients = [Double](repeating: 0, count: p)
        for (j, col) in active.enumerated() { coefficients[col] = solution[j] * scale[col] }
        guard coefficients.allSatisfy({ $0.isFinite }) else { throw .numerical("the solution has non-finite coefficients") }
        var e0: [Int: Double] = [:]
        for (z, number) in elements.enumerated() { e0[number] = coefficients[f0 + z] }
        // Committee members in the original coordinates, calibrated on held-out frames if there are any.
        var committee: [[Double]] = []
        var calibration: CommitteeCalibration?
        if let posterior, options.committee > 0 {
            let members = posterior.samples(options.committee, seed: options.seed).map { draw in
                var c = [Double](repeating: 0, count: p)
                for (j, col) in active.enumerated() { c[col] = draw[j] * scale[col] }
                return c
            }
            let calibrated = Committee.calibrate(members: members, mean: coefficients,
                                                 blocks: validation.isEmpty ? blocks : validationBlocks,
                                                 dataSet: validation.isEmpty ? "training" : "validation")
            committee = calibrated.members
            calibration = calibrated.calibration
        }

        func evaluate(_ blocks: [FrameBlock]) -> ([(String, ErrorSummary)], [FramePrediction]) {
            let ys = blocks.map { $0.predict(coefficients) }
            let tables = errorTables(types: blocks.map(\.configType)) { summary, k in summary.add(block: blocks[k], predicted: ys[k]) }
            return (tables, zip(blocks, ys).map { b, y in b.prediction(y, magnitude: b.magnitudes(coefficients).max() ?? 0) })
        }
        let (trainErrors, trainPredictions) = evaluate(blocks)
        let (validationErrors, validationPredictions) = validation.isEmpty ? ([], []) : evaluate(validationBlocks)
        return FitResult(spec: spec, options: options, weights: Array(coefficients[0..<f0]), atomicEnergies: e0,
                         rows: observations, unknowns: na, droppedFeatures: f0 - featureColumns, lambdaAbsolute: lambda,
                         lambdaRelative: lambda / max(meanDiagonal, .leastNormalMagnitude),
                         evidence: posterior.map { EvidenceSummary(alpha: $0.alpha, beta: $0.beta, effectiveParameters: $0.gamma,
                                                                    logEvidence: $0.logEvidence, iterations: $0.iterations) },
                         committee: committee, calibration: calibration,
                         conditionNumber: condition, averageNeighbors: averageNeighbors,
                         training: trainErrors, validation: validationErrors,
                         trainingPredictions: trainPredictions, checkedPredictions: trainPredictions,
                         validationPredictions: validationPredictions,
                         featureSeconds: seconds(featureTime), solveSeconds: seconds(solveTime))
    }

    static func format(_ x: Double) -> String { x.isFinite ? String(format: "%.3g", x) : "infinite" }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

    /// The error summaries of frames of the given config types: "all" first, then one per type
    /// (sorted) unless every frame is "default". `add` adds frame k to a summary.
    static func errorTables(types: [String], add: (inout ErrorSummary, Int) -> Void) -> [(String, ErrorSummary)] {
        var groups: [String: ErrorSummary] = [:]
        var all = ErrorSummary()
        for (k, type) in types.enumerated() {
            add(&all, k)
            add(&groups[type, default: ErrorSummary()], k)
        }
        all.finish()
        var out = [("all", all)]
        if groups.count > 1 || groups.keys.first != "default" {
            for key in groups.keys.sorted() {
                var g = groups[key]!
                g.finish()
                out.append((key, g))
            }
        }
        return out
    }

    /// Column scaling 1 / (gamma D) per feature (D: the RMS of the feature over the atoms of its
    /// receiver element; gamma: the smoothness prior), and the feature columns kept: those that
    /// occur and are not redundant. The E0 columns (after the features) keep scale 1.
    static func columnScaling(spec: LinearCACESpec, squares: [Double], atomsOf: [Int],
                              smoothness: Double) -> (scale: [Double], active: [Int]) {
        let f0 = spec.featureCount
        let gamma = spec.smoothness(power: smoothness)
        var scale = [Double](repeating: 1, count: f0 + spec.elementCount)
        var active: [Int] = []
        let redundant = spec.redundantFeatures()
        for f in 0..<f0 {
            let rms = (squares[f] / Double(max(1, atomsOf[spec.receiverElement(ofFeature: f)]))).squareRoot()
            if rms > 0, rms.isFinite, !redundant[f] {
                scale[f] = 1 / (gamma[f] * rms)
                active.append(f)
            }
        }
        return (scale, active)
    }
}

/// How far `cace evaluate` on a written model file is from the fit's own predictions, relative
/// to the scale of their round-off: max(1, the frame's |Psi| |c|), since predictions are sums of
/// terms that can be much larger than the result.
public struct RoundTripDeviation: Sendable {
    /// Largest |E_file - E_fit| / max(1, |E_fit|, magnitude) over the frames (E0s included).
    public var energy = 0.0
    /// Largest |F_file - F_fit| / max(1, max |F_fit|, magnitude) over the frames.
    public var force = 0.0
    /// Largest |W_file - W_fit| / max(1, max |W_fit|, magnitude) over the periodic frames.
    public var virial = 0.0
    public var largest: Double { max(energy, force, virial) }
}

extension LinearFit {
    /// Loads the model file at `path` and evaluates `frames` with the core's evaluator (E0s
    /// included, as `cace evaluate` does), against the fit's predictions for the same frames.
    public static func roundTrip(modelPath path: String, frames: [LabelledFrame],
                                 predictions: [FramePrediction]) throws(FitError) -> RoundTripDeviation {
        let model: CACEModel
        do { model = try CACEModel(contentsOf: path) } catch { throw .core(error.description) }
        let evaluator = Evaluator(model: model)
        evaluator.includeAtomicEnergies = true
        var out = RoundTripDeviation()
        for (frame, p) in zip(frames, predictions) {
            let r: StructureResult
            do { r = try evaluator.evaluate(frame.structure) } catch { throw .core("\(frame.name): \(error.description)") }
            out.energy = max(out.energy, abs(r.energy - p.energy) / max(1, abs(p.energy), p.magnitude))
            let fScale = max(1, p.forces.map { abs($0) }.max() ?? 0, p.magnitude)
            for (a, b) in zip(r.forces, p.forces) { out.force = max(out.force, abs(a - b) / fScale) }
            if let w = p.virial {
                let wScale = max(1, w.map { abs($0) }.max() ?? 0, p.magnitude)
                for (a, b) in zip(r.virial, w) { out.virial = max(out.virial, abs(a - b) / wScale) }
            }
        }
        return out
    }
}
