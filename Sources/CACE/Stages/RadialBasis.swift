#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The raw radial functions R_n(d) (spec §3.5). Constants are the stored tensor values,
/// which for float32-trained models are float32-rounded (quirk Q9).
enum RadialBasis: Sendable {
    case bessel(frequencies: [Double], prefactor: Double)
    case gaussian(offsets: [Double], widths: [Double])
    case exponentialDecay(r0: [Double], prefactor: Double)

    var count: Int {
        switch self {
        case .bessel(let w, _): return w.count
        case .gaussian(let mu, _): return mu.count
        case .exponentialDecay(let r0, _): return r0.count
        }
    }

    /// Writes rho[n stride] = R_n(d) f(d) and its d-derivative, for one edge.
    @inline(__always)
    func evaluate<T: FeatureScalar>(_ d: Double, cutoff f: Double, cutoffDerivative df: Double,
                                    rho: UnsafeMutablePointer<T>, rhoDerivative: UnsafeMutablePointer<T>,
                                    stride: Int = 1) {
        switch self {
        case .bessel(let w, let prefactor):
            let inverse = 1 / d
            for n in 0..<w.count {
                let (r, dr) = EdgeFormulas.bessel(frequency: w[n], prefactor: prefactor, sin: sin(w[n] * d),
                                                  cos: cos(w[n] * d), inverse: inverse)
                rho[n * stride] = T(r * f)
                rhoDerivative[n * stride] = T(dr * f + r * df)
            }
        case .gaussian(let mu, let widths):
            for n in 0..<mu.count {
                let coefficient = -0.5 / (widths[n] * widths[n])
                let x = d - mu[n]
                let r = exp(coefficient * x * x)
                let dr = 2 * coefficient * x * r
                rho[n * stride] = T(r * f)
                rhoDerivative[n * stride] = T(dr * f + r * df)
            }
        case .exponentialDecay(let r0, let prefactor):
            for n in 0..<r0.count {
                let r = prefactor * exp(-d / r0[n])
                rho[n * stride] = T(r * f)
                rhoDerivative[n * stride] = T(-r / r0[n] * f + r * df)
            }
        }
    }
}

/// The smooth cutoff f(d) (spec §3.6); zero with zero derivative outside its mask.
enum CutoffFunction: Sendable {
    case polynomial(cutoff: Double, p: Double)
    case cosine(cutoff: Double)
    case mollifier(cutoff: Double, eps: Double)

    /// Returns (f, df/dd).
    @inline(__always)
    func evaluate(_ d: Double) -> (Double, Double) {
        switch self {
        case .polynomial(let rc, let p):
            guard d < rc else { return (0, 0) }
            let x = d / rc
            // Integer exponents (the usual p = 5 or 6) by multiplication: pow is slow.
            let xp = p == p.rounded() && p >= 1 && p <= 16 ? EdgeFormulas.integerPower(x, Int(p)) : pow(x, p)
            return EdgeFormulas.polynomialCutoff(x: x, xp: xp, p: p, cutoff: rc)
        case .cosine(let rc):
            guard d < rc else { return (0, 0) }
            return (0.5 * (cos(Double.pi * d / rc) + 1), -Double.pi / (2 * rc) * sin(Double.pi * d / rc))
        case .mollifier(let rc, let eps):
            guard d + eps < rc else { return (0, 0) }
            let y = d / rc
            let oneMinus = 1 - y * y
            let f = exp(1 - 1 / oneMinus)
            return (f, -f * 2 * y / (rc * oneMinus * oneMinus))
        }
    }
}
