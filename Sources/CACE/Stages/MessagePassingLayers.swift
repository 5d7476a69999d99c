/// The per-atom stages of the message-passing path (spec §3.8–3.9, §5, §10 R2–R3). Each
/// writes only rows of its own atom i, its own edges, or the scatter targets it is given.
extension Evaluator {
    /// A^0_i and B^0_i from the edges of atom i.
    func layerZeroForward(_ ii: Int, _ i: Int, _ species: UnsafePointer<Int32>, _ edges: EdgeArrays,
                          _ f: FeatureArrays, _ w: LayerWork, a ai: UnsafeMutablePointer<Double>,
                          b bi: UnsafeMutablePointer<Double>) {
        for idx in 0..<(f.nz * f.nr * f.nk) { w.p[idx] = 0 }
        for e in edges.start[ii]..<edges.start[ii + 1] {
            kernels.accumulateOuter(w.p + Int(species[edges.senders[e]]) * f.nr * f.nk, rho: edges.rho + e * f.nr,
                              y: edges.y + e * f.nk, weight: 1)
        }
        kernels.expandChannels(w.p, receiver: Int(species[i]), into: w.channelWork)
        kernels.radialTransform(w.channelWork, into: ai, scale: 1)
        kernels.symmetrizer.forward(a: ai, b: bi, radial: f.nm, angular: f.nk, channels: f.cs)
    }

    /// A^t_i = gamma (Ar + RT(S)) + memory, and B^t_i (spec §5.4), added to `ai` (zero on entry) and written to `bi`.
    func layerForward(_ t: Int, _ layer: MessagePassingLayer, _ ii: Int, _ i: Int, _ species: UnsafePointer<Int32>,
                      _ edges: EdgeArrays, _ f: FeatureArrays, _ w: LayerWork, a ai: UnsafeMutablePointer<Double>,
                      b bi: UnsafeMutablePointer<Double>, decayCache: UnsafeMutablePointer<Double>?) {
        let m = model
        let (nm, nk, cs, nr, nz) = (f.nm, f.nk, f.cs, f.nr, f.nz)
        let zi = Int(species[i])
        let previous = f.a(t - 1, i)
        if let mu = layer.memory {
            mu.withUnsafeBufferPointer { muBuffer in
                for (l, group) in m.angular.groups.enumerated() {
                    for mm in 0..<nm {
                        let row = muBuffer.baseAddress.unsafelyUnwrapped + (l * nm + mm) * cs
                        for k in group {
                            addScaledProduct(cs, 1, row, previous + (mm * nk + k) * cs, into: ai + (mm * nk + k) * cs)
                        }
                    }
                }
            }
        }
        if let prefactor = layer.arPrefactor, let inverse = layer.arInverseLength {
            let phi = w.arWork
            let lmc = m.angular.groups.count * nm * cs
            for e in edges.start[ii]..<edges.start[ii + 1] {
                let aj = f.a(t - 1, edges.senders[e])
                let d = edges.lengths[e], cutoff = edges.cutoff[e]
                let decays = decayCache.map { $0 + e * lmc } ?? w.decays   // a cache keeps them for the backward pass
                messageArDecays(lmc, distance: d, scale: m.messageNorm, prefactor: prefactor, inverse: inverse, into: decays)
                for (l, group) in m.angular.groups.enumerated() {
                    for mm in 0..<nm {
                        for c in 0..<cs { phi[c] = decays[(l * nm + mm) * cs + c] * cutoff }
                        for k in group {
                            addScaledProduct(cs, 1, phi, aj + (mm * nk + k) * cs, into: ai + (mm * nk + k) * cs)
                        }
                    }
                }
            }
        }
        if let bchi = layer.bchi, bchi.isScalar {
            // One weight per sender: S = sum_z chi[z][zi] (x) sum_{e from z} w_j rho_e (x) Y_e, then RT.
            for idx in 0..<(nz * nr * nk) { w.p[idx] = 0 }
            for e in edges.start[ii]..<edges.start[ii + 1] {
                let j = edges.senders[e]
                kernels.accumulateOuter(w.p + Int(species[j]) * nr * nk, rho: edges.rho + e * nr, y: edges.y + e * nk,
                                  weight: f.omega(t, j)[0])
            }
            kernels.expandChannels(w.p, receiver: zi, into: w.channelWork)
            kernels.radialTransform(w.channelWork, into: ai, scale: m.messageNorm)
        } else if layer.bchi != nil {
            // S[n][k][c] = sum_e chi_e[c] rho_e[n] Y_e[k] omega_j[k][c], then RT.
            for idx in 0..<(nr * nk * cs) { w.channelWork[idx] = 0 }
            m.edgeChannels.withUnsafeBufferPointer { chi in
                for e in edges.start[ii]..<edges.start[ii + 1] {
                    let j = edges.senders[e]
                    let weights = chi.baseAddress.unsafelyUnwrapped + (Int(species[j]) * nz + zi) * cs
                    let oj = f.omega(t, j)
                    let rho = edges.rho + e * nr, y = edges.y + e * nk
                    for n in 0..<nr {
                        for k in 0..<nk {
                            addScaledProduct(cs, rho[n] * y[k], weights, oj + k * cs, into: w.channelWork + (n * nk + k) * cs)
                        }
                    }
                }
            }
            kernels.radialTransform(w.channelWork, into: ai, scale: m.messageNorm)
        }
        kernels.symmetrizer.forward(a: ai, b: bi, radial: nm, angular: nk, channels: cs)
    }

    /// Adjoint of layer t for receiver i: adds to A-bar^{t-1} (of i and its senders) and
    /// omega-bar of the senders in the given targets, and to the adjoints of i's edges.
    func layerBackward(_ t: Int, _ layer: MessagePassingLayer, _ ii: Int, _ i: Int, _ species: UnsafePointer<Int32>,
                       _ edges: EdgeArrays, _ f: FeatureArrays, _ w: LayerWork, aBar gi: UnsafePointer<Double>,
                       aBarTarget: UnsafeMutablePointer<Double>, omegaBarTarget: UnsafeMutablePointer<Double>,
                       decayCache: UnsafeMutablePointer<Double>?) {
        let m = model
        let (nm, nk, cs, nr, nz) = (f.nm, f.nk, f.cs, f.nr, f.nz)
        let zi = Int(species[i])
        if let mu = layer.memory {
            let target = aBarTarget + i * f.aWidth
            mu.withUnsafeBufferPointer { muBuffer in
                for (l, group) in m.angular.groups.enumerated() {
                    for mm in 0..<nm {
                        let row = muBuffer.baseAddress.unsafelyUnwrapped + (l * nm + mm) * cs
                        for k in group {
                            addScaledProduct(cs, 1, row, gi + (mm * nk + k) * cs, into: target + (mm * nk + k) * cs)
                        }
                    }
                }
            }
        }
        if let prefactor = layer.arPrefactor, let inverse = layer.arInverseLength {
            let phi = w.arWork, decay = w.arWork + cs, overlap = w.arWork + 2 * cs
            let lmc = m.angular.groups.count * nm * cs
            for e in edges.start[ii]..<edges.start[ii + 1] {
                let j = edges.senders[e]
                let aj = f.a(t - 1, j), target = aBarTarget + j * f.aWidth
                let d = edges.lengths[e], cutoff = edges.cutoff[e], dCutoff = edges.cutoffDerivative[e]
                var dBar = 0.0
                let decays: UnsafeMutablePointer<Double>
                if let cache = decayCache {
                    decays = cache + e * lmc
                } else {
                    decays = w.decays
                    messageArDecays(lmc, distance: d, scale: m.messageNorm, prefactor: prefactor, inverse: inverse,
                                    into: decays)
                }
                for (l, group) in m.angular.groups.enumerated() {
                    for mm in 0..<nm {
                        for c in 0..<cs {
                            decay[c] = decays[(l * nm + mm) * cs + c]
                            phi[c] = decay[c] * cutoff
                            overlap[c] = 0
                        }
                        for k in group {
                            let row = (mm * nk + k) * cs
                            addScaledProduct(cs, 1, gi + row, phi, into: target + row)
                            addScaledProduct(cs, 1, gi + row, aj + row, into: overlap)
                        }
                        for c in 0..<cs {
                            dBar += overlap[c] * decay[c] * (dCutoff - inverse[(l * nm + mm) * cs + c] * cutoff)
                        }
                    }
                }
                edges.dBar[e] += dBar
            }
        }
        if let bchi = layer.bchi, bchi.isScalar {
            // S-bar contracted with the channels of each sender element, then per edge.
            kernels.radialTransformAdjoint(gi, into: w.channelWork)
            kernels.contractChannels(w.channelWork, receiver: zi, into: w.p)
            let size = nr * nk
            for e in edges.start[ii]..<edges.start[ii + 1] {
                let j = edges.senders[e]
                let sChi = w.p + Int(species[j]) * size
                let rho = edges.rho + e * nr, y = edges.y + e * nk
                let scale = m.messageNorm * f.omega(t, j)[0]
                kernels.foldEdgeAdjoint(sChi, scale: scale, rho: rho, rhoDerivative: edges.rhoDerivative + e * nr, y: y,
                                        yBar: edges.yBar + e * nk, dBar: &edges.dBar[e])
                var overlap = 0.0
                for n in 0..<nr { overlap += dot(nk, sChi + n * nk, y) * rho[n] }
                omegaBarTarget[j * f.kc] += m.messageNorm * overlap
            }
        } else if layer.bchi != nil {
            // S-bar = RT^T(gamma A-bar^t); then per edge to rho (x) Y and to omega of the sender.
            kernels.radialTransformAdjoint(gi, into: w.channelWork)
            m.edgeChannels.withUnsafeBufferPointer { chi in
                for e in edges.start[ii]..<edges.start[ii + 1] {
                    let j = edges.senders[e]
                    let weights = chi.baseAddress.unsafelyUnwrapped + (Int(species[j]) * nz + zi) * cs
                    let oj = f.omega(t, j), ojBar = omegaBarTarget + j * f.kc
                    let rho = edges.rho + e * nr, y = edges.y + e * nk, yBar = edges.yBar + e * nk
                    let rhoDerivative = edges.rhoDerivative + e * nr
                    var dBar = 0.0
                    for n in 0..<nr {
                        for k in 0..<nk {
                            let sBar = w.channelWork + (n * nk + k) * cs, ok = oj + k * cs, okBar = ojBar + k * cs
                            let psi = rho[n] * y[k]
                            var sum = 0.0
                            for c in 0..<cs {
                                let wc = m.messageNorm * sBar[c] * weights[c]
                                sum += wc * ok[c]
                                okBar[c] += psi * wc
                            }
                            // the edge's pBar[n][k] = sum, folded at once (see foldEdgeAdjoint)
                            yBar[k] += sum * rho[n]
                            dBar += sum * y[k] * rhoDerivative[n]
                        }
                    }
                    edges.dBar[e] += dBar
                }
            }
        }
    }

    /// Layer 0's adjoint from the complete A-bar^0_i to the edges of atom i (spec R3).
    func layerZeroBackward(_ ii: Int, _ i: Int, _ species: UnsafePointer<Int32>, _ edges: EdgeArrays,
                           _ f: FeatureArrays, _ w: LayerWork, aBar gi: UnsafePointer<Double>) {
        let size = f.nr * f.nk
        kernels.radialTransformAdjoint(gi, into: w.channelWork)
        kernels.contractChannels(w.channelWork, receiver: Int(species[i]), into: w.p)
        for e in edges.start[ii]..<edges.start[ii + 1] {
            kernels.foldEdgeAdjoint(w.p + Int(species[edges.senders[e]]) * size, scale: 1, rho: edges.rho + e * f.nr,
                                    rhoDerivative: edges.rhoDerivative + e * f.nr, y: edges.y + e * f.nk,
                                    yBar: edges.yBar + e * f.nk, dBar: &edges.dBar[e])
        }
    }
}
