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
                    var xp = x
                    for _ in 1..<p { xp *= x }
                    let xp1 = xp * x, xp2 = xp1 * x
                    let pp = T(p)
                    let c0: T = (pp + 1) * (pp + 2) / 2, c1: T = pp * (pp + 2), c2: T = pp * (pp + 1) / 2
                    let c3: T = -pp * (pp + 1) * (pp + 2) / (2 * rc)
                    let f: V = 1 - c0 * xp + c1 * xp1 - c2 * xp2
                    let oneMinus: V = 1 - x
                    let df: V = c3 * (xp / x) * oneMinus * oneMinus
                    let inverse = 1 / dv
                    for n in 0..<nr {
                        let w = frequencies[n]
                        let (s, c) = T.sinCos(w * dv)
                        let value = prefactor * s * inverse
                        let derivative = prefactor * (w * c * inverse - s * inverse * inverse)
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
                let s = 1 / (dv + T(1e-9))
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
        let width = Self.width, nk = angular.count, axis = angular.maxL + 1
        for first in Swift.stride(from: 0, to: count, by: width) {
            let dv = load(d + first)
            let s = 1 / (dv + T(1e-9))
            let rv = (load(r + first), load(r + stride + first), load(r + 2 * stride + first))
            let u = (rv.0 * s, rv.1 * s, rv.2 * s)
            Self.storePowers(u.0, axis: 0, count: axis, scratch)
            Self.storePowers(u.1, axis: 1, count: axis, scratch)
            Self.storePowers(u.2, axis: 2, count: axis, scratch)
            func power(_ a: Int, _ e: Int) -> V { load(scratch + (a * axis + e) * width) }
            var gx = V(), gy = V(), gz = V()
            for k in 1..<nk {
                let (a, b, c) = angular.exponents[k]
                let w = load(yBar + k * stride + first)
                let px = power(0, a), py = power(1, b), pz = power(2, c)
                if a > 0 { gx += w * T(a) * power(0, a - 1) * py * pz }
                if b > 0 { gy += w * T(b) * px * power(1, b - 1) * pz }
                if c > 0 { gz += w * T(c) * px * py * power(2, c - 1) }
            }
            // u = r s with s = 1 / (d + 1e-9): chain rule through r and d (spec R6).
            let dot = gx * rv.0 + gy * rv.1 + gz * rv.2
            let a = dot * s * s / dv
            let b = load(dBar + first) / dv
            store(gx * s - a * rv.0 + b * rv.0, g + first)
            store(gy * s - a * rv.1 + b * rv.1, g + stride + first)
            store(gz * s - a * rv.2 + b * rv.2, g + 2 * stride + first)
        }
    }
}
