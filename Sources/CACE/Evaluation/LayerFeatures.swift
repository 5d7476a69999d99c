/// What the message-passing path keeps per atom (owned and ghost): A^t of the layers t < T,
/// the Bchi weights omega^t of layers t = 1...T, the adjoints A-bar^t, and omega-bar of the
/// layer being differentiated. Nothing else lives per atom or per edge: B^t is the
/// symmetrizer of A^t and is recomputed where it is read, and edge features are recomputed
/// for each atom in each pass. Layouts are invariant-major, A[k][m][c].
struct LayerFeatures<T: FeatureScalar> {
    let layers: Int
    let atomCount: Int
    let aWidth: Int
    /// omega's width per layer t = 1...T (index t - 1), and the widest.
    let omegaWidths: [Int]
    let omegaBarWidth: Int
    private let values: UnsafeMutablePointer<T>
    private let omegaValues: UnsafeMutablePointer<T>
    private let adjoints: UnsafeMutablePointer<T>
    /// The adjoint arrays' first omega-bar scalar.
    let omegaBar: UnsafeMutablePointer<T>

    init(kernels k: FeatureKernels<T>, atomCount: Int, values valueBuffer: ScratchBuffer, adjoints adjointBuffer: ScratchBuffer) {
        layers = k.layers.count
        self.atomCount = atomCount
        aWidth = k.radialBasisCount * k.angular.count * k.channelCount
        omegaWidths = k.layers.map(\.omegaWidth)
        omegaBarWidth = omegaWidths.max() ?? 0
        var valueLayout = ScratchLayout(), adjointLayout = ScratchLayout()
        let a = valueLayout.piece(layers * atomCount * aWidth)
        let omega = valueLayout.piece(omegaWidths.reduce(0, +) * atomCount)
        let aBar = adjointLayout.piece(layers * atomCount * aWidth)
        let omegaBar = adjointLayout.piece(omegaBarWidth * atomCount)
        let v = valueBuffer.reserve(valueLayout, as: T.self), g = adjointBuffer.reserve(adjointLayout, as: T.self)
        (values, omegaValues, adjoints, self.omegaBar) = (v + a, v + omega, g + aBar, g + omegaBar)
        // A-bar is summed into; A and omega are written before they are read.
        adjoints.initialize(repeating: 0, count: layers * atomCount * aWidth)
    }

    func a(_ t: Int) -> UnsafeMutablePointer<T> { values + t * atomCount * aWidth }
    func a(_ t: Int, _ i: Int) -> UnsafeMutablePointer<T> { a(t) + i * aWidth }
    func aBar(_ t: Int) -> UnsafeMutablePointer<T> { adjoints + t * atomCount * aWidth }
    func aBar(_ t: Int, _ i: Int) -> UnsafeMutablePointer<T> { aBar(t) + i * aWidth }
    /// The Bchi weights of layer t >= 1 for atom i.
    func omega(_ t: Int, _ i: Int) -> UnsafeMutablePointer<T> {
        var start = 0
        for s in 0..<(t - 1) { start += omegaWidths[s] * atomCount }
        return omegaValues + start + i * omegaWidths[t - 1]
    }
    /// omega-bar of atom i for the layer being differentiated (rows of `omegaBarWidth`).
    func omegaBar(_ i: Int) -> UnsafeMutablePointer<T> { omegaBar + i * omegaBarWidth }
}
