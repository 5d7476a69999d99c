/// The edges of one atom in structure-of-arrays form, one edge per vector lane: edge
/// features, their sums into A's per-element moments, and the way back to edge gradients
/// all run over edges in long vector loops (the atom-by-atom path groups an atom's edges by
/// sender element and pads each group to whole vectors; see `Evaluator.gatherEdges`).
struct EdgeBatchKernel<T: FeatureScalar>: Sendable {
    /// Bessel frequencies and prefactor, and the polynomial cutoff, when the model has those
    /// (the usual case); other bases are evaluated edge by edge.
    let bessel: (frequencies: [T], prefactor: T, cutoff: T, p: Int)?
    let radialBasis: RadialBasis
    let cutoffFunction: CutoffFunction
    let angular: AngularBasis

    init(radialBasis: RadialBasis, cutoffFunction: CutoffFunction, angular: AngularBasis) {
        (self.radialBasis, self.cutoffFunction, self.angular) = (radialBasis, cutoffFunction, angular)
        if case .bessel(let w, let prefactor) = radialBasis,
           case .polynomial(let rc, let p) = cutoffFunction, p == p.rounded(), p >= 1, p <= 16 {
            bessel = (w.map { T($0) }, T(prefactor), T(rc), Int(p))
        } else {
            bessel = nil
        }
    }

    var radialCount: Int { radialBasis.count }
    static var width: Int { T.Lanes.scalarCount }

    /// u^0 ... u^(count-1) of one axis into scratch rows axis * count ...
    @inline(__always) static func storePowers(_ u: T.Lanes, axis: Int, count: Int, _ scratch: UnsafeMutablePointer<T>) {
        var power = T.Lanes(repeating: 1)
        store(power, scratch + axis * count * width)
        for e in 1..<count {
            power *= u
            store(power, scratch + (axis * count + e) * width)
        }
    }

    /// rho[n][e], drho/dd[n][e], Y[k][e] of the edges 0 ..< count (a whole number of vectors)
    /// from d[e] (also as Double in `lengths`) and r[axis][e] (rows of `stride`); `scratch` holds 3 (L+1) vectors.
    func features(count: Int, stride: Int, d: UnsafePointer<T>, r: UnsafePointer<T>, lengths: UnsafePointer<Double>,
                  rho: UnsafeMutablePointer<T>, rhoDerivative: UnsafeMutablePointer<T>, y: UnsafeMutablePointer<T>,
                  scratch: UnsafeMutablePointer<T>) {
        typealias V = T.Lanes
        let width = Self.width, nr = radialCount, nk = angular.count, axis = angular.maxL + 1
        // Unwrapped once: the tuple holds an array, which would be retained at every unwrap.
        let polynomialBessel = bessel.map { ($0.prefactor, $0.cutoff, $0.p) }
        let frequencies = bessel?.frequencies ?? []
        frequencies.withUnsafeBufferPointer { frequencies in
            for first in Swift.stride(from: 0, to: count, by: width) {
                let dv = load(d + first)
                if let (prefactor, rc, p) = polynomialBessel {
                    // Polynomial cutoff (spec §3.6) and Bessel functions (§3.5), lane by lane.
                    let x = dv / rc
                    let (f, df) = EdgeFormulas.polynomialCutoff(x: x, xp: EdgeFormulas.integerPower(x, p), p: T(p), cutoff: rc)
                    let inverse = 1 / dv
                    for n in 0..<nr {
                        let w = frequencies[n]
                        let (s, c) = T.sinCos(w * dv)
                        let (value, derivative) = EdgeFormulas.bessel(frequency: w, prefactor: prefactor, sin: s, cos: c,
                                                                      inverse: inverse)
                        store(value * f, rho + n * stride + first)
                        store(derivative * f + value * df, rhoDerivative + n * stride + first)
                    }
                } else {
                    for e in first..<(first + width) {
                        let (f, df) = cutoffFunction.evaluate(lengths[e])
                        radialBasis.evaluate(lengths[e], cutoff: f, cutoffDerivative: df, rho: rho + e, rhoDerivative: rhoDerivative + e,
                                             stride: stride)
                    }
                }
                // Monomials of u = r / (d + 1e-9) (quirk Q1); powers of each axis in scratch.
                let s = EdgeFormulas.inverseLength(dv)
                for a in 0..<3 { Self.storePowers(load(r + a * stride + first) * s, axis: a, count: axis, scratch) }
                for k in 0..<nk {
                    let (a, b, c) = angular.exponents[k]
                    let value = load(scratch + a * width) * load(scratch + (axis + b) * width)
                        * load(scratch + (2 * axis + c) * width)
                    store(value, y + k * stride + first)
                }
            }
        }
    }

    /// dE/dr of edges 0 ..< count into g[axis][e], from yBar[k][e] = dE/dY and dBar[e] = dE/dd.
    func gradients(count: Int, stride: Int, d: UnsafePointer<T>, r: UnsafePointer<T>,
                   yBar: UnsafePointer<T>, dBar: UnsafePointer<T>, g: UnsafeMutablePointer<T>,
                   scratch: UnsafeMutablePointer<T>) {
        typealias V = T.Lanes
        let width = Self.width, axis = angular.maxL + 1
        for first in Swift.stride(from: 0, to: count, by: width) {
            let dv = load(d + first)
            let s = EdgeFormulas.inverseLength(dv)
            let rv = (load(r + first), load(r + stride + first), load(r + 2 * stride + first))
            Self.storePowers(rv.0 * s, axis: 0, count: axis, scratch)
            Self.storePowers(rv.1 * s, axis: 1, count: axis, scratch)
            Self.storePowers(rv.2 * s, axis: 2, count: axis, scratch)
            let uBar = EdgeFormulas.monomialAdjoint(angular.exponents, yBar: { load(yBar + $0 * stride + first) },
                                                    power: { load(scratch + ($0 * axis + $1) * width) })
            let gradient = EdgeFormulas.edgeGradient(uBar: uBar, r: rv, d: dv, dBar: load(dBar + first))
            store(gradient.0, g + first)
            store(gradient.1, g + stride + first)
            store(gradient.2, g + 2 * stride + first)
        }
    }
}
