/// The invariant B features (spec §4): B[m,q,c] = sum over terms of
/// prefactor * prod_j A[m, k_j, c], from the explicit table in the model file.
struct Symmetrizer<T: FeatureScalar>: Sendable {
    /// Number of invariants Q.
    let featureCount: Int
    /// Terms of feature q are termStart[q] ..< termStart[q+1].
    let termStart: [Int]
    /// Up to four factor indices k per term; unused slots are -1.
    let factors: [(Int, Int, Int, Int)]
    let order: [Int]
    let prefactor: [T]

    init(featureCount: Int, termStart: [Int], factors: [(Int, Int, Int, Int)], order: [Int], prefactor: [T]) {
        (self.featureCount, self.termStart, self.factors, self.order, self.prefactor) =
            (featureCount, termStart, factors, order, prefactor)
    }

    /// The same table in another precision.
    init<U: FeatureScalar>(converting other: Symmetrizer<U>) {
        self.init(featureCount: other.featureCount, termStart: other.termStart, factors: other.factors,
                  order: other.order, prefactor: other.prefactor.map { T($0) })
    }

    /// B[m][q][c] from A[m][k][c] for one atom. With radial = 1 and channels = M C the same
    /// code maps A laid out [k][m][c] to B laid out [q][m][c], in long vector loops.
    /// Rows of A and B (one per m and k or q) are `rowStride` apart (default: `channels`), so that
    /// one atom's columns of a block's [k][atoms][M C] are read in place.
    func forward(a: UnsafePointer<T>, b: UnsafeMutablePointer<T>, radial: Int, angular: Int, channels: Int,
                 rowStride: Int? = nil) {
        let q = featureCount, cs = channels, rs = rowStride ?? channels
        for m in 0..<radial {
            let am = a + m * angular * rs
            for feature in 0..<q {
                let out = b + (m * q + feature) * rs
                for c in 0..<cs { out[c] = 0 }
                for t in termStart[feature]..<termStart[feature + 1] {
                    let (k0, k1, k2, k3) = factors[t]
                    let p = prefactor[t]
                    switch order[t] {
                    case 1: addScaled(cs, p, am + k0 * rs, into: out)
                    case 2: addScaledProduct(cs, p, am + k0 * rs, am + k1 * rs, into: out)
                    case 3: addScaledProduct(cs, p, am + k0 * rs, am + k1 * rs, am + k2 * rs, into: out)
                    default: addScaledProduct(cs, p, am + k0 * rs, am + k1 * rs, am + k2 * rs, am + k3 * rs, into: out)
                    }
                }
            }
        }
    }

    /// aBar[m][k][c] += dB/dA^T bBar for one atom (layouts as in `forward`).
    func backward(a: UnsafePointer<T>, bBar: UnsafePointer<T>, aBar: UnsafeMutablePointer<T>,
                  radial: Int, angular: Int, channels: Int, rowStride: Int? = nil) {
        let q = featureCount, cs = channels, rs = rowStride ?? channels
        for m in 0..<radial {
            let am = a + m * angular * rs
            let gm = aBar + m * angular * rs
            for feature in 0..<q {
                let g = bBar + (m * q + feature) * rs
                for t in termStart[feature]..<termStart[feature + 1] {
                    let (k0, k1, k2, k3) = factors[t]
                    let p = prefactor[t]
                    let a0 = am + k0 * rs, g0 = gm + k0 * rs
                    switch order[t] {
                    case 1:
                        addScaled(cs, p, g, into: g0)
                    case 2 where k0 == k1:
                        addScaledProduct(cs, 2 * p, g, a0, into: g0)
                    case 2:
                        termAdjoint(cs, p, g, (a0, am + k1 * rs), into: (g0, gm + k1 * rs))
                    case 3:
                        termAdjoint(cs, p, g, (a0, am + k1 * rs, am + k2 * rs), into: (g0, gm + k1 * rs, gm + k2 * rs))
                    default:
                        let a1 = am + k1 * rs, a2 = am + k2 * rs, a3 = am + k3 * rs
                        addScaledProduct(cs, p, g, a1, a2, a3, into: g0)
                        addScaledProduct(cs, p, g, a0, a2, a3, into: gm + k1 * rs)
                        addScaledProduct(cs, p, g, a0, a1, a3, into: gm + k2 * rs)
                        addScaledProduct(cs, p, g, a0, a1, a2, into: gm + k3 * rs)
                    }
                }
            }
        }
    }
}

/// The adjoint of a term p a0 a1 for B's adjoint g: bar0 += p g a1, bar1 += p g a0, in one pass.
/// Each output is loaded, updated and stored in turn, so bar0 and bar1 may be the same row.
@inline(__always)
private func termAdjoint<T: FeatureScalar>(_ count: Int, _ p: T, _ g: UnsafePointer<T>,
                                           _ a: (UnsafePointer<T>, UnsafePointer<T>),
                                           into bar: (UnsafeMutablePointer<T>, UnsafeMutablePointer<T>)) {
    let width = T.Lanes.scalarCount
    let pv = T.Lanes(repeating: p)
    var i = 0
    while i + width <= count {
        let gv = pv * load(g + i), a0 = load(a.0 + i), a1 = load(a.1 + i)
        store(multiplyAdd(load(bar.0 + i), gv, a1), bar.0 + i)
        store(multiplyAdd(load(bar.1 + i), gv, a0), bar.1 + i)
        i += width
    }
    if width > 4 && i + 4 <= count {   // Float: one 128-bit step before the scalar tail
        func part(_ p: UnsafePointer<T>) -> SIMD4<T> { UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<T>.self) }
        func update(_ p: UnsafeMutablePointer<T>, _ x: SIMD4<T>, _ y: SIMD4<T>) {
            UnsafeMutableRawPointer(p + i).storeBytes(of: multiplyAdd(part(p), x, y), as: SIMD4<T>.self)
        }
        let gv = SIMD4<T>(repeating: p) * part(g), a0 = part(a.0), a1 = part(a.1)
        update(bar.0, gv, a1)
        update(bar.1, gv, a0)
        i += 4
    }
    while i < count {
        let gv = p * g[i], a0 = a.0[i], a1 = a.1[i]
        bar.0[i] += gv * a1
        bar.1[i] += gv * a0
        i += 1
    }
}

/// The adjoint of a term p a0 a1 a2: bar0 += p g a1 a2, bar1 += p g a0 a2, bar2 += p g a0 a1, in
/// one pass (outputs may coincide, as in `termAdjoint` of two factors).
@inline(__always)
private func termAdjoint<T: FeatureScalar>(_ count: Int, _ p: T, _ g: UnsafePointer<T>,
                                           _ a: (UnsafePointer<T>, UnsafePointer<T>, UnsafePointer<T>),
                                           into bar: (UnsafeMutablePointer<T>, UnsafeMutablePointer<T>,
                                                      UnsafeMutablePointer<T>)) {
    let width = T.Lanes.scalarCount
    let pv = T.Lanes(repeating: p)
    var i = 0
    while i + width <= count {
        let gv = pv * load(g + i), a0 = load(a.0 + i), a1 = load(a.1 + i), a2 = load(a.2 + i)
        store(multiplyAdd(load(bar.0 + i), gv * a1, a2), bar.0 + i)
        store(multiplyAdd(load(bar.1 + i), gv * a0, a2), bar.1 + i)
        store(multiplyAdd(load(bar.2 + i), gv * a0, a1), bar.2 + i)
        i += width
    }
    if width > 4 && i + 4 <= count {   // Float: one 128-bit step before the scalar tail
        func part(_ p: UnsafePointer<T>) -> SIMD4<T> { UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<T>.self) }
        func update(_ p: UnsafeMutablePointer<T>, _ x: SIMD4<T>, _ y: SIMD4<T>) {
            UnsafeMutableRawPointer(p + i).storeBytes(of: multiplyAdd(part(p), x, y), as: SIMD4<T>.self)
        }
        let gv = SIMD4<T>(repeating: p) * part(g), a0 = part(a.0), a1 = part(a.1), a2 = part(a.2)
        update(bar.0, gv * a1, a2)
        update(bar.1, gv * a0, a2)
        update(bar.2, gv * a0, a1)
        i += 4
    }
    while i < count {
        let gv = p * g[i], a0 = a.0[i], a1 = a.1[i], a2 = a.2[i]
        bar.0[i] += gv * a1 * a2
        bar.1[i] += gv * a0 * a2
        bar.2[i] += gv * a0 * a1
        i += 1
    }
}
