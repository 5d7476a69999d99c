/// The edge formulas (spec §3.5–3.7, R6) written once, for one edge (`Double`) and for a
/// vector lane of edges (`FeatureScalar.Lanes`): the scalar stages (`CutoffFunction`,
/// `RadialBasis`, `AngularBasis`, `FeatureKernels`) and the lanes of `EdgeBatchKernel` call
/// these, so the two forms cannot drift apart (StageTests checks that they agree).
enum EdgeFormulas {
    /// Upstream's direction is u = r / (d + 1e-9), not exactly a unit vector (quirk Q1).
    static let directionEpsilon = 1e-9

    /// 1 / (d + 1e-9): the factor from r to u.
    @inline(__always)
    static func inverseLength<V: EdgeValue>(_ d: V) -> V {
        V(repeating: 1) / (d + V(repeating: V.Scalar(directionEpsilon)))
    }

    /// The polynomial cutoff and its d-derivative, for d < rc, from x = d / rc and x^p:
    /// f(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2).
    @inline(__always)
    static func polynomialCutoff<V: EdgeValue>(x: V, xp: V, p pp: V.Scalar, cutoff rc: V.Scalar) -> (f: V, df: V) {
        let xp1 = xp * x, xp2 = xp1 * x
        let c0 = (pp + 1) * (pp + 2) / 2, c1 = pp * (pp + 2), c2 = pp * (pp + 1) / 2
        let c3 = -pp * (pp + 1) * (pp + 2) / (2 * rc)
        let f = V(repeating: 1) - V(repeating: c0) * xp + V(repeating: c1) * xp1 - V(repeating: c2) * xp2
        let oneMinus = V(repeating: 1) - x
        return (f, V(repeating: c3) * (xp / x) * oneMinus * oneMinus)
    }

    /// x^p for an integer p >= 1, by multiplication (pow is slow).
    @inline(__always)
    static func integerPower<V: EdgeValue>(_ x: V, _ p: Int) -> V {
        var result = x
        for _ in 1..<p { result = result * x }
        return result
    }

    /// The Bessel function prefactor sin(w d) / d and its d-derivative, from sin(w d), cos(w d) and 1/d.
    @inline(__always)
    static func bessel<V: EdgeValue>(frequency w: V.Scalar, prefactor: V.Scalar, sin s: V, cos c: V,
                                     inverse: V) -> (value: V, derivative: V) {
        let value = V(repeating: prefactor) * s * inverse
        let derivative = V(repeating: prefactor) * (V(repeating: w) * c * inverse - s * inverse * inverse)
        return (value, derivative)
    }

    /// sum_k yBar_k dY_k/du for the monomials Y_k = u_x^a u_y^b u_z^c; `power(axis, e)` = u_axis^e.
    @inline(__always)
    static func monomialAdjoint<V: EdgeValue>(_ exponents: [(Int, Int, Int)], yBar: (Int) -> V,
                                              power: (Int, Int) -> V) -> (V, V, V) {
        var gx = V(repeating: 0), gy = V(repeating: 0), gz = V(repeating: 0)
        for k in 1..<exponents.count {
            let (a, b, c) = exponents[k]
            let w = yBar(k)
            let px = power(0, a), py = power(1, b), pz = power(2, c)
            if a > 0 { gx = gx + w * V(repeating: V.Scalar(a)) * power(0, a - 1) * py * pz }
            if b > 0 { gy = gy + w * V(repeating: V.Scalar(b)) * px * power(1, b - 1) * pz }
            if c > 0 { gz = gz + w * V(repeating: V.Scalar(c)) * px * py * power(2, c - 1) }
        }
        return (gx, gy, gz)
    }

    /// dE/dr of an edge from the adjoint of its direction u = r s (s = 1 / (d + 1e-9)) and of its
    /// length d (spec R6): the chain rule through both.
    @inline(__always)
    static func edgeGradient<V: EdgeValue>(uBar: (V, V, V), r: (V, V, V), d: V, dBar: V) -> (V, V, V) {
        let s = inverseLength(d)
        let dot = uBar.0 * r.0 + uBar.1 * r.1 + uBar.2 * r.2
        let a = dot * s * s / d
        let b = dBar / d
        return (uBar.0 * s - a * r.0 + b * r.0, uBar.1 * s - a * r.1 + b * r.1, uBar.2 * s - a * r.2 + b * r.2)
    }
}

/// What the edge formulas need of a value: one `Double`, or a SIMD vector of edges.
protocol EdgeValue {
    associatedtype Scalar: BinaryFloatingPoint
    init(repeating value: Scalar)
    static func + (lhs: Self, rhs: Self) -> Self
    static func - (lhs: Self, rhs: Self) -> Self
    static func * (lhs: Self, rhs: Self) -> Self
    static func / (lhs: Self, rhs: Self) -> Self
}

extension Double: EdgeValue {
    @inline(__always) init(repeating value: Double) { self = value }
}

extension SIMD4: EdgeValue where Scalar: BinaryFloatingPoint {}
extension SIMD8: EdgeValue where Scalar: BinaryFloatingPoint {}
extension SIMD16: EdgeValue where Scalar: BinaryFloatingPoint {}
