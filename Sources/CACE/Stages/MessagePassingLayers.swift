/// The per-atom stages of the message-passing path (spec §3.8–3.9, §5, §10 R2–R3) in the
/// invariant-major layout A[k][m][c] of the atom-by-atom path, on an atom's edges held as
/// structure of arrays in `AtomWork`. Each stage writes only its own atom's scratch, the
/// adjoint targets it is given, and (through `applyEdgeAdjoints`) forces.
extension Evaluator {
    /// The edges of atom i with their radial and angular features (padding edges have rho = 0).
    func gatherEdgeFeatures<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>) throws(CACEError) {
        try gatherEdges(i, atoms, &w)
        let stride = w.stride
        k.edgeBatch.features(count: w.edgeCount, stride: stride, d: w.d, r: w.r, lengths: w.lengths, rho: w.rho,
                             rhoDerivative: w.rhoDerivative, y: w.y, scratch: w.laneScratch)
        for e in 0..<w.edgeCount where w.senders[e] < 0 {
            for n in 0..<k.radialFunctionCount { w.rho[n * stride + e] = 0 }
        }
    }

    /// p[z][n][k] = sum over the edges e of sender element z of rho[n][e] y[k][e].
    func edgeMoments<T>(_ w: AtomWork<T>, y: UnsafePointer<T>, into p: UnsafeMutablePointer<T>, _ k: FeatureKernels<T>) {
        let nr = k.radialFunctionCount, nk = k.angular.count, stride = w.stride
        for z in 0..<k.elementCount {
            let start = w.groupStart[z], length = w.groupStart[z + 1] - start
            let pz = p + z * nr * nk, rho = w.rho + start, yz = y + start
            var q = 0
            while q + 1 < nk {   // two angular rows per pass over rho
                dots(length, rows: nr, rho, xStride: stride, yz + q * stride, yz + (q + 1) * stride,
                     into: pz + q, pz + q + 1, outStride: nk)
                q += 2
            }
            if q < nk { dots(length, rows: nr, rho, xStride: stride, yz + q * stride, into: pz + q, outStride: nk) }
        }
    }

    /// yBar[k][e] = sum_n pBar[z_e][n][k] rho[n][e] and rhoBar[n][e] = sum_k pBar[z_e][n][k] Y[k][e]
    /// (overwritten): the adjoint of `edgeMoments` with unit weights.
    func edgeMomentsAdjoint<T>(_ w: AtomWork<T>, pBar: UnsafePointer<T>, _ k: FeatureKernels<T>) {
        let nr = k.radialFunctionCount, nk = k.angular.count, stride = w.stride
        w.yBar.initialize(repeating: 0, count: nk * stride)
        w.rhoBar.initialize(repeating: 0, count: nr * stride)
        for z in 0..<k.elementCount {
            let start = w.groupStart[z], length = w.groupStart[z + 1] - start
            let pz = pBar + z * nr * nk
            for q in 0..<nk {
                addCombination(length, rows: nr, pz + q, cStride: nk, w.rho + start, xStride: stride,
                               into: w.yBar + q * stride + start)
            }
            for n in 0..<nr {
                addCombination(length, rows: nk, pz + n * nk, cStride: 1, w.y + start, xStride: stride,
                               into: w.rhoBar + n * stride + start)
            }
        }
    }

    /// Forces and virial of atom i's edges from yBar, rhoBar and an extra dE/dd per edge.
    func applyEdgeAdjoints<T>(_ i: Int, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>, extraDBar: UnsafePointer<T>?,
                              forces: UnsafeMutablePointer<Double>, virial: inout VirialTally,
                              atomVirials: UnsafeMutablePointer<Double>?) {
        let stride = w.stride, count = w.edgeCount
        if let extra = extraDBar { w.dBar.update(from: extra, count: count) } else { w.dBar.initialize(repeating: 0, count: count) }
        for n in 0..<k.radialFunctionCount {
            addScaledProduct(count, 1, w.rhoBar + n * stride, w.rhoDerivative + n * stride, into: w.dBar)
        }
        k.edgeBatch.gradients(count: count, stride: stride, d: w.d, r: w.r, yBar: w.yBar, dBar: w.dBar, g: w.g,
                              scratch: w.laneScratch)
        addEdgeForces(i, w, forces: forces, virial: &virial, atomVirials: atomVirials)
    }

    /// MessageAr's factors phi and d phi / d d (when asked) of one edge (`LayerKernels.arFactors`).
    func messageArFactors<T>(_ layer: LayerKernels<T>, distance d: Double, phi: UnsafeMutablePointer<T>,
                             phiDerivative: UnsafeMutablePointer<T>?, count: Int) {
        layer.arFactors(count: count, distance: d, cutoff: model.cutoffFunction.evaluate(d), phi: phi,
                        phiDerivative: phiDerivative)
    }

    /// edgeWeight[e] = message norm times the scalar Bchi weight of edge e's sender (0 for padding).
    func scalarEdgeWeights<T>(_ t: Int, _ w: MessageWork<T>, _ f: LayerFeatures<T>) {
        let norm = T(model.messageNorm)
        for e in 0..<w.atom.edgeCount {
            let j = w.atom.senders[e]
            w.edgeWeight[e] = j < 0 ? 0 : norm * f.omega(t, j)[0]
        }
    }

    /// A^t_i and B^t_i (spec §5.4) of layer t >= 1 into `w.atom.a` and `w.atom.x + t B`, from the
    /// edges already in `w.atom`.
    /// With `cachingFactors`, MessageAr's factors and their derivatives are kept in row `cacheRow`
    /// of `w.phiCache` for a `layerBackward(cachedFactors: true)` of the same atom.
    func layerForward<T>(_ t: Int, _ i: Int, _ species: UnsafePointer<Int32>, _ w: inout MessageWork<T>,
                         _ k: FeatureKernels<T>, _ f: LayerFeatures<T>, cachingFactors: Bool = false, cacheRow: Int = 0) {
        let layer = k.layers[t - 1]
        let nk = k.angular.count, mc = k.radialBasisCount * k.channelCount, nl = k.angular.groups.count
        let a = w.atom.a, zi = Int(species[i])
        a.initialize(repeating: 0, count: nk * mc)
        k.degreeOfAngular.withUnsafeBufferPointer { degrees in
            let degree = degrees.baseAddress.unsafelyUnwrapped
            if let memory = layer.memory {
                memory.withUnsafeBufferPointer { mu in
                    let previous = f.a(t - 1, i), mu = mu.baseAddress.unsafelyUnwrapped
                    for q in 0..<nk { addScaledProduct(mc, 1, mu + degree[q] * mc, previous + q * mc, into: a + q * mc) }
                }
            }
            if layer.arPrefactor != nil {
                // Every edge's factors first (kept for the backward pass), then A in one pass per row.
                let lmc = nl * mc, cache = w.phiCache + cacheRow * w.phiCacheRow
                var real = 0
                for e in 0..<w.atom.edgeCount where w.atom.senders[e] >= 0 {
                    messageArFactors(layer, distance: w.atom.lengths[e], phi: cache + 2 * e * lmc,
                                     phiDerivative: cachingFactors ? cache + (2 * e + 1) * lmc : nil, count: lmc)
                    w.realEdges[real] = e
                    real += 1
                }
                let previous = f.a(t - 1, 0), senders = w.atom.senders, edges = w.realEdges
                for q in 0..<nk {
                    let rowOffset = q * mc, phiOffset = degree[q] * mc
                    addEdgeProducts(mc, edges: real, phi: { UnsafePointer(cache + 2 * edges[$0] * lmc + phiOffset) },
                                    senders: { UnsafePointer(previous + senders[edges[$0]] * f.aWidth + rowOffset) },
                                    into: a + rowOffset)
                }
            }
        }
        if let bchi = layer.bchi, bchi.isScalar {
            // S = sum_e w_j rho_e (x) Y_e per sender element, then channels and RT fused (as layer 0).
            scalarEdgeWeights(t, w, f)
            let stride = w.atom.stride
            for q in 0..<nk {
                for e in 0..<w.atom.edgeCount { w.weightedY[q * stride + e] = w.atom.y[q * stride + e] * w.edgeWeight[e] }
            }
            edgeMoments(w.atom, y: w.weightedY, into: w.atom.p, k)
            k.channelsAndTransform(w.atom.p, receiver: zi, into: w.atom.aBar)
            for idx in 0..<(nk * mc) { a[idx] += w.atom.aBar[idx] }
        } else if layer.bchi != nil {
            channelBchiForward(t, i, species, w, k, f)
        }
        k.symmetrizer.forward(a: a, b: w.atom.x + t * model.invariantCount * mc, radial: 1, angular: nk, channels: mc)
    }

    /// Adjoint of layer t >= 1 for receiver i from A-bar^t_i in `w.atom.aBar`: adds to A-bar^{t-1}
    /// (of i and its senders) and omega-bar of the senders in the given targets, and applies the
    /// forces of i's edges.
    func layerBackward<T>(_ t: Int, _ i: Int, _ species: UnsafePointer<Int32>, _ w: inout MessageWork<T>,
                          _ k: FeatureKernels<T>, _ f: LayerFeatures<T>, aBarTarget: UnsafeMutablePointer<T>,
                          omegaBarTarget: UnsafeMutablePointer<T>, cachedFactors: Bool = false, cacheRow: Int = 0,
                          forces: UnsafeMutablePointer<Double>, virial: inout VirialTally,
                          atomVirials: UnsafeMutablePointer<Double>?) {
        let layer = k.layers[t - 1]
        let nk = k.angular.count, mc = k.radialBasisCount * k.channelCount, nl = k.angular.groups.count
        let gi = w.atom.aBar, zi = Int(species[i]), stride = w.atom.stride, count = w.atom.edgeCount
        w.arDBar.initialize(repeating: 0, count: count)
        k.degreeOfAngular.withUnsafeBufferPointer { degrees in
            let degree = degrees.baseAddress.unsafelyUnwrapped
            if let memory = layer.memory {
                memory.withUnsafeBufferPointer { mu in
                    let target = aBarTarget + i * f.aWidth, mu = mu.baseAddress.unsafelyUnwrapped
                    for q in 0..<nk { addScaledProduct(mc, 1, mu + degree[q] * mc, gi + q * mc, into: target + q * mc) }
                }
            }
            if layer.arPrefactor != nil {
                let lmc = nl * mc
                for e in 0..<count where w.atom.senders[e] >= 0 {
                    let j = w.atom.senders[e]
                    var phi = w.phi, phiDerivative = w.phiDerivative
                    if cachedFactors {
                        let cache = w.phiCache + cacheRow * w.phiCacheRow
                        (phi, phiDerivative) = (cache + 2 * e * lmc, cache + (2 * e + 1) * lmc)
                    } else {
                        messageArFactors(layer, distance: w.atom.lengths[e], phi: phi, phiDerivative: phiDerivative, count: lmc)
                    }
                    let aj = f.a(t - 1, j), target = aBarTarget + j * f.aWidth
                    var dBar: T = 0
                    for q in 0..<nk {
                        let l = degree[q] * mc
                        dBar += addEdgeProductAdjoint(mc, g: gi + q * mc, phi: phi + l, phiDerivative: phiDerivative + l,
                                                      sender: aj + q * mc, into: target + q * mc)
                    }
                    w.arDBar[e] = dBar
                }
            }
        }
        if let bchi = layer.bchi, bchi.isScalar {
            k.channelsAndTransformAdjoint(gi, receiver: zi, into: w.atom.p)
            edgeMomentsAdjoint(w.atom, pBar: w.atom.p, k)
            scalarEdgeWeights(t, w, f)
            let norm = T(model.messageNorm)
            for e in 0..<count where w.atom.senders[e] >= 0 {
                var overlap: T = 0
                for q in 0..<nk { overlap += w.atom.y[q * stride + e] * w.atom.yBar[q * stride + e] }
                omegaBarTarget[w.atom.senders[e] * f.omegaBarWidth] += norm * overlap
            }
            for q in 0..<nk { for e in 0..<count { w.atom.yBar[q * stride + e] *= w.edgeWeight[e] } }
            for n in 0..<k.radialFunctionCount { for e in 0..<count { w.atom.rhoBar[n * stride + e] *= w.edgeWeight[e] } }
        } else if layer.bchi != nil {
            w.atom.yBar.initialize(repeating: 0, count: nk * stride)
            w.atom.rhoBar.initialize(repeating: 0, count: k.radialFunctionCount * stride)
            channelBchiBackward(t, i, species, w, k, f, omegaBarTarget: omegaBarTarget)
        } else {
            w.atom.yBar.initialize(repeating: 0, count: nk * stride)
            w.atom.rhoBar.initialize(repeating: 0, count: k.radialFunctionCount * stride)
        }
        applyEdgeAdjoints(i, &w.atom, k, extraDBar: w.arDBar, forces: forces, virial: &virial, atomVirials: atomVirials)
    }

    /// Layer 0's adjoint from the complete A-bar^0_i: the forces of i's edges (spec R3).
    func layerZeroBackward<T>(_ i: Int, _ species: UnsafePointer<Int32>, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>,
                              aBar: UnsafePointer<T>, forces: UnsafeMutablePointer<Double>, virial: inout VirialTally,
                              atomVirials: UnsafeMutablePointer<Double>?) {
        k.channelsAndTransformAdjoint(aBar, receiver: Int(species[i]), into: w.p)
        edgeMomentsAdjoint(w, pBar: w.p, k)
        applyEdgeAdjoints(i, &w, k, extraDBar: nil, forces: forces, virial: &virial, atomVirials: atomVirials)
    }
}

