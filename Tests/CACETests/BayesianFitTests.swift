import Foundation
import XCTest
@testable import CACE
@testable import CACEFit
@testable import CACEStructures

/// The Bayesian solver of `cace fit` (evidence maximisation) and its committees, first on plain
/// linear regression problems with a known answer, then through the whole fit.
final class BayesianFitTests: XCTestCase {
    /// y = A c* + noise: `features` random columns, then `fixed` indicator columns (like E0s).
    struct Problem {
        var design: [Double], targets: [Double], rows: Int
        var truth: [Double]
        func row(_ r: Int) -> [Double] { (0..<(design.count / rows)).map { design[r + $0 * rows] } }
    }

    static func problem(rows m: Int, features nf: Int, fixed n0: Int, noise: Double, seed: UInt64,
                        permutation: Bool = false) -> Problem {
        var random = SplitMix64(seed: seed)
        let n = nf + n0
        let truth = (0..<n).map { j in j < nf ? random.normal() * 0.3 : -2.0 - Double(j - nf) }
        var rows: [[Double]] = []
        var targets: [Double] = []
        for r in 0..<m {
            var row = (0..<nf).map { _ in random.normal() }
            row += (0..<n0).map { Double(($0 == r % max(1, n0)) ? 1 : 0) * 3 }
            rows.append(row)
            targets.append(zip(row, truth).reduce(0) { $0 + $1.0 * $1.1 } + noise * random.normal())
        }
        if permutation { rows.reverse(); targets.reverse() }
        var design = [Double](repeating: 0, count: m * n)
        for r in 0..<m { for j in 0..<n { design[r + j * m] = rows[r][j] } }
        return Problem(design: design, targets: targets, rows: m, truth: truth)
    }

    static func posterior(_ p: Problem, features nf: Int) throws -> BayesianPosterior {
        try BayesianPosterior(design: p.design, rows: p.rows, targets: p.targets, featureCount: nf)
    }

    /// Nearly collinear features (a condition number near 1e10, as real fits have) with tiny
    /// noise: the evidence stays finite and the fit accurate (the normal equations would square
    /// the condition number to 1e20, beyond double precision).
    func testEvidenceOnNearlyCollinearFeatures() throws {
        var p = Self.problem(rows: 400, features: 20, fixed: 1, noise: 1e-7, seed: 21)
        for r in 0..<p.rows { p.design[r + 19 * p.rows] = p.design[r + 18 * p.rows] * (1 + 1e-9) + 1e-10 * p.design[r] }
        for r in 0..<p.rows { p.targets[r] = (0..<21).reduce(0) { $0 + p.design[r + $1 * p.rows] * p.truth[$1] } + 1e-7 * sin(Double(r)) }
        let fit = try Self.posterior(p, features: 20)
        XCTAssertTrue(fit.alpha.isFinite && fit.alpha > 0 && fit.beta.isFinite)
        XCTAssertEqual(1 / fit.beta.squareRoot(), 0.7e-7, accuracy: 0.5e-7)
        for j in 0..<18 { XCTAssertEqual(fit.mean[j], p.truth[j], accuracy: 1e-5) }
    }

    /// The streamed QR (TSQR: batches, and two accumulators merged) gives the evidence of the
    /// whole design matrix's QR, also on nearly collinear features; dropping columns afterwards
    /// equals the QR of the kept columns.
    func testStreamedQRGivesTheSameEvidence() throws {
        var p = Self.problem(rows: 700, features: 30, fixed: 2, noise: 1e-6, seed: 31)
        for r in 0..<p.rows { p.design[r + 29 * p.rows] = p.design[r + 28 * p.rows] * (1 + 1e-8) + 1e-9 * p.design[r] }
        let n = 32, reference = try Self.posterior(p, features: 30)
        // rows with the fixed columns first, split over two accumulators at an odd place
        var first = TriangularAccumulator(columns: n), second = TriangularAccumulator(columns: n)
        for r in 0..<p.rows {
            let row = p.row(r), reordered = Array(row[30...]) + Array(row[..<30])
            try reordered.withUnsafeBufferPointer { (b) throws(FitError) in
                if r < 333 { try first.add(row: b, target: p.targets[r]) } else { try second.add(row: b, target: p.targets[r]) }
            }
        }
        try first.merge(second)
        XCTAssertEqual(first.rows, p.rows)
        let all = try first.restricted(to: Array(0..<n), scale: Array(repeating: 1, count: n))
        let streamed = try BayesianPosterior(triangular: all.r, qty: all.qty, tail: all.tail, rows: first.rows, featureCount: 30)
        XCTAssertEqual(streamed.alpha, reference.alpha, accuracy: 1e-6 * reference.alpha)
        XCTAssertEqual(streamed.beta, reference.beta, accuracy: 1e-6 * reference.beta)
        XCTAssertEqual(streamed.logEvidence, reference.logEvidence, accuracy: 1e-8 * abs(reference.logEvidence))
        XCTAssertLessThanOrEqual(relativeError(streamed.mean, reference.mean, floor: 1e-3), 1e-6)
        // keep 20 of the features, scaled: the same as the QR of those columns
        let kept = [0, 1] + Array(2..<22), scale = kept.map { $0 < 2 ? 1 : 0.5 + Double($0) / 10 }
        let part = try first.restricted(to: kept, scale: scale)
        var q = p
        q.design = []
        for j in 0..<20 { q.design += (0..<p.rows).map { p.design[$0 + j * p.rows] * scale[2 + j] } }
        for j in 30..<32 { q.design += (0..<p.rows).map { p.design[$0 + j * p.rows] } }
        let direct = try Self.posterior(q, features: 20)
        let restricted = try BayesianPosterior(triangular: part.r, qty: part.qty, tail: part.tail, rows: first.rows, featureCount: 20)
        XCTAssertEqual(restricted.beta, direct.beta, accuracy: 1e-8 * direct.beta)
        XCTAssertLessThanOrEqual(relativeError(restricted.mean, direct.mean, floor: 1e-3), 1e-8)
    }

    /// `--stream`: the whole fit with the streamed QR chooses the same lambda and gives the same
    /// errors as the in-memory Bayesian solver (noisy labels), with a committee calibrated on the
    /// validation frames.
    func testStreamedBayesianFit() throws {
        var options = FitTests.options(FitTests.spec(), solver: .bayesian)
        options.committee = 4
        // noise on the labels, so that the noise level is the data's, not round-off's
        var random = SplitMix64(seed: 3)
        func noisy(_ frames: [LabelledFrame]) -> [LabelledFrame] {
            frames.map { f in
                var g = f
                g.energy += 1e-3 * random.normal()
                g.forces = f.forces.map { $0 + 1e-3 * random.normal() }
                return g
            }
        }
        let data = (training: noisy(FitTests.data.training), validation: noisy(FitTests.data.validation))
        let memory = try LinearFit.run(training: data.training, validation: data.validation, options: options)
        options.stream = true
        let streamed = try LinearFit.run(training: data.training, validation: data.validation, options: options)
        let (a, b) = (try XCTUnwrap(memory.evidence), try XCTUnwrap(streamed.evidence))
        XCTAssertEqual(b.alpha, a.alpha, accuracy: 1e-4 * a.alpha)
        XCTAssertEqual(b.beta, a.beta, accuracy: 1e-4 * a.beta)
        XCTAssertEqual(streamed.lambdaRelative, memory.lambdaRelative, accuracy: 1e-4 * memory.lambdaRelative)
        XCTAssertEqual(streamed.validation[0].1.forceRMSE, memory.validation[0].1.forceRMSE, accuracy: 1e-3 * memory.validation[0].1.forceRMSE)
        XCTAssertEqual(streamed.committee.count, 4)
        XCTAssertEqual(streamed.calibration?.dataSet, "validation")
        XCTAssertLessThan(streamed.checkedPredictions.count, data.training.count)
        options.solver = .qr
        options.committee = 0
        XCTAssertThrowsError(try LinearFit.run(training: data.training, options: options))
    }

    /// The evidence finds the noise level of the data and the coefficients that made them.
    func testEvidenceRecoversNoiseAndCoefficients() throws {
        for noise in [0.01, 0.1] {
            let p = Self.problem(rows: 600, features: 25, fixed: 2, noise: noise, seed: 7)
            let fit = try Self.posterior(p, features: 25)
            XCTAssertEqual(1 / fit.beta.squareRoot(), noise, accuracy: 0.1 * noise, "noise level")
            for (c, t) in zip(fit.mean, p.truth) { XCTAssertEqual(c, t, accuracy: 10 * noise) }
            XCTAssertGreaterThan(fit.gamma, 20)
            XCTAssertLessThanOrEqual(fit.gamma, 25)
        }
    }

    /// The fixed point is the maximum of the log evidence over (alpha, beta).
    func testFixedPointMaximisesTheEvidence() throws {
        let p = Self.problem(rows: 200, features: 30, fixed: 1, noise: 0.05, seed: 3)
        let fit = try Self.posterior(p, features: 30)
        let best = fit.logEvidence(alpha: fit.alpha, beta: fit.beta)
        XCTAssertEqual(best, fit.logEvidence, accuracy: 1e-9 * abs(best))
        for (da, db) in [(1.2, 1.0), (1 / 1.2, 1.0), (1.0, 1.2), (1.0, 1 / 1.2), (1.1, 1.1), (0.9, 1.1)] {
            XCTAssertLessThan(fit.logEvidence(alpha: fit.alpha * da, beta: fit.beta * db), best, "\(da) \(db)")
        }
    }

    /// Accumulating the rows in another order changes the hyperparameters only by round-off.
    func testEvidenceIsStableUnderRowOrder() throws {
        let forward = try Self.posterior(Self.problem(rows: 300, features: 20, fixed: 2, noise: 0.02, seed: 5), features: 20)
        let backward = try Self.posterior(Self.problem(rows: 300, features: 20, fixed: 2, noise: 0.02, seed: 5,
                                                           permutation: true), features: 20)
        XCTAssertEqual(forward.alpha, backward.alpha, accuracy: 1e-8 * forward.alpha)
        XCTAssertEqual(forward.beta, backward.beta, accuracy: 1e-8 * forward.beta)
        for (a, b) in zip(forward.mean, backward.mean) { XCTAssertEqual(a, b, accuracy: 1e-9 * max(1, abs(a))) }
    }

    /// The committee's spread of any prediction psi . c converges to sqrt(psi^T Sigma psi),
    /// including the spread of the unpenalised reference energies.
    func testCommitteeVarianceConvergesToPosteriorVariance() throws {
        let p = Self.problem(rows: 80, features: 12, fixed: 2, noise: 0.2, seed: 11)
        let fit = try Self.posterior(p, features: 12)
        let members = fit.samples(6000, seed: 99)
        var random = SplitMix64(seed: 1234)
        for trial in 0..<4 {
            let psi = trial == 0 ? p.row(0) : (0..<14).map { _ in random.normal() }
            let values = members.map { zip($0, psi).reduce(0) { $0 + $1.0 * $1.1 } }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
            let exact = fit.variance(of: psi)
            XCTAssertEqual(variance, exact, accuracy: 0.08 * exact, "trial \(trial)")
            let center = zip(fit.mean, psi).reduce(0) { $0 + $1.0 * $1.1 }
            XCTAssertEqual(mean, center, accuracy: 5 * (exact / Double(values.count)).squareRoot())
        }
        XCTAssertEqual(fit.samples(3, seed: 5).flatMap { $0 }, fit.samples(3, seed: 5).flatMap { $0 }, "reproducible")
    }

    /// The whole fit with the default solver: lambda chosen by the evidence, a calibrated
    /// committee whose members differ and reproduce for a seed.
    func testBayesianFitChoosesLambdaAndCalibratesTheCommittee() throws {
        var options = FitTests.options(FitTests.spec(), solver: .bayesian)
        XCTAssertEqual(FitOptions(cutoff: 4).solver, .bayesian, "the default solver")
        options.committee = 8
        let data = FitTests.data
        let fit = try LinearFit.run(training: data.training, validation: data.validation, options: options)
        let evidence = try XCTUnwrap(fit.evidence)
        XCTAssertGreaterThan(fit.lambdaRelative, 0)
        XCTAssertEqual(fit.lambdaAbsolute, evidence.alpha / evidence.beta, accuracy: 1e-12 * fit.lambdaAbsolute)
        XCTAssertEqual(fit.committee.count, 8)
        let calibration = try XCTUnwrap(fit.calibration)
        XCTAssertEqual(calibration.dataSet, "validation")
        XCTAssertGreaterThan(calibration.scale, 0)
        XCTAssertTrue((0...1).contains(calibration.forceWithin1) && calibration.forceWithin1 <= calibration.forceWithin2)
        XCTAssertNotEqual(fit.committee[0], fit.committee[1])
        // Noise-free data from a linear model the fit can express: the errors are tiny.
        XCTAssertLessThan(fit.validation[0].1.forceRMSE, 1e-3)
        let again = try LinearFit.run(training: data.training, validation: data.validation, options: options)
        XCTAssertEqual(again.committee, fit.committee)
    }

    /// Weighting one config_type up makes the fit follow those frames more closely (the model
    /// with nu = 1 cannot express the nu = 2 data exactly); an unknown type is an error.
    func testConfigTypeWeights() throws {
        var options = FitTests.options(FitTests.spec(), solver: .qr, lambda: 1e-6)
        options.maxNu = 1
        let data = FitTests.data.training
        func clusterError(_ weights: [String: Double]) throws -> (cluster: Double, crystal: Double) {
            options.configWeights = weights
            let fit = try LinearFit.run(training: data, options: options)
            let byType = Dictionary(uniqueKeysWithValues: fit.training.map { ($0.0, $0.1.forceRMSE) })
            return (try XCTUnwrap(byType["cluster"]), try XCTUnwrap(byType["crystal"]))
        }
        let plain = try clusterError([:]), clustersFirst = try clusterError(["cluster": 1000])
        XCTAssertGreaterThan(plain.cluster, 1e-4, "the reduced model cannot fit the data exactly")
        XCTAssertLessThan(clustersFirst.cluster, 0.9 * plain.cluster, "\(plain) \(clustersFirst)")
        XCTAssertGreaterThan(clustersFirst.crystal, 2 * plain.crystal)
        options.configWeights = ["liquid": 2]
        XCTAssertThrowsError(try LinearFit.run(training: data, options: options)) { error in
            XCTAssertEqual("\(error)", "--config-weight liquid: no training frame has config_type=liquid (types: cluster crystal)")
        }
        options.configWeights = ["cluster": -1]
        XCTAssertThrowsError(try options.validate())
    }

    func testCommitteeOptionsAreChecked() throws {
        var options = FitTests.options(FitTests.spec(), solver: .qr)
        options.committee = 4
        XCTAssertThrowsError(try options.validate()) { error in
            XCTAssertEqual("\(error)", "--committee needs --solver bayesian (the committee is drawn from its posterior)")
        }
        options.solver = .bayesian
        options.committee = 1
        XCTAssertThrowsError(try options.validate())
        options.committee = 2
        XCTAssertNoThrow(try options.validate())
    }
}
