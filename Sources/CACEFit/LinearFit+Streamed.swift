import CACE
import CACEStructures
import Foundation

extension LinearFit {
    /// Training frames whose design-matrix blocks the streamed solver keeps for the round-trip
    /// check (the file against Psi c): a fixed number, so memory stays flat.
    static let checkedFrames = 8

    /// The solvers that do not keep the design matrix: Cholesky on the normal equations,
    /// accumulated frame by frame (linear-fit.md §5), and the Bayesian solver on a QR streamed
    /// frame by frame (TSQR, `--stream`). Memory is P^2 (plus one block per thread), whatever the
    /// number of frames. The errors come from the fitted model itself, evaluated frame by frame
    /// like `cace evaluate`; a committee is calibrated on the validation frames (their blocks are
    /// computed, so keep that set small) or else on the kept training blocks.
    static func runStreamed(training: [LabelledFrame], validation: [LabelledFrame], options: FitOptions,
                            spec: LinearCACESpec, model: CACEModel,
                            progress: (@Sendable (String) -> Void)?) throws(FitError) -> FitResult {
        let f0 = spec.featureCount, p = f0 + spec.elementCount
        for type in options.configWeights.keys.sorted() where !training.contains(where: { $0.configType == type }) {
            let known = Set(training.map(\.configType)).sorted().joined(separator: " ")
            throw .data("--config-weight \(type): no training frame has config_type=\(type) (types: \(known))")
        }
        let clock = ContinuousClock()
        let start = clock.now
        let (we, wf, wv, factors) = (options.energyWeight, options.forceWeight, options.virialWeight, options.configWeights)
        let (normal, kept) = try NormalEquations.accumulate(
            training, model: model, spec: spec, threads: options.threads, keep: checkedFrames,
            triangular: options.solver == .bayesian,
            weights: { block in block.weights(energy: we, force: wf, virial: wv).map { $0 * (factors[block.configType] ?? 1) } },
            progress: progress, label: "training")
        let featureTime = start.duration(to: clock.now)

        let solveStart = clock.now
        let (scale, activeFeatures) = columnScaling(spec: spec, squares: normal.featureSquares, atomsOf: normal.elementCounts,
                                                    smoothness: options.smoothness)
        let featureColumns = activeFeatures.count
        let active = activeFeatures + Array(f0..<p)
        let na = active.count
        let solution: [Double], condition: Double, lambda: Double, meanDiagonal: Double
        var posterior: BayesianPosterior?
        if let triangular = normal.triangular {
            // R's columns are E0s first, then features: the kept ones in that order, scaled
            let nz = p - f0
            let kept = Array(0..<nz) + activeFeatures.map { nz + $0 }
            let (r, qty, tail) = try triangular.restricted(to: kept, scale: kept.map { $0 < nz ? 1 : scale[$0 - nz] })
            // the mean diagonal of G over the features: the squared column norms of R
            var diagonal = 0.0
            for j in nz..<na { for i in 0...j { diagonal += r[i + j * na] * r[i + j * na] } }
            meanDiagonal = diagonal / Double(max(1, featureColumns))
            let fit = try BayesianPosterior(triangular: r, qty: qty, tail: tail, rows: triangular.rows, featureCount: featureColumns)
            lambda = fit.lambda
            let lo = (fit.values.min() ?? 0) + lambda, hi = (fit.values.max() ?? 0) + lambda
            condition = lo > 0 ? (hi / lo).squareRoot() : .infinity
            solution = fit.mean
            posterior = fit
        } else {
            var (gram, h) = normal.scaled(active: active, scale: scale)
            meanDiagonal = (0..<featureColumns).reduce(0.0) { $0 + gram[$1 * na + $1] } / Double(max(1, featureColumns))
            lambda = options.lambda * meanDiagonal
            for j in 0..<featureColumns { gram[j * na + j] += lambda }
            let eigen = try LAPACK.symmetricEigenvalues(gram, n: na)
            let lo = eigen.first ?? 0, hi = eigen.last ?? 0
            condition = lo > 0 ? (hi / lo).squareRoot() : .infinity
            guard condition < 1e7, let x = try LAPACK.choleskySolve(gram, h, n: na) else {
                throw .numerical("the normal equations are singular or too ill-conditioned for Cholesky (condition number of the scaled system \(format(condition))): use --solver qr, --lambda > 0, or more varied data")
            }
            h = []
            solution = x
        }
        var coefficients = [Double](repeating: 0, count: p)
        for (j, col) in active.enumerated() { coefficients[col] = solution[j] * scale[col] }
        guard coefficients.allSatisfy({ $0.isFinite }) else { throw .numerical("the solution has non-finite coefficients") }
        var e0: [Int: Double] = [:]
        for (z, number) in spec.atomicNumbers.enumerated() { e0[number] = coefficients[f0 + z] }
        let solveTime = solveStart.duration(to: clock.now)
        var committee: [[Double]] = []
        var calibration: CommitteeCalibration?
        if let posterior, options.committee > 0 {
            let members = posterior.samples(options.committee, seed: options.seed).map { draw in
                var c = [Double](repeating: 0, count: p)
                for (j, col) in active.enumerated() { c[col] = draw[j] * scale[col] }
                return c
            }
            let blocks = validation.isEmpty ? kept
                : try computeBlocks(validation, model: model, spec: spec, threads: options.threads, progress: nil, label: "validation")
            let calibrated = Committee.calibrate(members: members, mean: coefficients, blocks: blocks,
                                                 dataSet: validation.isEmpty ? "training (first \(kept.count) frames)" : "validation")
            committee = calibrated.members
            calibration = calibrated.calibration
        }

        let averageNeighbors = Double(normal.edges) / Double(max(1, normal.elementCounts.reduce(0, +)))
        let weights = Array(coefficients[0..<f0])
        let bytes = try spec.modelFile(weights: weights, bias: 0, atomicEnergies: e0, averageNeighbors: averageNeighbors,
                                       source: "cace fit (errors)", fitInfo: .null).bytes()
        let fitted: CACEModel
        do {
            fitted = try CACEModel(container: SafeTensors(bytes: bytes, name: "cace fit"), name: "cace fit")
        } catch {
            throw .internal("the fitted model does not load: \(error.description)")
        }
        let trainPredictions = try predictions(of: training, model: fitted, threads: options.threads)
        let validationPredictions = try predictions(of: validation, model: fitted, threads: options.threads)
        func tables(_ frames: [LabelledFrame], _ predicted: [FramePrediction]) -> [(String, ErrorSummary)] {
            errorTables(types: frames.map(\.configType)) { summary, k in summary.add(frame: frames[k], prediction: predicted[k]) }
        }
        let checked = kept.map { b in b.prediction(b.predict(coefficients), magnitude: b.magnitudes(coefficients).max() ?? 0) }
        return FitResult(spec: spec, options: options, weights: weights, atomicEnergies: e0,
                         rows: normal.observations, unknowns: na, droppedFeatures: f0 - featureColumns, lambdaAbsolute: lambda,
                         lambdaRelative: lambda / max(meanDiagonal, .leastNormalMagnitude),
                         evidence: posterior.map { EvidenceSummary(alpha: $0.alpha, beta: $0.beta, effectiveParameters: $0.gamma,
                                                                    logEvidence: $0.logEvidence, iterations: $0.iterations) },
                         committee: committee, calibration: calibration,
                         conditionNumber: condition, averageNeighbors: averageNeighbors,
                         training: tables(training, trainPredictions),
                         validation: validation.isEmpty ? [] : tables(validation, validationPredictions),
                         trainingPredictions: trainPredictions, checkedPredictions: checked,
                         validationPredictions: validationPredictions,
                         featureSeconds: seconds(featureTime), solveSeconds: seconds(solveTime))
    }

    /// Energies (E0s included), forces and virials of `frames` by the core's evaluator, on
    /// `threads` threads, in frame order.
    static func predictions(of frames: [LabelledFrame], model: CACEModel, threads: Int) throws(FitError) -> [FramePrediction] {
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var out: [FramePrediction?]
            var error: FitError?
            init(_ n: Int) { out = Array(repeating: nil, count: n) }
        }
        let shared = Shared(frames.count)
        let workers = max(1, min(threads, frames.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let evaluator = Evaluator(model: model)
            evaluator.includeAtomicEnergies = true
            for index in stride(from: worker, to: frames.count, by: workers) {
                let frame = frames[index]
                do throws(CACEError) {
                    let r = try evaluator.evaluate(frame.structure)
                    let p = FramePrediction(energy: r.energy, forces: r.forces,
                                            virial: frame.structure.isFullyPeriodic ? r.virial : nil)
                    shared.lock.lock()
                    shared.out[index] = p
                    shared.lock.unlock()
                } catch {
                    shared.lock.lock()
                    if shared.error == nil { shared.error = .core("\(frame.name): \(error.description)") }
                    shared.lock.unlock()
                    return
                }
            }
        }
        if let error = shared.error { throw error }
        return shared.out.map { $0! }
    }
}
