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
    /// Models without message passing lay A out [k][m][c] and B [q][m][c] (invariant-major),
    /// so that the symmetrizer runs over all M C values of a term at once; the read-out
    /// weights are permuted to match. Message passing keeps upstream's [m][k][c], [m][q][c].
    let invariantMajor: Bool
    /// `fusedTransform` of the model when invariant-major, else empty.
    let fused: [T]
    /// Edge features and gradients over vector lanes of edges (models without message passing).
    let edgeBatch: EdgeBatchKernel<T>

    /// - Parameter invariantMajor: the atom-by-atom layouts; defaults to whether `m` has no
    ///   message passing (the layered path run on such a model passes false).
    init(_ m: CACEModel, invariantMajor: Bool? = nil) {
        (elementCount, radialFunctionCount, radialBasisCount, channelCount, featureCount) =
            (m.elementCount, m.radialFunctionCount, m.radialBasisCount, m.channelCount, m.featureCount)
        (radialBasis, cutoffFunction, angular) = (m.radialBasis, m.cutoffFunction, m.angular)
        edgeChannels = m.edgeChannels.map { T($0) }
        radialTransform = m.radialTransform.map { T($0) }
        symmetrizer = Symmetrizer(converting: m.symmetrizer)
        self.invariantMajor = invariantMajor ?? m.layers.isEmpty
        readoutScratchStride = m.readoutScratchStride
        fused = self.invariantMajor ? FeatureKernels.fusedTransform(m) : []
        edgeBatch = EdgeBatchKernel(radialBasis: m.radialBasis, cutoffFunction: m.cutoffFunction, angular: m.angular)
        let order = self.invariantMajor ? FeatureKernels.invariantMajorOrder(m) : Array(0..<m.featureCount)
        // Invariant-major kernels of a message-passing model serve the descriptor's layer 0 only:
        // its heads read the stacked features of every layer, which this layout does not hold.
        heads = self.invariantMajor && !m.layers.isEmpty ? [] : m.heads.map { head in
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

    /// Edge scalars for an edge of vector r (receiver minus sender) and length d:
    /// rho[n], drho[n] = d rho/dd, Y[k]; returns the cutoff value and derivative.
    @inline(__always)
    func edgeFeatures(_ r: (Double, Double, Double), _ d: Double,
                      rho: UnsafeMutablePointer<T>, rhoDerivative: UnsafeMutablePointer<T>,
                      y: UnsafeMutablePointer<T>, powers: UnsafeMutablePointer<Double>) -> (Double, Double) {
        let (f, df) = cutoffFunction.evaluate(d)
        radialBasis.evaluate(d, cutoff: f, cutoffDerivative: df, rho: rho, rhoDerivative: rhoDerivative)
        let s = EdgeFormulas.inverseLength(d)   // quirk Q1: u is not exactly a unit vector
        angular.evaluate((r.0 * s, r.1 * s, r.2 * s), into: y, powers: powers)
        return (f, df)
    }

    /// p[n][k] += weight * rho[n] * Y[k]
    @inline(__always)
    func accumulateOuter(_ p: UnsafeMutablePointer<T>, rho: UnsafePointer<T>, y: UnsafePointer<T>, weight: T) {
        let nk = angular.count
        for n in 0..<radialFunctionCount {
            addScaled(nk, weight * rho[n], y, into: p + n * nk)
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

    /// dE/dr_e for one edge from the adjoint pBar[n][k] of its rho Y outer product (spec R4–R6),
    /// plus an extra dE/dd already collected in `dBar`.
    @inline(__always)
    func edgeGradient(_ r: (Double, Double, Double), _ d: Double, pBar: UnsafePointer<T>,
                      rho: UnsafePointer<T>, rhoDerivative: UnsafePointer<T>, y: UnsafePointer<T>,
                      dBar: Double, yBar: UnsafeMutablePointer<T>, powers: UnsafeMutablePointer<Double>)
        -> (Double, Double, Double) {
        for k in 0..<angular.count { yBar[k] = 0 }
        var dSum = T(dBar)   // nonzero only in double precision (message passing)
        foldEdgeAdjoint(pBar, scale: 1, rho: rho, rhoDerivative: rhoDerivative, y: y, yBar: yBar, dBar: &dSum)
        return edgeGradient(r, d, yBar: yBar, dBar: Double(dSum), powers: powers)
    }

    /// Adds the adjoint pBar[n][k] (times `scale`) of one edge's rho_n Y_k to the adjoints of its
    /// monomials, yBar[k] += sum_n pBar rho_n, and of its length, dBar += sum_nk pBar Y_k rho'_n:
    /// all that the edge gradient needs, so an edge need not keep the n_r x K adjoint.
    @inline(__always)
    func foldEdgeAdjoint(_ pBar: UnsafePointer<T>, scale: T, rho: UnsafePointer<T>, rhoDerivative: UnsafePointer<T>,
                         y: UnsafePointer<T>, yBar: UnsafeMutablePointer<T>, dBar: inout T) {
        let nk = angular.count
        for n in 0..<radialFunctionCount {
            let row = pBar + n * nk
            addScaled(nk, scale * rho[n], row, into: yBar)
            dBar += scale * dot(nk, row, y) * rhoDerivative[n]
        }
    }

    /// The gradient dE/dr of one edge from the adjoints of its monomials (yBar) and of its length (dBar).
    func edgeGradient(_ r: (Double, Double, Double), _ d: Double, yBar: UnsafeMutablePointer<T>, dBar: Double,
                      powers: UnsafeMutablePointer<Double>) -> (Double, Double, Double) {
        let s = EdgeFormulas.inverseLength(d)
        let uBar = angular.backward((r.0 * s, r.1 * s, r.2 * s), yBar: yBar, powers: powers)
        return EdgeFormulas.edgeGradient(uBar: uBar, r: r, d: d, dBar: dBar)
    }

    /// Potential energy of one atom from its read-out features x, and the per-head outputs.
    /// Pre-activations stay in `scratch` (one `DenseNetwork.scratchCount` block per head).
    func readoutForward(_ x: UnsafePointer<T>, headOutputs: UnsafeMutablePointer<T>,
                        scratch: UnsafeMutablePointer<T>, scratchStride: Int) {
        for h in heads.indices {   // by index: binding `head` to a copy would retain its weight arrays
            var y: T = 0
            heads[h].network.forward(x, output: &y, scratch: scratch + h * scratchStride)
            if let linear = heads[h].linear {
                linear.weight.withUnsafeBufferPointer { w in
                    var s = linear.bias?[0] ?? 0
                    for i in 0..<featureCount { s += w[i] * x[i] }
                    y += s
                }
            }
            headOutputs[h] = y
        }
    }

    /// xBar += sum_h seed[h] d(head h)/dx.
    func readoutBackward(seeds: UnsafePointer<T>, xBar: UnsafeMutablePointer<T>,
                         scratch: UnsafeMutablePointer<T>, scratchStride: Int) {
        for h in heads.indices {
            var seed = seeds[h]
            if seed == 0 { continue }
            heads[h].network.backward(outputBar: &seed, inputBar: xBar, scratch: scratch + h * scratchStride)
            if let linear = heads[h].linear {
                linear.weight.withUnsafeBufferPointer { w in
                    for i in 0..<featureCount { xBar[i] += seed * w[i] }
                }
            }
        }
    }
}
