/// The invariant B features (spec §4): B[m,q,c] = sum over terms of
/// prefactor * prod_j A[m, k_j, c], from the explicit table in the model file.
struct Symmetrizer: Sendable {
    /// Number of invariants Q.
    let featureCount: Int
    /// Terms of feature q are termStart[q] ..< termStart[q+1].
    let termStart: [Int]
    /// Up to four factor indices k per term; unused slots are -1.
    let factors: [(Int, Int, Int, Int)]
    let order: [Int]
    let prefactor: [Double]

    /// B[m][q][c] from A[m][k][c] for one atom.
    func forward(a: UnsafePointer<Double>, b: UnsafeMutablePointer<Double>,
                 radial: Int, angular: Int, channels: Int) {
        let q = featureCount, cs = channels
        for m in 0..<radial {
            let am = a + m * angular * cs
            for feature in 0..<q {
                let out = b + (m * q + feature) * cs
                for c in 0..<cs { out[c] = 0 }
                for t in termStart[feature]..<termStart[feature + 1] {
                    let (k0, k1, k2, k3) = factors[t]
                    let p = prefactor[t]
                    let a0 = am + k0 * cs
                    switch order[t] {
                    case 1:
                        for c in 0..<cs { out[c] += p * a0[c] }
                    case 2:
                        let a1 = am + k1 * cs
                        for c in 0..<cs { out[c] += p * a0[c] * a1[c] }
                    case 3:
                        let a1 = am + k1 * cs, a2 = am + k2 * cs
                        for c in 0..<cs { out[c] += p * a0[c] * a1[c] * a2[c] }
                    default:
                        let a1 = am + k1 * cs, a2 = am + k2 * cs, a3 = am + k3 * cs
                        for c in 0..<cs { out[c] += p * a0[c] * a1[c] * a2[c] * a3[c] }
                    }
                }
            }
        }
    }

    /// aBar[m][k][c] += dB/dA^T bBar for one atom.
    func backward(a: UnsafePointer<Double>, bBar: UnsafePointer<Double>, aBar: UnsafeMutablePointer<Double>,
                  radial: Int, angular: Int, channels: Int) {
        let q = featureCount, cs = channels
        for m in 0..<radial {
            let am = a + m * angular * cs
            let gm = aBar + m * angular * cs
            for feature in 0..<q {
                let g = bBar + (m * q + feature) * cs
                for t in termStart[feature]..<termStart[feature + 1] {
                    let (k0, k1, k2, k3) = factors[t]
                    let p = prefactor[t]
                    let a0 = am + k0 * cs, g0 = gm + k0 * cs
                    switch order[t] {
                    case 1:
                        for c in 0..<cs { g0[c] += p * g[c] }
                    case 2:
                        let a1 = am + k1 * cs, g1 = gm + k1 * cs
                        for c in 0..<cs {
                            let w = p * g[c]
                            g0[c] += w * a1[c]
                            g1[c] += w * a0[c]
                        }
                    case 3:
                        let a1 = am + k1 * cs, a2 = am + k2 * cs
                        let g1 = gm + k1 * cs, g2 = gm + k2 * cs
                        for c in 0..<cs {
                            let w = p * g[c]
                            g0[c] += w * a1[c] * a2[c]
                            g1[c] += w * a0[c] * a2[c]
                            g2[c] += w * a0[c] * a1[c]
                        }
                    default:
                        let a1 = am + k1 * cs, a2 = am + k2 * cs, a3 = am + k3 * cs
                        let g1 = gm + k1 * cs, g2 = gm + k2 * cs, g3 = gm + k3 * cs
                        for c in 0..<cs {
                            let w = p * g[c]
                            let p01 = a0[c] * a1[c], p23 = a2[c] * a3[c]
                            g0[c] += w * a1[c] * p23
                            g1[c] += w * a0[c] * p23
                            g2[c] += w * p01 * a3[c]
                            g3[c] += w * p01 * a2[c]
                        }
                    }
                }
            }
        }
    }
}
