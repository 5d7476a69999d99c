/// Scratch of one worker thread in the message-passing path.
struct LayerWork {
    let index: Int
    let p: UnsafeMutablePointer<Double>            // [z][n][k]
    let channelWork: UnsafeMutablePointer<Double>  // [n][k][c]
    let x: UnsafeMutablePointer<Double>
    let xBar: UnsafeMutablePointer<Double>
    let heads: UnsafeMutablePointer<Double>
    let seeds: UnsafeMutablePointer<Double>
    let readout: UnsafeMutablePointer<Double>
    let yBar: UnsafeMutablePointer<Double>
    let powers: UnsafeMutablePointer<Double>
    let hnetScratch: UnsafeMutablePointer<Double>
    let hnetOutput: UnsafeMutablePointer<Double>
    let hnetOutputBar: UnsafeMutablePointer<Double>
    /// Per-channel MessageAr factors: phi, decay, overlap.
    let arWork: UnsafeMutablePointer<Double>
    /// MessageAr decays of one edge, [l][m][c], when they are not cached.
    let decays: UnsafeMutablePointer<Double>
    /// The last layer's A^T, B^T and their adjoints for the atom being processed.
    let lastA: UnsafeMutablePointer<Double>
    let lastB: UnsafeMutablePointer<Double>
    let lastABar: UnsafeMutablePointer<Double>
    let lastBBar: UnsafeMutablePointer<Double>

    init(model m: CACEModel, buffer: ScratchBuffer, index: Int) {
        self.index = index
        let nr = m.radialFunctionCount, nk = m.angularCount, cs = m.channelCount
        let hnetScratchCount = m.layers.compactMap { $0.bchi?.network.scratchCount }.max() ?? 0
        let hnetWidth = m.layers.compactMap { $0.bchi?.network.outputs }.max() ?? 0
        var layout = ScratchLayout()
        let p = layout.piece(m.elementCount * nr * nk), channelWork = layout.piece(nr * nk * cs)
        let x = layout.piece(m.featureCount), xBar = layout.piece(m.featureCount)
        let heads = layout.piece(m.heads.count), seeds = layout.piece(m.heads.count)
        let readout = layout.piece(m.heads.count * m.readoutScratchStride)
        let yBar = layout.piece(nk), powers = layout.piece(3 * (m.maxL + 1))
        let hnetScratch = layout.piece(hnetScratchCount), hnetOutput = layout.piece(hnetWidth)
        let hnetOutputBar = layout.piece(hnetWidth), arWork = layout.piece(3 * cs)
        let decays = layout.piece((m.maxL + 1) * m.radialBasisCount * cs)
        let aWidth = m.radialBasisCount * nk * cs, bWidth = m.radialBasisCount * m.invariantCount * cs
        let lastA = layout.piece(aWidth), lastB = layout.piece(bWidth)
        let lastABar = layout.piece(aWidth), lastBBar = layout.piece(bWidth)
        let base = buffer.reserve(layout)
        (self.lastA, self.lastB, self.lastABar, self.lastBBar) = (base + lastA, base + lastB, base + lastABar, base + lastBBar)
        (self.p, self.channelWork, self.x, self.xBar) = (base + p, base + channelWork, base + x, base + xBar)
        (self.heads, self.seeds, self.readout, self.yBar) = (base + heads, base + seeds, base + readout, base + yBar)
        (self.powers, self.hnetScratch, self.hnetOutput) = (base + powers, base + hnetScratch, base + hnetOutput)
        (self.hnetOutputBar, self.arWork, self.decays) = (base + hnetOutputBar, base + arWork, base + decays)
    }
}
