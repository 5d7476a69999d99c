/// The long-range term without a second forward pass (atom-by-atom path). The Ewald term needs
/// every charge q_i before it can give dE/dq_i = phi_i, and the backward pass needs phi_i. So the
/// forward pass runs once for all atoms and keeps, per atom, what the backward pass cannot get
/// cheaply again: the edge sums p (from which A is one matrix product) and every head's
/// first-layer adjoint for a unit seed (the features' adjoint is linear in each head's seed, so
/// B and the heads' pre-activations are not needed again). After the Ewald term the backward
/// pass gathers each atom's edges again and runs as usual from there.
extension Evaluator {
    /// Whether the long-range model's backward pass can run from kept values: not for canonical
    /// models, whose corrections' adjoints need B's forward state (they run a charge pass first).
    func keepsForwardState<T>(_ k: FeatureKernels<T>) -> Bool { k.canonical == nil }

    /// Where the forward pass keeps, for `atoms` atoms in evaluation order, the edge sums (in
    /// each block's layout, `edgeSumCount` per atom) and the heads' first-layer adjoints
    /// (`readoutFirstLayerWidth` per atom).
    struct KeptForwardState<T: FeatureScalar> {
        let edgeSums: UnsafeMutablePointer<T>
        let firstLayerAdjoints: UnsafeMutablePointer<T>
        let edgeSumCount: Int
        let firstLayerWidth: Int

        /// The block that starts at position `start` of the evaluation order.
        func block(at start: Int) -> (edgeSums: UnsafeMutablePointer<T>, firstLayerAdjoints: UnsafeMutablePointer<T>) {
            (edgeSums + start * edgeSumCount, firstLayerAdjoints + start * firstLayerWidth)
        }
    }

    func makeKeptForwardState<T>(atoms count: Int, _ k: FeatureKernels<T>) -> KeptForwardState<T> {
        let edgeSumCount = k.elementCount * k.angular.count * k.radialFunctionCount
        let firstLayerWidth = k.readoutFirstLayerWidth
        var layout = ScratchLayout()
        let sums = layout.piece(count * edgeSumCount), adjoints = layout.piece(count * firstLayerWidth)
        let base = scratch.keptForwardState.reserve(layout, as: T.self)
        return KeptForwardState(edgeSums: base + sums, firstLayerAdjoints: base + adjoints, edgeSumCount: edgeSumCount,
                                firstLayerWidth: firstLayerWidth)
    }

    /// Keeps what `blockBackwardFromKept` needs of the block `blockForward` just evaluated.
    func keepForwardState<T>(count: Int, _ block: BlockWork<T>, _ k: FeatureKernels<T>,
                             into kept: (edgeSums: UnsafeMutablePointer<T>, firstLayerAdjoints: UnsafeMutablePointer<T>)) {
        kept.edgeSums.update(from: block.p, count: count * k.elementCount * k.angular.count * k.radialFunctionCount)
        k.readoutFirstLayerAdjoints(rows: count, scratch: block.readout, into: kept.firstLayerAdjoints)
    }

    /// `blockBackward` for the seeds in `block.seeds`, from the state `keepForwardState` kept for
    /// these atoms: their edges again, A from the kept edge sums, the features' adjoint from the
    /// kept first-layer adjoints, then the remaining stages down to the edge forces.
    func blockBackwardFromKept<T>(_ indices: UnsafePointer<Int>, count: Int, receiver: Int, _ atoms: AtomsView,
                                  _ block: inout BlockWork<T>, _ k: FeatureKernels<T>,
                                  kept: (edgeSums: UnsafeMutablePointer<T>, firstLayerAdjoints: UnsafeMutablePointer<T>),
                                  forces: UnsafeMutablePointer<Double>, virial: inout VirialTally,
                                  atomVirials: UnsafeMutablePointer<Double>?) throws(CACEError) {
        _ = block.clock.lap()
        for b in 0..<count { try atomEdges(indices[b], atoms, &block.atoms[b], k) }
        block.p.update(from: kept.edgeSums, count: count * k.elementCount * k.angular.count * k.radialFunctionCount)
        k.blockChannelsAndTransform(block.p, rows: count, receiver: receiver, into: block.a)
        block.times.edgesAndA += block.clock.lap()
        block.xBar.initialize(repeating: 0, count: count * k.featureCount)
        k.readoutBackward(firstLayerAdjoints: kept.firstLayerAdjoints, seeds: block.seeds, featuresBar: block.xBar,
                          layout: featureLayout(k, count: count), rows: count, scratch: block.readout)
        block.times.readout += block.clock.lap()
        blockFeatureBackward(indices, count: count, receiver: receiver, atoms, &block, k, forces: forces, virial: &virial,
                             atomVirials: atomVirials)
    }
}
