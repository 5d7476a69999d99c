#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bayesian linear regression on the scaled, weighted normal equations (linear-fit.md §6):
/// noise precision beta = 1/s^2 on every weighted row, a Gaussian prior of precision alpha
/// = 1/sigma0^2 on the scaled feature coefficients, and a flat prior on the per-element
/// reference energies (the last `fixedCount` columns, never penalised). alpha and beta
/// maximise the evidence (MacKay's fixed point), so lambda = alpha / beta is chosen by the
/// data instead of by hand.
///
/// The reference energies are integrated out first (a Schur complement of the normal matrix),
/// so one eigendecomposition of the reduced F x F matrix serves every (alpha, beta): each
/// iteration then costs O(F).
struct BayesianPosterior {
    let featureCount: Int
    let fixedCount: Int
    /// Eigenvalues (clamped at 0) and eigenvectors (columns, F x F) of the reduced normal matrix.
    let values: [Double]
    let vectors: [Double]
    let alpha: Double
    let beta: Double
    /// Effective number of well-determined feature coefficients.
    let gamma: Double
    let logEvidence: Double
    let iterations: Int
    /// The posterior mean of the feature coefficients in the eigenbasis.
    let rotatedMean: [Double]
    /// Reference energies given the features: e0 = offset - coupling w (coupling: fixedCount x F, column-major).
    let fixedOffset: [Double]
    let fixedCoupling: [Double]
    /// S with S S^T = G00^{-1} (fixedCount x fixedCount, column-major): the spread of e0 given w is S / sqrt(beta).
    let fixedSpread: [Double]
    /// Posterior mean of all coefficients (features, then reference energies).
    let mean: [Double]
    /// V^T h' and y^T y - h0 . x_h of the reduced problem, and its number of observations.
    private let projectedRHS: [Double]
    private let residualBase: Double
    private let dataCount: Double

    /// lambda in the scaled problem, absolute.
    var lambda: Double { alpha / beta }

    /// - Parameters:
    ///   - gram: the normal matrix G (n x n, column-major, upper triangle used), n = features + fixed.
    ///   - rhs: h = A^T y; targetSquares: y^T y; observations: rows with a non-zero weight.
    init(gram: [Double], rhs: [Double], targetSquares: Double, observations: Int, featureCount nf: Int) throws(FitError) {
        let n = rhs.count, n0 = n - nf
        guard nf > 0, n0 >= 0, gram.count == n * n else { throw .internal("Bayesian fit: inconsistent sizes") }
        featureCount = nf; fixedCount = n0
        func g(_ r: Int, _ c: Int) -> Double { r <= c ? gram[r + c * n] : gram[c + r * n] }

        // Integrate out the reference energies: X = G00^{-1} [G0f | h0].
        var g00 = [Double](repeating: 0, count: n0 * n0)
        for c in 0..<n0 { for r in 0..<n0 { g00[r + c * n0] = g(nf + r, nf + c) } }
        var rightSides = [Double](repeating: 0, count: n0 * (nf + 1))
        for c in 0..<nf { for r in 0..<n0 { rightSides[r + c * n0] = g(nf + r, c) } }
        for r in 0..<n0 { rightSides[r + nf * n0] = rhs[nf + r] }
        var x = [Double](repeating: 0, count: n0 * (nf + 1))
        var spread = [Double](repeating: 0, count: n0 * n0)
        if n0 > 0 {
            guard let solved = try LAPACK.choleskySolve(g00, columns: rightSides, n: n0, nrhs: nf + 1) else {
                throw .numerical("the reference energies are undetermined (no energy rows for some element): "
                    + "use --energy-weight > 0 and frames with energies for every element")
            }
            x = solved
            let (mu, q) = try LAPACK.symmetricEigensystem(g00, n: n0)
            for c in 0..<n0 {
                let s = 1 / max(mu[c], .leastNormalMagnitude).squareRoot()
                for r in 0..<n0 { spread[r + c * n0] = q[r + c * n0] * s }
            }
        }
        fixedCoupling = Array(x[0..<(n0 * nf)])
        fixedOffset = Array(x[(n0 * nf)...])
        fixedSpread = spread

        // Reduced problem: G' = Gff - Gf0 X_f, h' = hf - Gf0 x_h, c = y^T y - h0 . x_h.
        var reduced = [Double](repeating: 0, count: nf * nf)
        for c in 0..<nf {
            for r in 0...c {
                var v = g(r, c)
                for k in 0..<n0 { v -= g(r, nf + k) * x[k + c * n0] }
                reduced[r + c * nf] = v
            }
        }
        var reducedRHS = (0..<nf).map { rhs[$0] }
        for r in 0..<nf { for k in 0..<n0 { reducedRHS[r] -= g(r, nf + k) * x[k + nf * n0] } }
        var residualBase = targetSquares
        for k in 0..<n0 { residualBase -= rhs[nf + k] * x[k + nf * n0] }
        let dataCount = Double(observations - n0)
        guard dataCount > 1 else { throw .numerical("\(observations) observations cannot determine \(n) coefficients and the noise level") }

        let (rawValues, v) = try LAPACK.symmetricEigensystem(reduced, n: nf)
        let lambdas = rawValues.map { max($0, 0) }
        values = lambdas; vectors = v
        var z = [Double](repeating: 0, count: nf)   // V^T h'
        for c in 0..<nf { var s = 0.0; for r in 0..<nf { s += v[r + c * nf] * reducedRHS[r] }; z[c] = s }
        projectedRHS = z
        self.residualBase = residualBase
        self.dataCount = dataCount

        // MacKay's fixed point for alpha and beta, from lambda = 1e-6 of the mean eigenvalue.
        func state(_ a: Double, _ b: Double) -> State { Self.state(alpha: a, beta: b, values: lambdas, projectedRHS: z, residualBase: residualBase) }
        let meanValue = max(lambdas.reduce(0, +) / Double(nf), .leastNormalMagnitude)
        var b = 1.0, a = 1e-6 * meanValue
        let start = state(a, b)
        b = dataCount / start.residual
        a = 1e-6 * meanValue * b
        var iterations = 0
        var current = state(a, b)
        while iterations < 2000 {
            iterations += 1
            let newAlpha = current.gamma / max(current.norm, .leastNormalMagnitude)
            let newBeta = (dataCount - current.gamma) / current.residual
            guard newAlpha.isFinite, newBeta.isFinite, newAlpha > 0, newBeta > 0 else {
                throw .numerical("the evidence maximisation diverged (alpha \(newAlpha), beta \(newBeta)): use --solver qr with --lambda")
            }
            let converged = abs(log(newAlpha / a)) < 1e-10 && abs(log(newBeta / b)) < 1e-10
            a = newAlpha; b = newBeta
            current = state(a, b)
            if converged { break }
        }
        alpha = a; beta = b; gamma = current.gamma
        self.iterations = iterations
        rotatedMean = current.mean
        logEvidence = Self.logEvidence(alpha: a, beta: b, state: current, values: lambdas, dataCount: dataCount)
        var all = [Double](repeating: 0, count: n)
        for r in 0..<nf { var s = 0.0; for i in 0..<nf { s += v[r + i * nf] * current.mean[i] }; all[r] = s }
        for k in 0..<n0 {
            var e = fixedOffset[k]
            for c in 0..<nf { e -= fixedCoupling[k + c * n0] * all[c] }
            all[nf + k] = e
        }
        mean = all
    }

    /// The posterior mean in the eigenbasis for (alpha, beta), and what the updates need.
    struct State {
        var mean: [Double]
        var gamma: Double
        /// |m|^2 and the weighted residual |y - A m|^2.
        var norm: Double
        var residual: Double
    }

    private static func state(alpha a: Double, beta b: Double, values: [Double], projectedRHS z: [Double],
                              residualBase: Double) -> State {
        var m = [Double](repeating: 0, count: z.count)
        var gamma = 0.0, norm = 0.0, cross = 0.0, quadratic = 0.0
        for i in 0..<z.count {
            let d = a + b * values[i]
            m[i] = b * z[i] / d
            gamma += b * values[i] / d
            norm += m[i] * m[i]
            cross += m[i] * z[i]
            quadratic += values[i] * m[i] * m[i]
        }
        let residual = max(residualBase - 2 * cross + quadratic, 1e-300, 1e-15 * abs(residualBase))
        return State(mean: m, gamma: gamma, norm: norm, residual: residual)
    }

    private static func logEvidence(alpha a: Double, beta b: Double, state: State, values: [Double], dataCount: Double) -> Double {
        var logDet = 0.0
        for lambda in values { logDet += log(a + b * lambda) }
        return 0.5 * (Double(values.count) * log(a) + dataCount * log(b) - b * state.residual - a * state.norm - logDet
                      - dataCount * log(2 * Double.pi))
    }

    /// The log evidence at any (alpha, beta): the fixed point is its maximum.
    func logEvidence(alpha a: Double, beta b: Double) -> Double {
        let s = Self.state(alpha: a, beta: b, values: values, projectedRHS: projectedRHS, residualBase: residualBase)
        return Self.logEvidence(alpha: a, beta: b, state: s, values: values, dataCount: dataCount)
    }

    /// Var[psi . c] under the posterior, psi over all coefficients (features, then fixed).
    func variance(of psi: [Double]) -> Double {
        let nf = featureCount, n0 = fixedCount
        // psi . c = u . w + psi0 . (offset + noise), u = psi_f - X_f^T psi0.
        var u = Array(psi[0..<nf])
        for c in 0..<nf { for k in 0..<n0 { u[c] -= fixedCoupling[k + c * n0] * psi[nf + k] } }
        var total = 0.0
        for i in 0..<nf {
            var projection = 0.0
            for r in 0..<nf { projection += vectors[r + i * nf] * u[r] }
            total += projection * projection / (alpha + beta * values[i])
        }
        for c in 0..<n0 {
            var projection = 0.0
            for k in 0..<n0 { projection += fixedSpread[k + c * n0] * psi[nf + k] }
            total += projection * projection / beta
        }
        return total
    }

    /// `count` draws of all coefficients from the posterior (deterministic for a seed).
    func samples(_ count: Int, seed: UInt64) -> [[Double]] {
        var random = SplitMix64(seed: seed)
        let nf = featureCount, n0 = fixedCount
        return (0..<count).map { _ in
            var rotated = rotatedMean
            for i in 0..<nf { rotated[i] += random.normal() / (alpha + beta * values[i]).squareRoot() }
            var c = [Double](repeating: 0, count: nf + n0)
            for r in 0..<nf { var s = 0.0; for i in 0..<nf { s += vectors[r + i * nf] * rotated[i] }; c[r] = s }
            let eta = (0..<n0).map { _ in random.normal() / beta.squareRoot() }
            for k in 0..<n0 {
                var e = fixedOffset[k]
                for j in 0..<nf { e -= fixedCoupling[k + j * n0] * c[j] }
                for j in 0..<n0 { e += fixedSpread[k + j * n0] * eta[j] }
                c[nf + k] = e
            }
            return c
        }
    }
}

/// A small, fast, seedable generator (Steele, Lea, Flood 2014), so committees are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal deviate (Box-Muller).
    mutating func normal() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
