/// Per-atom arrays of the layers t < T for owned and ghost atoms: A^t [m][k][c], B^t [m][q][c],
/// the Bchi weights omega^t [k][c] (t = 1...T), and their adjoints. The last layer, T, lives
/// only in a worker's scratch while its atom is processed (`LayerWork.last*`): nothing reads
/// another atom's A^T or B^T.
struct FeatureArrays {
    let layers: Int
    let atomCount: Int
    let nr, nk, cs, nm, q, nz: Int
    let aWidth, bWidth, kc: Int
    private let values: UnsafeMutablePointer<Double>
    private let adjoints: UnsafeMutablePointer<Double>

    init(model m: CACEModel, atomCount: Int, features: ScratchBuffer, adjoints adjointBuffer: ScratchBuffer) {
        layers = m.layers.count
        self.atomCount = atomCount
        (nr, nk, cs, nm, q, nz) = (m.radialFunctionCount, m.angularCount, m.channelCount, m.radialBasisCount,
                                   m.invariantCount, m.elementCount)
        (aWidth, bWidth, kc) = (nm * nk * cs, nm * q * cs, nk * cs)
        values = features.zeroed(layers * atomCount * (aWidth + bWidth + kc))
        adjoints = adjointBuffer.zeroed(layers * atomCount * (aWidth + bWidth) + atomCount * kc)
    }

    /// Bytes per atom (owned or ghost) of these arrays.
    var bytesPerAtom: Int { (layers * (2 * (aWidth + bWidth) + kc) + kc) * MemoryLayout<Double>.stride }

    func a(_ t: Int) -> UnsafeMutablePointer<Double> { values + t * atomCount * aWidth }
    func a(_ t: Int, _ i: Int) -> UnsafeMutablePointer<Double> { a(t) + i * aWidth }
    func b(_ t: Int, _ i: Int) -> UnsafeMutablePointer<Double> {
        values + layers * atomCount * aWidth + (t * atomCount + i) * bWidth
    }
    /// Bchi weights of layer t >= 1.
    func omega(_ t: Int, _ i: Int) -> UnsafeMutablePointer<Double> {
        values + layers * atomCount * (aWidth + bWidth) + ((t - 1) * atomCount + i) * kc
    }
    func aBar(_ t: Int) -> UnsafeMutablePointer<Double> { adjoints + t * atomCount * aWidth }
    func aBar(_ t: Int, _ i: Int) -> UnsafeMutablePointer<Double> { aBar(t) + i * aWidth }
    func bBar(_ t: Int, _ i: Int) -> UnsafeMutablePointer<Double> {
        adjoints + layers * atomCount * aWidth + (t * atomCount + i) * bWidth
    }
    var omegaBar: UnsafeMutablePointer<Double> { adjoints + layers * atomCount * (aWidth + bWidth) }

    /// x[((m Q + s) C + c)(T+1) + t] = B^t[m][s][c] (spec §6.1), B^T from `last`.
    func gatherReadoutFeatures(_ i: Int, last: UnsafePointer<Double>, into x: UnsafeMutablePointer<Double>) {
        for t in 0...layers {
            let bt = t == layers ? last : UnsafePointer(b(t, i))
            for idx in 0..<bWidth { x[idx * (layers + 1) + t] = bt[idx] }
        }
    }

    /// Adds x-bar to B-bar^t of atom i for t < T; B-bar^T is written to `last`.
    func scatterReadoutAdjoint(_ i: Int, from xBar: UnsafePointer<Double>, last: UnsafeMutablePointer<Double>) {
        for t in 0..<layers {
            let bt = bBar(t, i)
            for idx in 0..<bWidth { bt[idx] += xBar[idx * (layers + 1) + t] }
        }
        for idx in 0..<bWidth { last[idx] = xBar[idx * (layers + 1) + layers] }
    }
}
