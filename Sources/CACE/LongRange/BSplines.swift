#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Cardinal B-splines M_p of order p (support 0 < x < p), the charge assignment of smooth
/// particle-mesh Ewald (Essmann et al., J. Chem. Phys. 103, 8577 (1995)).
enum BSplines {
    /// Orders the mesh supports.
    static let orders = 3...12

    /// Weights and derivatives along one axis for an atom at mesh coordinate u = floor(u) + w:
    /// `weights[j]` = M_p(u - g_j) for the points g_j = floor(u) - p + 1 + j, j = 0 ..< p, and
    /// `derivatives[j]` = dM_p(u - g_j)/du. `work` holds p values. The weights sum to 1.
    @inline(__always)
    static func fill(order p: Int, fraction w: Double, weights: UnsafeMutablePointer<Double>,
                     derivatives: UnsafeMutablePointer<Double>, work: UnsafeMutablePointer<Double>) {
        // work[k] = M_n(w + k), k = 0 ..< n, built up from n = 2: M_2(w) = w, M_2(w + 1) = 1 - w.
        work[0] = w
        work[1] = 1 - w
        var n = 2
        while n < p - 1 {
            n += 1
            advance(work, to: n, w)
        }
        // work now holds M_{p-1} (p >= 3): the derivative M_p'(x) = M_{p-1}(x) - M_{p-1}(x - 1).
        let m = p - 1
        for j in 0..<p {
            let k = p - 1 - j   // g_j sits at u - (w + k)
            let right = k < m ? work[k] : 0, left = k > 0 ? work[k - 1] : 0
            derivatives[j] = right - left
        }
        advance(work, to: p, w)
        for j in 0..<p { weights[j] = work[p - 1 - j] }
    }

    /// M_{n-1}(w + k) in work[0 ..< n-1] -> M_n(w + k) in work[0 ..< n]:
    /// M_n(x) = (x M_{n-1}(x) + (n - x) M_{n-1}(x - 1)) / (n - 1).
    @inline(__always)
    private static func advance(_ work: UnsafeMutablePointer<Double>, to n: Int, _ w: Double) {
        let scale = 1 / Double(n - 1)
        work[n - 1] = (Double(n) - w - Double(n - 1)) * work[n - 2] * scale
        var k = n - 2
        while k > 0 {
            let x = w + Double(k)
            work[k] = (x * work[k] + (Double(n) - x) * work[k - 1]) * scale
            k -= 1
        }
        work[0] = w * work[0] * scale
    }

    /// A(m) = the average over an atom's position u within a mesh cell of
    /// |sum_j M_p(u - g_j) exp(2 pi i m g_j / K)|^2: the mean self-interaction of one charge on the
    /// mesh at frequency m (1 / |b(m)|^2 would make it exact). The integrand is a polynomial of
    /// degree 2p - 2 in the fraction w, so p-point Gauss-Legendre quadrature is exact.
    static func selfAverages(order p: Int, points K: Int) -> [Double] {
        let (nodes, nodeWeights) = gaussLegendre(p)
        var weights = [Double](repeating: 0, count: p), derivatives = weights, work = weights
        var table = [[Double]]()   // weights at each node
        for w in nodes {
            weights.withUnsafeMutableBufferPointer { wp in
                derivatives.withUnsafeMutableBufferPointer { dp in
                    work.withUnsafeMutableBufferPointer { kp in
                        fill(order: p, fraction: w, weights: wp.baseAddress.unsafelyUnwrapped,
                             derivatives: dp.baseAddress.unsafelyUnwrapped, work: kp.baseAddress.unsafelyUnwrapped)
                    }
                }
            }
            table.append(weights)
        }
        return (0..<K).map { m in
            var average = 0.0
            for (q, theta) in table.enumerated() {
                var re = 0.0, im = 0.0
                for j in 0..<p {
                    let angle = 2 * Double.pi * Double(m * j % K) / Double(K)
                    re += theta[j] * cos(angle)
                    im += theta[j] * sin(angle)
                }
                average += nodeWeights[q] * (re * re + im * im)
            }
            return average
        }
    }

    /// Nodes and weights of n-point Gauss-Legendre quadrature on [0, 1] (Newton on P_n).
    static func gaussLegendre(_ n: Int) -> ([Double], [Double]) {
        var nodes: [Double] = [], weights: [Double] = []
        for i in 1...n {
            var x = cos(Double.pi * (Double(i) - 0.25) / (Double(n) + 0.5))
            var derivative = 1.0
            for _ in 0..<100 {
                var (p0, p1) = (1.0, x)
                for k in 2...max(n, 2) where n >= 2 {
                    (p0, p1) = (p1, ((2 * Double(k) - 1) * x * p1 - (Double(k) - 1) * p0) / Double(k))
                }
                let pn = n == 1 ? x : p1, previous = n == 1 ? 1 : p0
                derivative = Double(n) * (x * pn - previous) / (x * x - 1)
                let step = pn / derivative
                x -= step
                if abs(step) < 1e-16 { break }
            }
            nodes.append(0.5 * (1 - x))
            weights.append(1 / ((1 - x * x) * derivative * derivative))
        }
        return (nodes, weights)
    }

    /// |b(m)|^2 of the exponential Euler spline for m = 0 ..< K: the factor that makes the
    /// spline-interpolated structure factor match exp(2 pi i m u / K) to order p,
    /// |b(m)|^2 = 1 / |sum_{k=0}^{p-2} M_p(k + 1) exp(2 pi i m k / K)|^2. Zero where the sum vanishes
    /// (m = K/2 for odd p), which the k-mask never reaches (K >= 2 N + 1).
    static func eulerFactors(order p: Int, points K: Int) -> [Double] {
        // M_p at the integers 1 ... p-1: the weights of an atom exactly on a mesh point (w = 0).
        var weights = [Double](repeating: 0, count: p), derivatives = weights, work = weights
        weights.withUnsafeMutableBufferPointer { wp in
            derivatives.withUnsafeMutableBufferPointer { dp in
                work.withUnsafeMutableBufferPointer { kp in
                    fill(order: p, fraction: 0, weights: wp.baseAddress.unsafelyUnwrapped,
                         derivatives: dp.baseAddress.unsafelyUnwrapped, work: kp.baseAddress.unsafelyUnwrapped)
                }
            }
        }
        // weights[j] = M_p(p - 1 - j): M_p(k + 1) = weights[p - 2 - k].
        return (0..<K).map { m in
            var re = 0.0, im = 0.0
            for k in 0...(p - 2) {
                let value = weights[p - 2 - k], angle = 2 * Double.pi * Double(m * k % K) / Double(K)
                re += value * cos(angle)
                im += value * sin(angle)
            }
            let modulus = re * re + im * im
            return modulus > 1e-14 ? 1 / modulus : 0
        }
    }
}
