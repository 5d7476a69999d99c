/// The scratch of one worker in the message-passing path: the atom-by-atom path's buffers for
/// the atom's edges, features and read-out (`atom`), and what the layers t >= 1 add.
struct MessageWork<T: FeatureScalar> {
    var atom: Evaluator.AtomWork<T>
    let weightedY: UnsafeMutablePointer<T>    // [k][e]: Y scaled by the sender's Bchi weight
    let edgeWeight: UnsafeMutablePointer<T>   // [e]: that weight times the message norm, 0 for padding
    let arDBar: UnsafeMutablePointer<T>       // [e]: dE/dd from MessageAr
    let phi: UnsafeMutablePointer<T>          // [l][m c]: MessageAr factor of one edge
    let phiDerivative: UnsafeMutablePointer<T>
    /// [e][2][l][m c]: phi and d phi / d d of every edge of the atom, kept from the last layer's
    /// forward pass for its backward pass (they cost L+1 exponentials per (m, c) and edge).
    let phiCache: UnsafeMutablePointer<T>
    let realEdges: UnsafeMutablePointer<Int>   // [e]: the atom's edges that are not padding
    let b: UnsafeMutablePointer<T>            // [q][m][c]: B of a stored layer
    let bBar: UnsafeMutablePointer<T>
    let channelWork: UnsafeMutablePointer<T>  // [n][k][c]: per-channel Bchi messages
    let hnetScratch: UnsafeMutablePointer<T>
    let hnetOutput: UnsafeMutablePointer<T>
    let hnetOutputBar: UnsafeMutablePointer<T>
    /// A block of atoms whose last layer goes through the read-out together (BLAS): their atom
    /// numbers, stacked features and adjoints [r][F], head outputs and seeds [r][heads], the
    /// last layer's A^T [r][k][m][c], and the read-out's scratch.
    let blockRows: Int
    let blockAtoms: UnsafeMutablePointer<Int>
    let blockX: UnsafeMutablePointer<T>
    let blockXBar: UnsafeMutablePointer<T>
    let blockHeads: UnsafeMutablePointer<T>
    let blockSeeds: UnsafeMutablePointer<T>
    let blockA: UnsafeMutablePointer<T>
    let blockReadout: UnsafeMutablePointer<T>
    /// Scalars of `phiCache` per block row.
    let phiCacheRow: Int
}

extension Evaluator {
    /// Atoms per block of the last layer's read-out: enough for matrix products to read the
    /// read-out's weights once per block, few enough that the block's MessageAr factors stay small.
    static let messagePassingBlockRows = 8

    func makeMessageWork<T>(maxEdges: Int, in thread: ThreadScratch, kernels k: FeatureKernels<T>) -> MessageWork<T> {
        let atom = makeAtomWork(maxEdges: maxEdges, in: thread, as: T.self)
        let stride = atom.stride, nk = k.angular.count, mc = k.radialBasisCount * k.channelCount
        let nl = k.angular.groups.count
        let hnetScratch = k.layers.compactMap { $0.hnet?.scratchCount }.max() ?? 0
        let hnetWidth = k.layers.compactMap { $0.hnet?.outputs }.max() ?? 0
        let bWidth = model.invariantCount * mc
        var layout = ScratchLayout()
        let weightedY = layout.piece(nk * stride), edgeWeight = layout.piece(stride), arDBar = layout.piece(stride)
        let phi = layout.piece(nl * mc), phiDerivative = layout.piece(nl * mc)
        let rows = Evaluator.messagePassingBlockRows
        let phiCacheRow = k.layers.contains { $0.arPrefactor != nil } ? stride * 2 * nl * mc : 0
        let phiCache = layout.piece(rows * phiCacheRow)
        let features = model.featureCount, heads = model.heads.count
        let blockX = layout.piece(rows * features), blockXBar = layout.piece(rows * features)
        let blockHeads = layout.piece(rows * heads), blockSeeds = layout.piece(rows * heads)
        let blockA = layout.piece(rows * nk * mc), blockReadout = layout.piece(k.blockReadoutScratchCount(rows: rows))
        let indices = thread.layerIndex.reserve(stride + rows)
        let realEdges = indices, blockAtoms = indices + stride
        let b = layout.piece(bWidth), bBar = layout.piece(bWidth)
        let channelWork = layout.piece(k.radialFunctionCount * nk * k.channelCount)
        let scratch = layout.piece(hnetScratch), output = layout.piece(hnetWidth), outputBar = layout.piece(hnetWidth)
        let base = thread.layer.reserve(layout, as: T.self)
        return MessageWork(atom: atom, weightedY: base + weightedY, edgeWeight: base + edgeWeight, arDBar: base + arDBar,
                           phi: base + phi, phiDerivative: base + phiDerivative,
                           phiCache: base + phiCache, realEdges: realEdges, b: base + b, bBar: base + bBar,
                           channelWork: base + channelWork, hnetScratch: base + scratch, hnetOutput: base + output,
                           hnetOutputBar: base + outputBar,
                           blockRows: rows, blockAtoms: blockAtoms, blockX: base + blockX, blockXBar: base + blockXBar,
                           blockHeads: base + blockHeads, blockSeeds: base + blockSeeds, blockA: base + blockA,
                           blockReadout: base + blockReadout, phiCacheRow: phiCacheRow)
    }
}
