/// The per-edge kernels of the message-passing path: edge scalars from the geometry, their
/// outer product into A's moments, and the way back from adjoints to the edge gradient (spec
/// R4–R6). The formulas themselves are in EdgeFormulas.swift, shared with the lanes.
extension FeatureKernels {
    /// Edge scalars for an edge of vector r (receiver minus sender) and length d:
    /// rho[n], drho[n] = d rho/dd, Y[k]; returns the cutoff value and derivative.
    @inline(__always)
    func edgeFeatures(_ r: (Double, Double, Double), _ d: Double,
                      rho: UnsafeMutablePointer<T>, rhoDerivative: UnsafeMutablePointer<T>,
                      y: UnsafeMutablePointer<T>, powers: UnsafeMutablePointer<Double>) -> (Double, Double) {
        let (f, df) = cutoffFunction.evaluate(d)
        radialBasis.evaluate(d, cutoff: f, cutoffDerivative: df, rho: rho, rhoDerivative: rhoDerivative)
        let s = EdgeFormulas.inverseLength(d)   // quirk Q1: u is not exactly a unit vector
        angular.evaluate((r.0 * s, r.1 * s, r.2 * s), into: y, powers: powers)
        return (f, df)
    }

    /// p[n][k] += weight * rho[n] * Y[k]
    @inline(__always)
    func accumulateOuter(_ p: UnsafeMutablePointer<T>, rho: UnsafePointer<T>, y: UnsafePointer<T>, weight: T) {
        let nk = angular.count
        for n in 0..<radialFunctionCount {
            addScaled(nk, weight * rho[n], y, into: p + n * nk)
        }
    }

    /// dE/dr_e for one edge from the adjoint pBar[n][k] of its rho Y outer product (spec R4–R6),
    /// plus an extra dE/dd already collected in `dBar`.
    @inline(__always)
    func edgeGradient(_ r: (Double, Double, Double), _ d: Double, pBar: UnsafePointer<T>,
                      rho: UnsafePointer<T>, rhoDerivative: UnsafePointer<T>, y: UnsafePointer<T>,
                      dBar: Double, yBar: UnsafeMutablePointer<T>, powers: UnsafeMutablePointer<Double>)
        -> (Double, Double, Double) {
        for k in 0..<angular.count { yBar[k] = 0 }
        var dSum = T(dBar)   // nonzero only in double precision (message passing)
        foldEdgeAdjoint(pBar, scale: 1, rho: rho, rhoDerivative: rhoDerivative, y: y, yBar: yBar, dBar: &dSum)
        return edgeGradient(r, d, yBar: yBar, dBar: Double(dSum), powers: powers)
    }

    /// Adds the adjoint pBar[n][k] (times `scale`) of one edge's rho_n Y_k to the adjoints of its
    /// monomials, yBar[k] += sum_n pBar rho_n, and of its length, dBar += sum_nk pBar Y_k rho'_n:
    /// all that the edge gradient needs, so an edge need not keep the n_r x K adjoint.
    @inline(__always)
    func foldEdgeAdjoint(_ pBar: UnsafePointer<T>, scale: T, rho: UnsafePointer<T>, rhoDerivative: UnsafePointer<T>,
                         y: UnsafePointer<T>, yBar: UnsafeMutablePointer<T>, dBar: inout T) {
        let nk = angular.count
        for n in 0..<radialFunctionCount {
            let row = pBar + n * nk
            addScaled(nk, scale * rho[n], row, into: yBar)
            dBar += scale * dot(nk, row, y) * rhoDerivative[n]
        }
    }

    /// The gradient dE/dr of one edge from the adjoints of its monomials (yBar) and of its length (dBar).
    func edgeGradient(_ r: (Double, Double, Double), _ d: Double, yBar: UnsafeMutablePointer<T>, dBar: Double,
                      powers: UnsafeMutablePointer<Double>) -> (Double, Double, Double) {
        let s = EdgeFormulas.inverseLength(d)
        let uBar = angular.backward((r.0 * s, r.1 * s, r.2 * s), yBar: yBar, powers: powers)
        return EdgeFormulas.edgeGradient(uBar: uBar, r: r, d: d, dBar: dBar)
    }
}
