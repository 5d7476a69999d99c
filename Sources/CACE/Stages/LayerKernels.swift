/// The weights of one message-passing layer (spec §5) in the kernels' precision, for
/// invariant-major features: A[k][m][c] and B[q][m][c]. NodeMemory and MessageAr weights are
/// rows [l][m c] that apply to every k of degree l, so each term is a run of M C values.
struct LayerKernels<T: FeatureScalar>: Sendable {
    /// NodeMemory mu[l][m c].
    let memory: [T]?
    /// MessageAr P[l][m c] times the message norm, and Lambda[l][m c].
    let arPrefactor: [T]?
    let arInverseLength: [T]?
    /// The Bchi weights' shape and the hnet with its input permuted to invariant-major B.
    let bchi: MessagePassingLayer.Bchi?
    let hnet: DenseNetwork<T>?
    /// Scalars per atom of the Bchi weights omega: 1 when one weight serves all (k, c), else K C.
    let omegaWidth: Int

    /// - Parameter order: order[f] = upstream index of invariant-major B feature f.
    init(_ layer: MessagePassingLayer, messageNorm: Double, angularCount nk: Int, channelCount cs: Int, order: [Int]) {
        memory = layer.memory.map { $0.map { T($0) } }
        arPrefactor = layer.arPrefactor.map { $0.map { T(messageNorm * $0) } }
        arInverseLength = layer.arInverseLength.map { $0.map { T($0) } }
        bchi = layer.bchi
        hnet = layer.bchi.map { DenseNetwork(converting: $0.network, inputOrder: order) }
        omegaWidth = layer.bchi.map { $0.isScalar ? 1 : nk * cs } ?? 0
    }

    /// MessageAr's factor phi[l][m c] = norm P e^(-d Lambda) f(d) of one edge (spec §5.2) and, when
    /// asked, d phi / d d = norm P e^(-d Lambda) (f'(d) - Lambda f(d)); the exponentials in vector lanes.
    func arFactors(count: Int, distance d: Double, cutoff: (Double, Double), phi: UnsafeMutablePointer<T>,
                   phiDerivative: UnsafeMutablePointer<T>?) {
        guard let prefactor = arPrefactor, let inverse = arInverseLength else { return }
        let (f, df, distance) = (T(cutoff.0), T(cutoff.1), T(d))
        prefactor.withUnsafeBufferPointer { p in
            inverse.withUnsafeBufferPointer { q in
                let p = p.baseAddress.unsafelyUnwrapped, q = q.baseAddress.unsafelyUnwrapped
                let width = T.Lanes.scalarCount
                var x = 0
                @inline(__always) func factors(_ x: Int) {
                    let lambda = load(q + x)
                    let decay = load(p + x) * T.exponential(-distance * lambda)
                    store(decay * f, phi + x)
                    if let phiDerivative { store(decay * (df - lambda * f), phiDerivative + x) }
                }
                while x + 2 * width <= count {   // two independent exponentials in flight
                    factors(x)
                    factors(x + width)
                    x += 2 * width
                }
                while x + width <= count {
                    factors(x)
                    x += width
                }
                while x < count {
                    let decay = p[x] * T.exponential(-distance * q[x])
                    phi[x] = decay * f
                    phiDerivative?[x] = decay * (df - q[x] * f)
                    x += 1
                }
            }
        }
    }

    /// omega[k][c] from the hnet output w[l][c'] (spec §5.3): broadcast over the shared axes,
    /// or spread over degrees with the l_matrix. Scalar Bchi keeps its one weight.
    func expandWeights(_ w: UnsafePointer<T>, into omega: UnsafeMutablePointer<T>, angularCount nk: Int, channelCount cs: Int) {
        guard let bchi else { return }
        if bchi.isScalar { omega[0] = w[0]; return }
        for k in 0..<nk {
            for c in 0..<cs {
                let cc = bchi.channelCount == 1 ? 0 : c
                var value: T = 0
                if let lMatrix = bchi.lMatrix {
                    for l in 0..<bchi.degreeCount { value += T(lMatrix[l * nk + k]) * w[l * bchi.channelCount + cc] }
                } else {
                    value = w[cc]
                }
                omega[k * cs + c] = value
            }
        }
    }

    /// The adjoint of `expandWeights`: w-bar[l][c'] from omega-bar.
    func reduceWeightAdjoint(_ omegaBar: UnsafePointer<T>, into wBar: UnsafeMutablePointer<T>, angularCount nk: Int,
                             channelCount cs: Int) {
        guard let bchi else { return }
        if bchi.isScalar { wBar[0] = omegaBar[0]; return }
        for idx in 0..<(bchi.degreeCount * bchi.channelCount) { wBar[idx] = 0 }
        for k in 0..<nk {
            for c in 0..<cs {
                let cc = bchi.channelCount == 1 ? 0 : c
                let g = omegaBar[k * cs + c]
                if let lMatrix = bchi.lMatrix {
                    for l in 0..<bchi.degreeCount { wBar[l * bchi.channelCount + cc] += T(lMatrix[l * nk + k]) * g }
                } else {
                    wBar[cc] += g
                }
            }
        }
    }
}

extension DenseNetwork {
    /// Every layer is affine (identity activation): `backward` needs no pre-activations.
    var isAffine: Bool { layers.allSatisfy { $0.activation == .identity } }
}
