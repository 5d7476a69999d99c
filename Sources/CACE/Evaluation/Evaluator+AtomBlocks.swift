/// Evaluation of models without message passing (spec §12, T = 0), one block of atoms of the
/// same element at a time. Each worker gathers the edges of a block's atoms and their sums over
/// the edges atom by atom (Evaluator+AtomByAtom.swift); the edge channels and radial transform,
/// the symmetrizer and the read-out then run once for the whole block, the dense parts as matrix
/// products through OpenBLAS (Stages/BlockTransform.swift, Stages/BlockReadout.swift), which read
/// the weights once per block instead of once per atom; the way back runs the same stages'
/// adjoints for the block, then the edge gradients atom by atom. A block's buffers are all that
/// lives, so memory does not grow with the number of atoms beyond positions and forces.
extension Evaluator {
    /// A worker's buffers: `rows` atoms' edges (`atoms`), and the block's arrays, in which atom b
    /// of a block of `count` atoms is column block b: edge sums p[z][k][count][n] (then their
    /// adjoints), A a[k][count][M C], features x[q][count][M C] (the read-out's segments of M C),
    /// their adjoints, head outputs and seeds [count][heads].
    struct BlockWork<T: FeatureScalar> {
        var atoms: [AtomWork<T>]
        let p: UnsafeMutablePointer<T>
        let a: UnsafeMutablePointer<T>
        let aBar: UnsafeMutablePointer<T>
        let x: UnsafeMutablePointer<T>
        let xBar: UnsafeMutablePointer<T>
        let headOutputs: UnsafeMutablePointer<T>
        let seeds: UnsafeMutablePointer<T>
        let readout: UnsafeMutablePointer<T>           // the block read-out's scratch
        var clock = StageClock(enabled: false)
        var times = StageTimes()
        var rows: Int { atoms.count }
    }

    /// Atoms per block: enough that the weights are read once for many atoms, few enough that a
    /// block's edges stay in the core's L2 cache (measured on water_sr, BENCHMARKS.md issue 14).
    /// Canonical models run blocks of one atom (their stage keeps one atom's buffers).
    func atomBlockRows<T>(_ k: FeatureKernels<T>) -> Int { k.canonical == nil ? max(1, atomBlockRowsSetting) : 1 }

    /// A worker's buffers for blocks of `rows` atoms of at most `maxEdges` neighbours, with
    /// `readoutScratch` scalars for the block read-out.
    func makeBlockWork<T>(rows: Int, maxEdges: Int, readoutScratch: Int, in thread: ThreadScratch,
                          as type: T.Type) -> BlockWork<T> {
        let m = model
        let nr = m.radialFunctionCount, nk = m.angularCount, nz = m.elementCount, nh = m.heads.count
        let mc = m.radialBasisCount * m.channelCount
        let width = T.Lanes.scalarCount
        let stride = (maxEdges + nz * (width - 1) + width - 1) / width * width
        var indexLayout = ScratchLayout(), geometryLayout = ScratchLayout(), layout = ScratchLayout()
        // temporaries shared by the block's atoms
        let found = indexLayout.piece(2 * stride), foundGeometry = geometryLayout.piece(4 * stride)
        let yBar = layout.piece(nk * stride), rhoBar = layout.piece(nr * stride), dBar = layout.piece(stride)
        let g = layout.piece(3 * stride), laneScratch = layout.piece(3 * (m.maxL + 1) * width)
        // the block's arrays
        let p = layout.piece(nz * nk * rows * nr)
        let a = layout.piece(nk * rows * mc), aBar = layout.piece(nk * rows * mc)
        let x = layout.piece(rows * m.featureCount), xBar = layout.piece(rows * m.featureCount)
        let headOutputs = layout.piece(rows * nh), seeds = layout.piece(rows * nh)
        let readout = layout.piece(readoutScratch)
        // each atom's edges
        typealias Own = (senders: Int, groupStart: Int, groupEnd: Int, vectors: Int, lengths: Int, d: Int, r: Int,
                         rho: Int, rhoDerivative: Int, y: Int)
        let own: [Own] = (0..<rows).map { _ in
            (indexLayout.piece(stride), indexLayout.piece(nz + 1), indexLayout.piece(nz),
             geometryLayout.piece(3 * stride), geometryLayout.piece(stride),
             layout.piece(stride), layout.piece(3 * stride), layout.piece(nr * stride), layout.piece(nr * stride),
             layout.piece(nk * stride))
        }
        let i = thread.senders.reserve(indexLayout), v = thread.atom.reserve(geometryLayout)
        let t = thread.features.reserve(layout, as: T.self)
        let atoms = own.enumerated().map { (row, o) in
            var work = AtomWork(stride: stride, senders: i + o.senders, groupStart: i + o.groupStart,
                                groupEnd: i + o.groupEnd, found: i + found, foundGeometry: v + foundGeometry,
                                vectors: v + o.vectors, lengths: v + o.lengths, d: t + o.d, r: t + o.r, rho: t + o.rho,
                                rhoDerivative: t + o.rhoDerivative, y: t + o.y, yBar: t + yBar, rhoBar: t + rhoBar,
                                dBar: t + dBar, g: t + g, laneScratch: t + laneScratch, p: t + p, a: t + a,
                                aBar: t + aBar, x: t + x, xBar: t + xBar, heads: t + headOutputs + row * nh,
                                seeds: t + seeds + row * nh)
            work.clock = StageClock(enabled: measuresStages)
            return work
        }
        var block = BlockWork(atoms: atoms, p: t + p, a: t + a, aBar: t + aBar, x: t + x, xBar: t + xBar,
                              headOutputs: t + headOutputs, seeds: t + seeds, readout: t + readout)
        block.clock = StageClock(enabled: measuresStages)
        if rows == 1 { block.atoms[0].canonical = makeCanonicalWork(edgeStride: stride, in: thread, as: T.self) }
        return block
    }

    /// The read-out's view of a block's features x[q][count][M C].
    func featureLayout<T>(_ k: FeatureKernels<T>, count: Int) -> BlockFeatureLayout {
        let mc = k.radialBasisCount * k.channelCount
        return BlockFeatureLayout(rowStride: mc, segmentWidth: mc, segmentStride: count * mc)
    }

    /// Features and head outputs of `count` atoms of element `receiver` (count <= block.rows),
    /// atom `indices[b]` in column block b.
    func blockForward<T>(_ indices: UnsafePointer<Int>, count: Int, receiver: Int, _ atoms: AtomsView,
                         _ block: inout BlockWork<T>, _ k: FeatureKernels<T>) throws(CACEError) {
        let nr = k.radialFunctionCount, nk = k.angular.count, mc = k.radialBasisCount * k.channelCount
        _ = block.clock.lap()
        let sums = EdgeSumLayout.block(rows: count, radial: nr, angular: nk)
        for b in 0..<count {
            try atomEdges(indices[b], atoms, &block.atoms[b], k)
            edgeSums(block.atoms[b], k, into: block.p + b * nr, sums)
        }
        k.blockChannelsAndTransform(block.p, rows: count, receiver: receiver, into: block.a)
        block.times.edgesAndA += block.clock.lap()
        for b in 0..<count {   // atom by atom: one atom's A and B stay in L1, a block's do not
            k.symmetrizer.forward(a: block.a + b * mc, b: block.x + b * mc, radial: 1, angular: nk, channels: mc,
                                  rowStride: count * mc)
        }
        if count == 1 { canonicalForward(indices[0], atoms, &block.atoms[0], k) }
        block.times.symmetrizer += block.clock.lap()
        k.readoutForwardOnBLAS(features: block.x, layout: featureLayout(k, count: count), rows: count,
                               headOutputs: block.headOutputs, scratch: block.readout)
        block.times.readout += block.clock.lap()
    }

    /// Forces and virials of the edges of the block's atoms for the seeds already in `block.seeds`;
    /// needs the buffers left by `blockForward` on the same atoms.
    func blockBackward<T>(_ indices: UnsafePointer<Int>, count: Int, receiver: Int, _ atoms: AtomsView,
                          _ block: inout BlockWork<T>, _ k: FeatureKernels<T>, forces: UnsafeMutablePointer<Double>,
                          virial: inout VirialTally, atomVirials: UnsafeMutablePointer<Double>?) {
        _ = block.clock.lap()
        block.xBar.initialize(repeating: 0, count: count * k.featureCount)
        k.readoutBackwardOnBLAS(seeds: block.seeds, featuresBar: block.xBar, layout: featureLayout(k, count: count),
                                rows: count, scratch: block.readout)
        block.times.readout += block.clock.lap()
        blockFeatureBackward(indices, count: count, receiver: receiver, atoms, &block, k, forces: forces, virial: &virial,
                             atomVirials: atomVirials)
    }

    /// `blockBackward` from the features' adjoint in `block.xBar` on: the symmetrizer's, the
    /// channels' and the edge sums' adjoints, the edge gradients and forces.
    func blockFeatureBackward<T>(_ indices: UnsafePointer<Int>, count: Int, receiver: Int, _ atoms: AtomsView,
                                 _ block: inout BlockWork<T>, _ k: FeatureKernels<T>, forces: UnsafeMutablePointer<Double>,
                                 virial: inout VirialTally, atomVirials: UnsafeMutablePointer<Double>?) {
        let nr = k.radialFunctionCount, nk = k.angular.count, mc = k.radialBasisCount * k.channelCount
        for b in 0..<count {
            for q in 0..<nk { (block.aBar + (q * count + b) * mc).initialize(repeating: 0, count: mc) }
            k.symmetrizer.backward(a: block.a + b * mc, bBar: block.xBar + b * mc, aBar: block.aBar + b * mc, radial: 1,
                                   angular: nk, channels: mc, rowStride: count * mc)
        }
        let canonicalColumns = count == 1 ? canonicalAdjoint(indices[0], atoms, &block.atoms[0], k) : nil
        k.blockChannelsAndTransformAdjoint(block.aBar, rows: count, receiver: receiver, into: block.p)
        let sums = EdgeSumLayout.block(rows: count, radial: nr, angular: nk)
        for b in 0..<count {
            let i = indices[b]
            edgeSumAdjoints(block.atoms[b], k, from: block.p + b * nr, sums)
            if let columns = canonicalColumns { canonicalEdgeAdjoint(i, atoms, &block.atoms[b], k, columns: columns) }
            edgeGradients(block.atoms[b], k)
            if canonicalColumns != nil { addCanonicalDirectionGradients(&block.atoms[b]) }
            addEdgeForces(i, block.atoms[b], forces: forces, virial: &virial, atomVirials: atomVirials)
        }
        block.times.backward += block.clock.lap()
    }

    /// Forces and virial of atom i's edges from the edge gradients in `w.g`.
    func addEdgeForces<T>(_ i: Int, _ w: AtomWork<T>, forces: UnsafeMutablePointer<Double>,
                                  virial: inout VirialTally, atomVirials: UnsafeMutablePointer<Double>?) {
        let stride = w.stride, count = w.edgeCount
        // The receiver's force is summed here and stored once (no chain of stores to one row).
        var receiverForce = (0.0, 0.0, 0.0)
        for e in 0..<count {
            let j = w.senders[e]
            guard j >= 0 else { continue }
            let g = (Double(w.g[e]), Double(w.g[stride + e]), Double(w.g[2 * stride + e]))
            let r = (w.vectors[3 * e], w.vectors[3 * e + 1], w.vectors[3 * e + 2])
            receiverForce.0 -= g.0; receiverForce.1 -= g.1; receiverForce.2 -= g.2
            forces[3 * j] += g.0; forces[3 * j + 1] += g.1; forces[3 * j + 2] += g.2
            virial.add(r, g, receiver: i, sender: j, atomVirials: atomVirials)
        }
        forces[3 * i] += receiverForce.0; forces[3 * i + 1] += receiverForce.1; forces[3 * i + 2] += receiverForce.2
    }

    func evaluateAtomByAtom(_ atoms: AtomsView, into targets: EvaluationTargets,
                            communicator: any DomainCommunicator) throws(CACEError) -> EvaluationSummary {
        switch precision {
        case .double: return try evaluateAtomByAtom(atoms, into: targets, communicator: communicator, kernels: kernels)
        case .single: return try evaluateAtomByAtom(atoms, into: targets, communicator: communicator, kernels: singleKernels)
        }
    }

    private func evaluateAtomByAtom<T>(_ atoms: AtomsView, into targets: EvaluationTargets,
                                       communicator: any DomainCommunicator,
                                       kernels k: FeatureKernels<T>) throws(CACEError) -> EvaluationSummary {
        let list = atoms.neighbors
        var maxEdges = 1
        for ii in 0..<list.count { maxEdges = max(maxEdges, Int(list.counts[Int(list.atoms[ii])])) }
        let workers = max(1, min(threadCount, list.count / 16))
        let threads = scratch.threads(workers)
        let rows = atomBlockRows(k), nh = model.heads.count, nz = model.elementCount
        let mc = model.radialBasisCount * model.channelCount
        var summary = EvaluationSummary()
        // The charge pass of the long-range term counts as long-range time.
        let stageTimes = UnsafeMutablePointer<StageTimes>.allocate(capacity: workers)
        stageTimes.initialize(repeating: StageTimes(), count: workers)
        defer {
            lastStageTimes = UnsafeBufferPointer(start: stageTimes, count: workers).reduce(into: StageTimes()) { $0.add($1) }
            stageTimes.deallocate()
        }
        targets.atomEnergies?.initialize(repeating: 0, count: atoms.localCount)
        let featureOrder = featureObserver == nil ? [] : FeatureKernels<T>.invariantMajorOrder(model)

        // Blocks of atoms of one element (they share the fused weights V[zr]), element after element
        // in list order. Workers take whole blocks, so an atom's block, and with it its energy to
        // the last bit, does not depend on the number of threads.
        var order: [Int] = []
        order.reserveCapacity(list.count)
        var blocks: [(start: Int, count: Int, receiver: Int)] = []
        for receiver in 0..<nz {
            let first = order.count
            for ii in 0..<list.count where Int(atoms.species[Int(list.atoms[ii])]) == receiver { order.append(Int(list.atoms[ii])) }
            for start in stride(from: first, to: order.count, by: rows) {
                blocks.append((start, min(rows, order.count - start), receiver))
            }
        }
        let blockWorkers = max(1, min(workers, blocks.count))

        /// Runs `body` on the worker's range of blocks: (atoms, their position in `order`, count,
        /// receiver element, buffers).
        func forEachBlock(_ worker: Int, _ range: Range<Int>,
                          _ body: (UnsafePointer<Int>, Int, Int, Int, inout BlockWork<T>) throws(CACEError) -> Void)
            throws(CACEError) -> StageTimes {
            var block = makeBlockWork(rows: rows, maxEdges: maxEdges, readoutScratch: k.blockReadoutScratchCount(rows: rows),
                                      in: threads[worker], as: T.self)
            try order.withUnsafeBufferPointer { (order) throws(CACEError) in
                let base = order.baseAddress.unsafelyUnwrapped
                for index in range {
                    let start = blocks[index].start
                    try body(base + start, start, blocks[index].count, blocks[index].receiver, &block)
                }
            }
            return block.times
        }

        // With a long-range term, charges of all atoms are needed before its dE/dq_i can seed the
        // charge head's backward pass. The forward pass keeps what the backward pass needs and
        // runs once (Evaluator+ChargePass.swift); canonical models run a forward pass for the
        // charges first, and the whole model after the Ewald term.
        let longRange = try longRangeTerm(for: atoms, communicator: communicator)
        let chargeHead = longRange == nil ? nil : model.chargeHead
        let keepsState = chargeHead != nil && keepsForwardState(k)
        var charges: UnsafeMutablePointer<Double>? = nil, chargeBar: UnsafeMutablePointer<Double>? = nil
        if chargeHead != nil {
            let perAtom = scratch.perAtom.zeroed(2 * atoms.localCount)
            charges = perAtom
            chargeBar = perAtom + atoms.localCount
        }
        let kept = keepsState ? makeKeptForwardState(atoms: order.count, k) : nil
        var energies = [Double](repeating: 0, count: blockWorkers)
        func forwardPass(energy: Bool) throws(CACEError) {
            guard let chargeHead, let charges else { return }
            try energies.withUnsafeMutableBufferPointer { (energies) throws(CACEError) in
                let energies = energies.baseAddress.unsafelyUnwrapped
                try parallelChunks(count: blocks.count, workers: blockWorkers) { (worker, range) throws(CACEError) in
                    let times = try forEachBlock(worker, range) { (index, start, count, receiver, block) throws(CACEError) in
                        try blockForward(index, count: count, receiver: receiver, atoms, &block, k)
                        for b in 0..<count { charges[index[b]] = Double(block.headOutputs[b * nh + chargeHead]) }
                        guard energy, let kept else { return }
                        for b in 0..<count {
                            let i = index[b]
                            observeFeatures(i, block, column: b, count: count)
                            let atomEnergy = shortRangeEnergy(block.headOutputs + b * nh)
                            energies[worker] += atomEnergy
                            targets.atomEnergies?[i] += atomEnergy
                        }
                        keepForwardState(count: count, block, k, into: kept.block(at: start))
                        block.times.readout += block.clock.lap()
                    }
                    if energy { stageTimes[worker].add(times) } else {
                        stageTimes[worker].longRange += times.edgesAndA + times.symmetrizer + times.readout
                    }
                }
            }
        }
        /// Calls the feature observer (tests) with atom i's features in upstream's order, from column b of the block.
        func observeFeatures(_ i: Int, _ block: BlockWork<T>, column b: Int, count: Int) {
            guard let observe = featureObserver else { return }
            var upstream = [Double](repeating: 0, count: model.featureCount)
            for (f, u) in featureOrder.enumerated() { upstream[u] = Double(block.x[(f / mc * count + b) * mc + f % mc]) }
            upstream.withUnsafeBufferPointer { observe(i, $0) }
        }
        if let longRange, let charges, let chargeBar {
            try forwardPass(energy: keepsState)
            var clock = StageClock(enabled: measuresStages)
            let lr = try longRange.evaluate(atoms: atoms, charges: charges, chargeBar: chargeBar, forces: targets.forces,
                                            atomEnergies: targets.atomEnergies, atomVirials: targets.atomVirials,
                                            communicator: communicator)
            stageTimes[0].longRange += clock.lap()
            summary.energy += lr.energy
            summary.longRangeEnergy = lr.energy
            for a in 0..<6 { summary.virial[a] += lr.virial[a] }
        }

        // Each worker adds forces (and per-atom virials) into its own buffers; worker 0 uses the targets.
        let forceCount = 3 * atoms.totalCount, virialCount = targets.atomVirials == nil ? 0 : 6 * atoms.totalCount
        var partial = [EvaluationSummary](repeating: EvaluationSummary(), count: blockWorkers)
        try partial.withUnsafeMutableBufferPointer { (partialSums) throws(CACEError) in
            let sums = partialSums.baseAddress.unsafelyUnwrapped
            try parallelChunks(count: blocks.count, workers: blockWorkers) { (worker, range) throws(CACEError) in
                var forces = targets.forces, atomVirials = targets.atomVirials
                if worker > 0 {
                    forces = threads[worker].forces.zeroed(forceCount)
                    if virialCount > 0 { atomVirials = threads[worker].virials.zeroed(virialCount) }
                }
                var virial = VirialTally()
                var energy = energies[worker]
                let times = try forEachBlock(worker, range) { (index, start, count, receiver, block) throws(CACEError) in
                    if let kept {
                        for b in 0..<count { headSeeds(block.seeds + b * nh, chargeBar: chargeBar?[index[b]] ?? 0) }
                        try blockBackwardFromKept(index, count: count, receiver: receiver, atoms, &block, k,
                                                  kept: kept.block(at: start), forces: forces, virial: &virial,
                                                  atomVirials: atomVirials)
                        return
                    }
                    try blockForward(index, count: count, receiver: receiver, atoms, &block, k)
                    for b in 0..<count {
                        let i = index[b]
                        observeFeatures(i, block, column: b, count: count)
                        let atomEnergy = shortRangeEnergy(block.headOutputs + b * nh)
                        energy += atomEnergy
                        targets.atomEnergies?[i] += atomEnergy
                        headSeeds(block.seeds + b * nh, chargeBar: chargeBar?[i] ?? 0)
                    }
                    blockBackward(index, count: count, receiver: receiver, atoms, &block, k, forces: forces,
                                  virial: &virial, atomVirials: atomVirials)
                }
                sums[worker].energy = energy
                sums[worker].virial = virial.components
                stageTimes[worker].add(times)
            }
        }
        for worker in 0..<blockWorkers {
            summary.energy += partial[worker].energy
            for a in 0..<6 { summary.virial[a] += partial[worker].virial[a] }
            guard worker > 0 else { continue }
            let forces = threads[worker].forces.pointer
            for q in 0..<forceCount { targets.forces[q] += forces[q] }
            if let atomVirials = targets.atomVirials {
                let virials = threads[worker].virials.pointer
                for q in 0..<virialCount { atomVirials[q] += virials[q] }
            }
        }
        return summary
    }
}
