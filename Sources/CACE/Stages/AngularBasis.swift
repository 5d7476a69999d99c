/// The Cartesian monomials Y_k(u) = u_x^lx u_y^ly u_z^lz in upstream's order (spec §3.7).
struct AngularBasis: Sendable {
    let maxL: Int
    /// Exponent triples, in the model file's order.
    let exponents: [(Int, Int, Int)]
    /// Degree l of each monomial k.
    let degree: [Int]
    /// [start, end) of each degree's block of k.
    let groups: [Range<Int>]

    var count: Int { exponents.count }

    /// Writes Y[k] for a direction u.
    @inline(__always)
    func evaluate<T: FeatureScalar>(_ u: (Double, Double, Double), into y: UnsafeMutablePointer<T>,
                  powers: UnsafeMutablePointer<Double>) {
        fillPowers(u, powers)
        let stride = maxL + 1
        for k in 0..<exponents.count {
            let (a, b, c) = exponents[k]
            y[k] = T(powers[a] * powers[stride + b] * powers[2 * stride + c])
        }
    }

    /// Returns sum_k yBar[k] dY_k/du, the adjoint of u.
    @inline(__always)
    func backward<T: FeatureScalar>(_ u: (Double, Double, Double), yBar: UnsafePointer<T>,
                  powers: UnsafeMutablePointer<Double>) -> (Double, Double, Double) {
        fillPowers(u, powers)
        let stride = maxL + 1
        return EdgeFormulas.monomialAdjoint(exponents, yBar: { Double(yBar[$0]) }, power: { powers[$0 * stride + $1] })
    }

    /// powers[axis * (L+1) + e] = u_axis^e.
    @inline(__always)
    private func fillPowers(_ u: (Double, Double, Double), _ powers: UnsafeMutablePointer<Double>) {
        let stride = maxL + 1
        powers[0] = 1; powers[stride] = 1; powers[2 * stride] = 1
        for e in 1..<(maxL + 1) {
            powers[e] = powers[e - 1] * u.0
            powers[stride + e] = powers[stride + e - 1] * u.1
            powers[2 * stride + e] = powers[2 * stride + e - 1] * u.2
        }
    }
}
