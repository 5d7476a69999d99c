/// Bchi messages whose weights omega_j[k][c] differ between angular functions or channels
/// (spec §5.3 with nl > 1 or nc > 1): the channels cannot be folded into the radial transform,
/// so S[n][k][c] is built per channel, then A[k][m][c] += norm sum_n S[n][k][c] W[l(k)][n][m][c].
extension Evaluator {
    func channelBchiForward<T>(_ t: Int, _ i: Int, _ species: UnsafePointer<Int32>, _ w: MessageWork<T>,
                               _ k: FeatureKernels<T>, _ f: LayerFeatures<T>) {
        let nr = k.radialFunctionCount, nk = k.angular.count, cs = k.channelCount, nm = k.radialBasisCount
        let nz = k.elementCount, zi = Int(species[i]), stride = w.atom.stride, mc = nm * cs
        let s = w.channelWork
        s.initialize(repeating: 0, count: nr * nk * cs)
        k.edgeChannels.withUnsafeBufferPointer { chi in
            for e in 0..<w.atom.edgeCount where w.atom.senders[e] >= 0 {
                let j = w.atom.senders[e]
                let weights = chi.baseAddress.unsafelyUnwrapped + (Int(species[j]) * nz + zi) * cs
                let oj = f.omega(t, j)
                for n in 0..<nr {
                    let rho = w.atom.rho[n * stride + e]
                    for q in 0..<nk {
                        addScaledProduct(cs, rho * w.atom.y[q * stride + e], weights, oj + q * cs, into: s + (n * nk + q) * cs)
                    }
                }
            }
        }
        let norm = T(model.messageNorm), a = w.atom.a
        k.radialTransform.withUnsafeBufferPointer { weights in
            let w0 = weights.baseAddress.unsafelyUnwrapped
            for q in 0..<nk {
                let l = k.degreeOfAngular[q]
                for n in 0..<nr {
                    for mm in 0..<nm {
                        addScaledProduct(cs, norm, s + (n * nk + q) * cs, w0 + ((l * nr + n) * nm + mm) * cs,
                                         into: a + q * mc + mm * cs)
                    }
                }
            }
        }
    }

    /// The adjoint: adds to yBar, rhoBar of the edges in `w.atom` and to omega-bar of the senders.
    func channelBchiBackward<T>(_ t: Int, _ i: Int, _ species: UnsafePointer<Int32>, _ w: MessageWork<T>,
                                _ k: FeatureKernels<T>, _ f: LayerFeatures<T>, omegaBarTarget: UnsafeMutablePointer<T>) {
        let nr = k.radialFunctionCount, nk = k.angular.count, cs = k.channelCount, nm = k.radialBasisCount
        let nz = k.elementCount, zi = Int(species[i]), stride = w.atom.stride, mc = nm * cs
        let sBar = w.channelWork, gi = w.atom.aBar, norm = T(model.messageNorm)
        sBar.initialize(repeating: 0, count: nr * nk * cs)
        k.radialTransform.withUnsafeBufferPointer { weights in
            let w0 = weights.baseAddress.unsafelyUnwrapped
            for q in 0..<nk {
                let l = k.degreeOfAngular[q]
                for n in 0..<nr {
                    for mm in 0..<nm {
                        addScaledProduct(cs, norm, gi + q * mc + mm * cs, w0 + ((l * nr + n) * nm + mm) * cs,
                                         into: sBar + (n * nk + q) * cs)
                    }
                }
            }
        }
        k.edgeChannels.withUnsafeBufferPointer { chi in
            for e in 0..<w.atom.edgeCount where w.atom.senders[e] >= 0 {
                let j = w.atom.senders[e]
                let weights = chi.baseAddress.unsafelyUnwrapped + (Int(species[j]) * nz + zi) * cs
                let oj = f.omega(t, j), ojBar = omegaBarTarget + j * f.omegaBarWidth
                for n in 0..<nr {
                    let rho = w.atom.rho[n * stride + e]
                    for q in 0..<nk {
                        let y = w.atom.y[q * stride + e], row = sBar + (n * nk + q) * cs
                        var sum: T = 0
                        for c in 0..<cs {
                            let wc = row[c] * weights[c]
                            sum += wc * oj[q * cs + c]
                            ojBar[q * cs + c] += rho * y * wc
                        }
                        w.atom.yBar[q * stride + e] += sum * rho
                        w.atom.rhoBar[n * stride + e] += sum * y
                    }
                }
            }
        }
    }
}
