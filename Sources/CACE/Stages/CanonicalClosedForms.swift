/// The ν = 3 closed form of canonical-cace.md (5.2) for one edge, as single passes over the
/// columns (each input row loaded once per vector, instead of once per product term):
///
///     out += −Φ1Φ2Π3 + c1 Φ1Φ3Π2 + c2 Φ2Φ3Π1 + c3 Φ1Φ2Φ3,   c1 = −s^l1, c2 = −s^l2, c3 = 2 s^(l1+l2).
enum CanonicalClosedForms {
    @inline(__always)
    static func tripleForward<T: FeatureScalar>(_ count: Int, _ c: (T, T, T), _ p1: UnsafePointer<T>, _ p2: UnsafePointer<T>,
                                                _ p3: UnsafePointer<T>, _ pi1: UnsafePointer<T>, _ pi2: UnsafePointer<T>,
                                                _ pi3: UnsafePointer<T>, into out: UnsafeMutablePointer<T>) {
        let width = T.Lanes.scalarCount
        let c1 = T.Lanes(repeating: c.0), c2 = T.Lanes(repeating: c.1), c3 = T.Lanes(repeating: c.2)
        var i = 0
        while i + width <= count {
            let x1 = load(p1 + i), x2 = load(p2 + i), x3 = load(p3 + i)
            let y1 = load(pi1 + i), y2 = load(pi2 + i), y3 = load(pi3 + i)
            let a: T.Lanes = c1 * x3 * y2 - x2 * y3
            let b: T.Lanes = c2 * y1 + c3 * x1
            let term: T.Lanes = x1 * a + x2 * x3 * b
            store(load(out + i) + term, out + i)
            i += width
        }
        while i < count {
            let x1 = p1[i], x2 = p2[i], x3 = p3[i]
            let a: T = c.0 * x3 * pi2[i] - x2 * pi3[i]
            let b: T = c.1 * pi1[i] + c.2 * x1
            out[i] += x1 * a + x2 * x3 * b
            i += 1
        }
    }

    /// The adjoint of `tripleForward` for the seed g: adds into the Φ̄ and Π̄ rows and returns
    /// (Σ g Φ1Φ3Π2, Σ g Φ2Φ3Π1, Σ g Φ1Φ2Φ3), the sums the derivatives in s need.
    @inline(__always)
    static func tripleBackward<T: FeatureScalar>(_ count: Int, _ c: (T, T, T), _ g: UnsafePointer<T>,
                                                 _ p: (UnsafePointer<T>, UnsafePointer<T>, UnsafePointer<T>),
                                                 _ pi: (UnsafePointer<T>, UnsafePointer<T>, UnsafePointer<T>),
                                                 phiBar: (UnsafeMutablePointer<T>, UnsafeMutablePointer<T>, UnsafeMutablePointer<T>),
                                                 piBar: (UnsafeMutablePointer<T>, UnsafeMutablePointer<T>, UnsafeMutablePointer<T>))
        -> (Double, Double, Double) {
        let width = T.Lanes.scalarCount
        let c1 = T.Lanes(repeating: c.0), c2 = T.Lanes(repeating: c.1), c3 = T.Lanes(repeating: c.2)
        var s1 = T.Lanes(repeating: 0), s2 = T.Lanes(repeating: 0), s3 = T.Lanes(repeating: 0)
        var i = 0
        while i + width <= count {
            let gv = load(g + i), x1 = load(p.0 + i), x2 = load(p.1 + i), x3 = load(p.2 + i)
            let y1 = load(pi.0 + i), y2 = load(pi.1 + i), y3 = load(pi.2 + i)
            let g1 = gv * x1, g2 = gv * x2, g3 = gv * x3
            let x23: T.Lanes = x2 * x3, x13: T.Lanes = x1 * x3, x12: T.Lanes = x1 * x2
            let d1: T.Lanes = c1 * x3 * y2 - x2 * y3
            let d2: T.Lanes = c2 * x3 * y1 - x1 * y3
            let d3: T.Lanes = c1 * x1 * y2 + c2 * x2 * y1
            store(load(phiBar.0 + i) + gv * (d1 + c3 * x23), phiBar.0 + i)
            store(load(phiBar.1 + i) + gv * (d2 + c3 * x13), phiBar.1 + i)
            store(load(phiBar.2 + i) + gv * (d3 + c3 * x12), phiBar.2 + i)
            store(load(piBar.2 + i) - g1 * x2, piBar.2 + i)
            store(load(piBar.1 + i) + c1 * g1 * x3, piBar.1 + i)
            store(load(piBar.0 + i) + c2 * g2 * x3, piBar.0 + i)
            s1 = multiplyAdd(s1, g1 * x3, y2)
            s2 = multiplyAdd(s2, g2 * x3, y1)
            s3 = multiplyAdd(s3, g3 * x1, x2)
            i += width
        }
        var sums = (Double(T.horizontalSum(s1)), Double(T.horizontalSum(s2)), Double(T.horizontalSum(s3)))
        while i < count {
            let gv = g[i], x1 = p.0[i], x2 = p.1[i], x3 = p.2[i], y1 = pi.0[i], y2 = pi.1[i], y3 = pi.2[i]
            let d1: T = c.0 * x3 * y2 - x2 * y3 + c.2 * x2 * x3
            let d2: T = c.1 * x3 * y1 - x1 * y3 + c.2 * x1 * x3
            let d3: T = c.0 * x1 * y2 + c.1 * x2 * y1 + c.2 * x1 * x2
            phiBar.0[i] += gv * d1
            phiBar.1[i] += gv * d2
            phiBar.2[i] += gv * d3
            piBar.2[i] -= gv * x1 * x2
            piBar.1[i] += c.0 * gv * x1 * x3
            piBar.0[i] += c.1 * gv * x2 * x3
            sums.0 += Double(gv * x1 * x3 * y2)
            sums.1 += Double(gv * x2 * x3 * y1)
            sums.2 += Double(gv * x1 * x2 * x3)
            i += 1
        }
        return sums
    }
}
