#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bayesian linear regression on the scaled, weighted least-squares problem (linear-fit.md §6):
/// noise precision beta = 1/s^2 on every weighted row, a Gaussian prior of precision alpha
/// = 1/sigma0^2 on the scaled feature coefficients, and a flat prior on the per-element
/// reference energies (the last `fixedCount` columns, never penalised). alpha and beta
/// maximise the evidence (MacKay's fixed point), so lambda = alpha / beta is chosen by the
/// data instead of by hand.
///
/// It works on a Householder QR of the design matrix with the reference-energy columns first,
/// not on the normal equations: the features of a fit are nearly collinear (condition numbers
/// of 1e12 are common), so G = A^T A would hold eigenvalues below its round-off, and the
/// residual computed from G by cancellation would turn negative and drive alpha to 0. With
/// R = [[R00, R0f], [0, Rff]] and Q^T y = (t0, t1, t2), the reference energies given the
/// features are R00^{-1} (t0 - R0f w), the reduced problem is |t1 - Rff w|^2 + |t2|^2, and one
/// SVD Rff = U S V^T makes every (alpha, beta) an O(F) evaluation whose residual
/// |t2|^2 + sum_i (alpha z_i / (alpha + beta s_i^2))^2 (z = U^T t1) has no cancellation.
struct BayesianPosterior {
    let featureCount: Int
    let fixedCount: Int
    /// Squared singular values s_i^2 (the eigenvalues of the reduced normal matrix) and the
    /// right singular vectors (columns, F x F).
    let values: [Double]
    let vectors: [Double]
    let alpha: Double
    let beta: Double
    /// Effective number of well-determined feature coefficients.
    let gamma: Double
    let logEvidence: Double
    let iterations: Int
    /// The posterior mean of the feature coefficients in the basis of `vectors`.
    let rotatedMean: [Double]
    /// Reference energies given the features: e0 = offset - coupling w (coupling: fixedCount x F, column-major).
    let fixedOffset: [Double]
    let fixedCoupling: [Double]
    /// S = R00^{-1} (fixedCount x fixedCount, column-major), S S^T = (A0^T A0)^{-1}: the spread of e0 given w is S / sqrt(beta).
    let fixedSpread: [Double]
    /// Posterior mean of all coefficients (features, then reference energies).
    let mean: [Double]
    /// z = U^T t1, |t2|^2, and the observations of the reduced problem.
    private let projected: [Double]
    private let residualBase: Double
    private let dataCount: Double

    /// lambda in the scaled problem, absolute.
    var lambda: Double { alpha / beta }

    /// - Parameters:
    ///   - design: the weighted, scaled design matrix (rows x n, column-major), the columns the
    ///     `featureCount` features, then the fixed (unpenalised) ones.
    ///   - targets: the weighted targets (rows).
    init(design: [Double], rows m: Int, targets: [Double], featureCount nf: Int) throws(FitError) {
        let n = design.count / max(1, m), n0 = n - nf
        guard nf > 0, n0 >= 0, design.count == m * n, targets.count == m else { throw .internal("Bayesian fit: inconsistent sizes") }
        guard m > n + 1 else { throw .numerical("\(m) observations cannot determine \(n) coefficients and the noise level: add frames") }
        // Fixed columns first, so that R00 is theirs alone.
        var reordered = [Double](repeating: 0, count: m * n)
        for j in 0..<n0 { for r in 0..<m { reordered[r + j * m] = design[r + (nf + j) * m] } }
        for j in 0..<nf { for r in 0..<m { reordered[r + (n0 + j) * m] = design[r + j * m] } }
        let (rFull, qty) = try LAPACK.qrFactor(reordered, m: m, n: n, y: targets)
        var tail = 0.0
        for k in n..<m { tail += qty[k] * qty[k] }
        try self.init(triangular: rFull, qty: Array(qty[0..<n]), tail: tail, rows: m, featureCount: nf)
    }

    /// The same from a QR computed elsewhere (the streamed TSQR): R (n x n, upper, column-major)
    /// of the design matrix with the fixed columns **first**, the first n entries of Q^T y,
    /// |the rest of Q^T y|^2 and the number of rows.
    init(triangular rFull: [Double], qty: [Double], tail: Double, rows m: Int, featureCount nf: Int) throws(FitError) {
        let n = qty.count, n0 = n - nf
        guard nf > 0, n0 >= 0, rFull.count == n * n, tail >= 0 else { throw .internal("Bayesian fit: inconsistent sizes") }
        guard m > n + 1 else { throw .numerical("\(m) observations cannot determine \(n) coefficients and the noise level: add frames") }
        featureCount = nf; fixedCount = n0
        func r(_ i: Int, _ j: Int) -> Double { rFull[i + j * n] }

        var x = [Double](repeating: 0, count: n0 * (nf + 1))   // R00^{-1} [R0f | t0]
        var spread = [Double](repeating: 0, count: n0 * n0)
        if n0 > 0 {
            var r00 = [Double](repeating: 0, count: n0 * n0), rightSides = [Double](repeating: 0, count: n0 * (nf + 1))
            for j in 0..<n0 { for i in 0...j { r00[i + j * n0] = r(i, j) } }
            for j in 0..<nf { for i in 0..<n0 { rightSides[i + j * n0] = r(i, n0 + j) } }
            for i in 0..<n0 { rightSides[i + nf * n0] = qty[i] }
            var identity = [Double](repeating: 0, count: n0 * n0)
            for i in 0..<n0 { identity[i + i * n0] = 1 }
            let largest = (0..<n0).map { abs(r(0, 0)) + abs(r($0, $0)) }.max() ?? 1
            guard (0..<n0).allSatisfy({ abs(r($0, $0)) > 1e-13 * largest }),
                  let solved = try LAPACK.triangularSolve(r00, columns: rightSides, n: n0, nrhs: nf + 1),
                  let inverse = try LAPACK.triangularSolve(r00, columns: identity, n: n0, nrhs: n0) else {
                throw .numerical("the reference energies are undetermined (no energy rows for some element, or elements that "
                    + "always occur in the same ratio): use --energy-weight > 0 and frames with varied compositions")
            }
            x = solved
            spread = inverse
        }
        fixedCoupling = Array(x[0..<(n0 * nf)])
        fixedOffset = Array(x[(n0 * nf)...])
        fixedSpread = spread

        var rff = [Double](repeating: 0, count: nf * nf)
        for j in 0..<nf { for i in 0...j { rff[i + j * nf] = r(n0 + i, n0 + j) } }
        let (singular, u, vt) = try LAPACK.svd(rff, n: nf)
        var z = [Double](repeating: 0, count: nf)
        for i in 0..<nf { var s = 0.0; for k in 0..<nf { s += u[k + i * nf] * qty[n0 + k] }; z[i] = s }
        var v = [Double](repeating: 0, count: nf * nf)   // V = (V^T)^T
        for i in 0..<nf { for k in 0..<nf { v[k + i * nf] = vt[i + k * nf] } }
        let squares = singular.map { $0 * $0 }
        let dataCount = Double(m - n0)
        values = squares; vectors = v
        projected = z; residualBase = tail; self.dataCount = dataCount

        // MacKay's fixed point for alpha and beta, from lambda = 1e-6 of the mean eigenvalue.
        func state(_ a: Double, _ b: Double) -> State { Self.state(alpha: a, beta: b, singular: singular, projected: z, residualBase: tail) }
        let meanValue = max(squares.reduce(0, +) / Double(nf), .leastNormalMagnitude)
        var b = 1.0, a = 1e-6 * meanValue
        b = dataCount / max(state(a, b).residual, .leastNormalMagnitude)
        a = 1e-6 * meanValue * b
        var iterations = 0
        var current = state(a, b)
        while iterations < 5000 {
            iterations += 1
            let newAlpha = current.gamma / max(current.norm, .leastNormalMagnitude)
            let newBeta = (dataCount - current.gamma) / max(current.residual, .leastNormalMagnitude)
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
        logEvidence = Self.logEvidence(alpha: a, beta: b, state: current, values: squares, dataCount: dataCount)
        var all = [Double](repeating: 0, count: n)
        for row in 0..<nf { var s = 0.0; for i in 0..<nf { s += v[row + i * nf] * current.mean[i] }; all[row] = s }
        for k in 0..<n0 {
            var e = fixedOffset[k]
            for c in 0..<nf { e -= fixedCoupling[k + c * n0] * all[c] }
            all[nf + k] = e
        }
        mean = all
    }

    /// The posterior mean in the basis of `vectors` for (alpha, beta), and what the updates need.
    struct State {
        var mean: [Double]
        var gamma: Double
        /// |m|^2 and the weighted residual |y - A m|^2.
        var norm: Double
        var residual: Double
    }

    private static func state(alpha a: Double, beta b: Double, singular: [Double], projected z: [Double],
                              residualBase: Double) -> State {
        var m = [Double](repeating: 0, count: z.count)
        var gamma = 0.0, norm = 0.0, residual = residualBase
        for i in 0..<z.count {
            let s2 = singular[i] * singular[i], d = a + b * s2
            m[i] = b * singular[i] * z[i] / d
            gamma += b * s2 / d
            norm += m[i] * m[i]
            let left = a * z[i] / d   // z_i - s_i m_i, without cancellation
            residual += left * left
        }
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
        let s = Self.state(alpha: a, beta: b, singular: values.map { $0.squareRoot() }, projected: projected, residualBase: residualBase)
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
