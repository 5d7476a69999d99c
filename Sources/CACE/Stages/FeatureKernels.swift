/// The per-atom linear algebra shared by both evaluation paths (spec §3.8, §3.9, §10 R3–R6),
/// with the model's weights in the precision T it runs in. Edge geometry comes in as Double;
/// edge gradients go out as Double.
/// All arrays are flat and row-major; "A" layout is [m][k][c], edge-channel layout [n][k][c].
final class FeatureKernels<T: FeatureScalar>: Sendable {
    let elementCount: Int
    let radialFunctionCount: Int
    let radialBasisCount: Int
    let channelCount: Int
    let featureCount: Int
    let radialBasis: RadialBasis
    let cutoffFunction: CutoffFunction
    let angular: AngularBasis
    /// chi[zs][zr][c], W[l][n][m][c], the symmetrizer and the read-out heads of the model, in T.
    let edgeChannels: [T]
    let radialTransform: [T]
    let symmetrizer: Symmetrizer<T>
    let heads: [(network: DenseNetwork<T>, linear: DenseLayer<T>?)]
    /// Scratch values one head's read-out needs (the largest over the heads).
    let readoutScratchStride: Int
    /// Both evaluation paths lay A out [k][m][c] and B [q][m][c] (invariant-major), so that
    /// every term runs over all M C values at once; the read-out and hnet weights are permuted
    /// to match. `invariantMajor: false` keeps upstream's [m][k][c], [m][q][c] (stage tests).
    let invariantMajor: Bool
    /// The message-passing layers' weights (invariant-major kernels only).
    let layers: [LayerKernels<T>]
    /// degreeOfAngular[k] = l of angular function k.
    let degreeOfAngular: [Int]
    /// `fusedTransform` of the model when invariant-major, else empty.
    let fused: [T]
    /// Edge features and gradients over vector lanes of edges (models without message passing).
    let edgeBatch: EdgeBatchKernel<T>
    /// The canonical corrections of a model whose file sets `symmetrizer.self_interaction` false
    /// (invariant-major kernels only), else nil.
    let canonical: CanonicalCorrelation<T>?

    init(_ m: CACEModel, invariantMajor: Bool = true) {
        (elementCount, radialFunctionCount, radialBasisCount, channelCount, featureCount) =
            (m.elementCount, m.radialFunctionCount, m.radialBasisCount, m.channelCount, m.featureCount)
        (radialBasis, cutoffFunction, angular) = (m.radialBasis, m.cutoffFunction, m.angular)
        edgeChannels = m.edgeChannels.map { T($0) }
        radialTransform = m.radialTransform.map { T($0) }
        symmetrizer = Symmetrizer(converting: m.symmetrizer)
        self.invariantMajor = invariantMajor
        readoutScratchStride = m.readoutScratchStride
        fused = self.invariantMajor ? FeatureKernels.fusedTransform(m) : []
        edgeBatch = EdgeBatchKernel(radialBasis: m.radialBasis, cutoffFunction: m.cutoffFunction, angular: m.angular)
        canonical = self.invariantMajor && !m.selfInteraction
            ? CanonicalCorrelation(table: CanonicalTable(symmetrizer: m.symmetrizer, angular: m.angular),
                                   angular: m.angular, radialCount: m.radialFunctionCount,
                                   columns: m.radialBasisCount * m.channelCount, elementCount: m.elementCount)
            : nil
        let order = invariantMajor ? FeatureKernels.stackedOrder(m) : Array(0..<m.featureCount)
        let layerOrder = FeatureKernels.invariantMajorOrder(m)
        layers = invariantMajor ? m.layers.map { LayerKernels($0, messageNorm: m.messageNorm, angularCount: m.angularCount, channelCount: m.channelCount,
                                                               order: layerOrder) } : []
        var degrees = [Int](repeating: 0, count: m.angularCount)
        for (l, group) in m.angular.groups.enumerated() { for k in group { degrees[k] = l } }
        degreeOfAngular = degrees
        heads = m.heads.map { head in
            (DenseNetwork(converting: head.network, inputOrder: order),
             head.linear.map { DenseLayer(converting: $0, inputOrder: order) })
        }
    }

    /// order[f] = upstream feature index ((m Q + q) C + c) of invariant-major feature f = (q M + m) C + c.
    static func invariantMajorOrder(_ m: CACEModel) -> [Int] {
        let (nm, nq, cs) = (m.radialBasisCount, m.invariantCount, m.channelCount)
        var order = [Int](repeating: 0, count: nm * nq * cs)
        for q in 0..<nq { for mm in 0..<nm { for c in 0..<cs { order[(q * nm + mm) * cs + c] = (mm * nq + q) * cs + c } } }
        return order
    }

    /// order[t B + f] = upstream read-out feature index (order_B[f] (T+1) + t) of layer t's
    /// invariant-major feature f, B = M Q C: the stacked read-out input is [t][q][m][c].
    static func stackedOrder(_ m: CACEModel) -> [Int] {
        let layer = invariantMajorOrder(m), width = layer.count, stack = m.layers.count + 1
        var order = [Int](repeating: 0, count: width * stack)
        for t in 0..<stack { for f in 0..<width { order[t * width + f] = layer[f] * stack + t } }
        return order
    }

    /// V[zr][z][l][n][m][c] = chi[z][zr][c] W[l][n][m][c], for models without message passing.
    static func fusedTransform(_ m: CACEModel) -> [T] {
        let (nz, nl, nr, mc, cs) = (m.elementCount, m.maxL + 1, m.radialFunctionCount,
                                    m.radialBasisCount * m.channelCount, m.channelCount)
        var v = [T](repeating: 0, count: nz * nz * nl * nr * mc)
        for zr in 0..<nz {
            for z in 0..<nz {
                for row in 0..<(nl * nr) {
                    for j in 0..<mc {
                        let chi = m.edgeChannels[(z * nz + zr) * cs + j % cs]
                        v[((zr * nz + z) * nl * nr + row) * mc + j] = T(chi * m.radialTransform[row * mc + j])
                    }
                }
            }
        }
        return v
    }

    /// a[k][m][c] = sum_z sum_n p[z][n][k] V[zr][z][l(k)][n][m][c]: the edge channels and the
    /// radial transform in one pass of long vector loops (models without message passing).
    func channelsAndTransform(_ p: UnsafePointer<T>, receiver zr: Int, into a: UnsafeMutablePointer<T>) {
        let (nz, nr, nk, mc) = (elementCount, radialFunctionCount, angular.count, radialBasisCount * channelCount)
        let nl = angular.groups.count
        for i in 0..<(nk * mc) { a[i] = 0 }
        fused.withUnsafeBufferPointer { buffer in
            let v = buffer.baseAddress.unsafelyUnwrapped + zr * nz * nl * nr * mc
            for z in 0..<nz {
                for (l, group) in angular.groups.enumerated() {
                    let rows = v + (z * nl + l) * nr * mc
                    let pz = p + z * nr * nk
                    var k = group.lowerBound
                    while k + 1 < group.upperBound {   // two angular rows per pass over V
                        addCombinations(mc, rows: nr, pz + k, pz + k + 1, cStride: nk, rows, xStride: mc,
                                        into: a + k * mc, a + (k + 1) * mc)
                        k += 2
                    }
                    if k < group.upperBound {
                        addCombination(mc, rows: nr, pz + k, cStride: nk, rows, xStride: mc, into: a + k * mc)
                    }
                }
            }
        }
    }

    /// pBar[z][n][k] = sum_{m,c} aBar[k][m][c] V[zr][z][l(k)][n][m][c]: the adjoint of `channelsAndTransform`.
    func channelsAndTransformAdjoint(_ aBar: UnsafePointer<T>, receiver zr: Int, into pBar: UnsafeMutablePointer<T>) {
        let (nz, nr, nk, mc) = (elementCount, radialFunctionCount, angular.count, radialBasisCount * channelCount)
        let nl = angular.groups.count
        fused.withUnsafeBufferPointer { buffer in
            let v = buffer.baseAddress.unsafelyUnwrapped + zr * nz * nl * nr * mc
            for z in 0..<nz {
                for (l, group) in angular.groups.enumerated() {
                    let rows = v + (z * nl + l) * nr * mc
                    let out = pBar + z * nr * nk
                    var k = group.lowerBound
                    while k + 1 < group.upperBound {   // two angular rows per pass over V
                        dots(mc, rows: nr, rows, xStride: mc, aBar + k * mc, aBar + (k + 1) * mc,
                             into: out + k, out + k + 1, outStride: nk)
                        k += 2
                    }
                    if k < group.upperBound {
                        dots(mc, rows: nr, rows, xStride: mc, aBar + k * mc, into: out + k, outStride: nk)
                    }
                }
            }
        }
    }

    /// out[n][k][c] = sum_z chi[z][zr][c] * p[z][n][k]: the per-sender-element sums of rho Y
    /// expanded over the edge channels of receiver element zr.
    func expandChannels(_ p: UnsafePointer<T>, receiver zr: Int, into out: UnsafeMutablePointer<T>) {
        let nz = elementCount, nrk = radialFunctionCount * angular.count, cs = channelCount
        for i in 0..<(nrk * cs) { out[i] = 0 }
        edgeChannels.withUnsafeBufferPointer { chi in
            for z in 0..<nz {
                let weights = chi.baseAddress.unsafelyUnwrapped + (z * nz + zr) * cs
                let pz = p + z * nrk
                for nk in 0..<nrk {
                    let v = pz[nk]
                    if v == 0 { continue }
                    let o = out + nk * cs
                    for c in 0..<cs { o[c] += v * weights[c] }
                }
            }
        }
    }

    /// out[z][n][k] = sum_c bar[n][k][c] * chi[z][zr][c]: the adjoint of `expandChannels`.
    func contractChannels(_ bar: UnsafePointer<T>, receiver zr: Int, into out: UnsafeMutablePointer<T>) {
        let nz = elementCount, nrk = radialFunctionCount * angular.count, cs = channelCount
        edgeChannels.withUnsafeBufferPointer { chi in
            for z in 0..<nz {
                let weights = chi.baseAddress.unsafelyUnwrapped + (z * nz + zr) * cs
                let oz = out + z * nrk
                for nk in 0..<nrk {
                    let b = bar + nk * cs
                    oz[nk] = dot(cs, b, weights)
                }
            }
        }
    }

    /// a[m][k][c] += scale * sum_n x[n][k][c] W[l(k)][n][m][c]  (RT, spec §3.9)
    func radialTransform(_ x: UnsafePointer<T>, into a: UnsafeMutablePointer<T>, scale: T) {
        let nr = radialFunctionCount, nm = radialBasisCount, nk = angular.count, cs = channelCount
        radialTransform.withUnsafeBufferPointer { wBuffer in
            let w0 = wBuffer.baseAddress.unsafelyUnwrapped
            for (l, group) in angular.groups.enumerated() {
                for n in 0..<nr {
                    for m in 0..<nm {
                        let w = w0 + ((l * nr + n) * nm + m) * cs
                        for k in group {
                            addScaledProduct(cs, scale, x + (n * nk + k) * cs, w, into: a + (m * nk + k) * cs)
                        }
                    }
                }
            }
        }
    }

    /// xBar[n][k][c] = sum_m aBar[m][k][c] W[l(k)][n][m][c]  (RT transpose, overwrites)
    func radialTransformAdjoint(_ aBar: UnsafePointer<T>, into xBar: UnsafeMutablePointer<T>) {
        let nr = radialFunctionCount, nm = radialBasisCount, nk = angular.count, cs = channelCount
        for i in 0..<(nr * nk * cs) { xBar[i] = 0 }
        radialTransform.withUnsafeBufferPointer { wBuffer in
            let w0 = wBuffer.baseAddress.unsafelyUnwrapped
            for (l, group) in angular.groups.enumerated() {
                for n in 0..<nr {
                    for m in 0..<nm {
                        let w = w0 + ((l * nr + n) * nm + m) * cs
                        for k in group {
                            addScaledProduct(cs, 1, aBar + (m * nk + k) * cs, w, into: xBar + (n * nk + k) * cs)
                        }
                    }
                }
            }
        }
    }
}
