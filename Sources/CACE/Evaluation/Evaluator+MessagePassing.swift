/// Evaluation of models with T >= 1 message-passing layers (spec §5, §10, §12), in the
/// invariant-major layout and with the edge kernels of the atom-by-atom path.
///
/// Memory: per atom (owned and ghost) only A^t (t < T), the Bchi weights, and their adjoints
/// (`LayerFeatures`). Each pass over the atoms recomputes the edges of the atom it handles,
/// so nothing is kept per edge. Passes:
/// 1. layer 0, then each layer t < T, atom by atom, each after the ghosts got A^{t-1} (forward exchange);
/// 2. the last layer with the read-out and its adjoint, atom by atom: its A^T never leaves the
///    worker; the adjoint goes to A-bar^{T-1} of the atom and its senders, and to edge forces;
/// 3. for t = T-1 ... 0: the ghosts' omega-bar summed into their owners, the Bchi hnet's adjoint
///    at the owners, the ghosts' A-bar^t summed into their owners, then layer t's adjoint atom by atom.
/// Ghosts get A^t and the Bchi weights from their owners (forward exchanges), never compute them.
/// Scatters to senders go to per-worker copies (worker 0 uses the shared arrays), summed after each pass.
extension Evaluator {
    func evaluateWithMessagePassing(_ atoms: AtomsView, into targets: EvaluationTargets,
                                    communicator: any DomainCommunicator) throws(CACEError) -> EvaluationSummary {
        switch precision {
        case .double: return try evaluateLayered(atoms, into: targets, communicator: communicator, kernels: kernels)
        case .single: return try evaluateLayered(atoms, into: targets, communicator: communicator, kernels: singleKernels)
        }
    }

    private func evaluateLayered<T>(_ atoms: AtomsView, into targets: EvaluationTargets, communicator: any DomainCommunicator,
                                    kernels k: FeatureKernels<T>) throws(CACEError) -> EvaluationSummary {
        let m = model
        let layerCount = m.layers.count
        let nall = atoms.totalCount, nlocal = atoms.localCount
        let list = atoms.neighbors, species = atoms.species
        let nk = k.angular.count, mc = k.radialBasisCount * k.channelCount, bWidth = m.invariantCount * mc
        var clock = StageClock(enabled: measuresStages)
        var times = StageTimes()
        defer { lastStageTimes = times }
        var maxEdges = 1
        for ii in 0..<list.count { maxEdges = max(maxEdges, Int(list.counts[Int(list.atoms[ii])])) }
        let workers = max(1, min(threadCount, list.count / 16))
        let threads = scratch.threads(workers)
        let f = LayerFeatures(kernels: k, atomCount: nall, values: scratch.features, adjoints: scratch.adjoints)
        let aWidth = f.aWidth

        /// Runs body(work, worker, i) for every listed owned atom handled by the model.
        func forEachListed(_ body: (inout MessageWork<T>, Int, Int) throws(CACEError) -> Void) throws(CACEError) {
            try parallelChunks(count: list.count, workers: workers) { (worker, range) throws(CACEError) in
                var w = makeMessageWork(maxEdges: maxEdges, in: threads[worker], kernels: k)
                for ii in range {
                    let i = Int(list.atoms[ii])
                    if species[i] >= 0 { try body(&w, worker, i) }
                }
            }
        }
        /// Runs body(work, j) for every owned atom j handled by the model.
        func forEachOwned(_ body: (inout MessageWork<T>, Int) -> Void) {
            try? parallelChunks(count: nlocal, workers: max(1, min(workers, nlocal / 16))) { (worker, range) in
                var w = makeMessageWork(maxEdges: maxEdges, in: threads[worker], kernels: k)
                for j in range where species[j] >= 0 { body(&w, j) }
            }
        }
        /// B^t_j of a stored layer into w.b, then the hnet of layer t + 1 on it.
        func hnetForward(_ t: Int, _ j: Int, _ w: inout MessageWork<T>) {
            k.symmetrizer.forward(a: f.a(t, j), b: w.b, radial: 1, angular: nk, channels: mc)
            k.layers[t].hnet?.forward(w.b, output: w.hnetOutput, scratch: w.hnetScratch)
        }

        // ---- Forward: layer 0, then layers 1 ..< T, each stored for owned atoms.
        if layerCount > 0 {
            try forEachListed { (w, _, i) throws(CACEError) in
                try atomFeatures(i, atoms, &w.atom, k)
                f.a(0, i).update(from: w.atom.a, count: aWidth)
            }
        }
        times.edgesAndA += clock.lap()
        for t in 1..<(layerCount + 1) {   // empty for T = 0 (1...0 would trap)
            exchangeForward(f.a(t - 1), width: aWidth, atoms: atoms, communicator: communicator)
            if k.layers[t - 1].hnet != nil {   // owners compute the Bchi weights, ghosts receive them
                forEachOwned { (w, j) in
                    hnetForward(t - 1, j, &w)
                    k.layers[t - 1].expandWeights(w.hnetOutput, into: f.omega(t, j), angularCount: nk, channelCount: k.channelCount)
                }
                exchangeForward(f.omega(t, 0), width: f.omegaWidths[t - 1], atoms: atoms, communicator: communicator)
            }
            guard t < layerCount else { break }   // the last layer runs atom by atom with the read-out
            try forEachListed { (w, _, i) throws(CACEError) in
                try gatherEdgeFeatures(i, atoms, &w.atom, k)
                layerForward(t, i, species, &w, k, f)
                f.a(t, i).update(from: w.atom.a, count: aWidth)
            }
        }
        times.messagePassing += clock.lap()

        /// The last layer's A^T (in w.atom.a) and the stacked read-out features of atom i, then the heads.
        func lastLayerFeatures(_ w: inout MessageWork<T>, _ i: Int, cacheRow: Int? = nil) throws(CACEError) {
            if layerCount == 0 {
                try atomFeatures(i, atoms, &w.atom, k)
            } else {
                try gatherEdgeFeatures(i, atoms, &w.atom, k)
                layerForward(layerCount, i, species, &w, k, f, cachingFactors: cacheRow != nil, cacheRow: cacheRow ?? 0)
                for t in 0..<layerCount {
                    k.symmetrizer.forward(a: f.a(t, i), b: w.atom.x + t * bWidth, radial: 1, angular: nk, channels: mc)
                }
            }
        }

        // ---- With a long-range term, every atom's charge before any backward pass.
        var summary = EvaluationSummary()
        targets.atomEnergies?.initialize(repeating: 0, count: nlocal)
        let perAtom = scratch.perAtom.zeroed(2 * nlocal)
        let charges = perAtom, chargeBar = perAtom + nlocal
        if let longRange = try longRangeTerm(for: atoms, communicator: communicator), let h = m.chargeHead {
            try forEachListed { (w, _, i) throws(CACEError) in
                try lastLayerFeatures(&w, i)
                k.readoutForward(features: w.atom.x, featureStride: m.featureCount, rows: 1, headOutputs: w.atom.heads,
                                 scratch: w.blockReadout)
                charges[i] = Double(w.atom.heads[h])
            }
            times.readout += clock.lap()
            let lr = try longRange.evaluate(atoms: atoms, charges: charges, chargeBar: chargeBar, forces: targets.forces,
                                            atomEnergies: targets.atomEnergies, atomVirials: targets.atomVirials,
                                            communicator: communicator)
            summary.energy += lr.energy
            summary.longRangeEnergy = lr.energy
            for c in 0..<6 { summary.virial[c] += lr.virial[c] }
            times.longRange += clock.lap()
        }

        // Forces and per-atom virials: worker 0 adds into the targets, the others into their own buffers.
        let forceCount = 3 * nall, virialCount = targets.atomVirials == nil ? 0 : 6 * nall
        for w in 1..<workers {
            _ = threads[w].forces.zeroed(forceCount)
            if virialCount > 0 { _ = threads[w].virials.zeroed(virialCount) }
        }
        func forceTarget(_ worker: Int) -> UnsafeMutablePointer<Double> { worker == 0 ? targets.forces : threads[worker].forces.pointer }
        func virialTarget(_ worker: Int) -> UnsafeMutablePointer<Double>? {
            virialCount == 0 ? nil : worker == 0 ? targets.atomVirials : threads[worker].virials.pointer
        }
        var tallies = [VirialTally](repeating: VirialTally(), count: workers)
        var energies = [Double](repeating: 0, count: workers)
        let scatterWidth = nall * (aWidth + f.omegaBarWidth)
        /// Where worker w adds A-bar^{t-1} and omega-bar of layer t's senders.
        func scatterTargets(_ worker: Int, _ t: Int) -> (UnsafeMutablePointer<T>, UnsafeMutablePointer<T>) {
            if worker == 0 { return (f.aBar(t - 1), f.omegaBar) }
            let base = threads[worker].scatter.reserve(scatterWidth * MemoryLayout<T>.stride / 8 + 1)
            let typed = UnsafeMutableRawPointer(base).bindMemory(to: T.self, capacity: scatterWidth)
            return (typed, typed + nall * aWidth)
        }
        /// Zeroes omega-bar and the workers' scatter copies (each worker its own, concurrently).
        func clearScatter() {
            f.omegaBar.initialize(repeating: 0, count: nall * f.omegaBarWidth)
            try? parallelChunks(count: workers, workers: workers) { (_, range) in
                for w in range where w > 0 { scatterTargets(w, 1).0.initialize(repeating: 0, count: scatterWidth) }
            }
        }
        /// Adds the workers' scatter copies into A-bar^t and omega-bar, rows split over the workers.
        func addScatter(into t: Int) {
            guard workers > 1 else { return }
            // The copies' pointers on this thread: `scatterTargets` reserves (writes) each worker's
            // scratch, which the row chunks below must not do concurrently (ThreadSanitizer).
            let copies = (1..<workers).map { scatterTargets($0, t + 1) }
            try? parallelChunks(count: nall, workers: workers) { (_, rows) in
                let target = f.aBar(t)
                for (aBar, omegaBar) in copies {
                    for idx in (rows.lowerBound * aWidth)..<(rows.upperBound * aWidth) { target[idx] += aBar[idx] }
                    for idx in (rows.lowerBound * f.omegaBarWidth)..<(rows.upperBound * f.omegaBarWidth) {
                        f.omegaBar[idx] += omegaBar[idx]
                    }
                }
            }
        }

        // ---- The last layer, the read-out and its adjoint, and the last layer's adjoint, in blocks of
        // atoms: each atom's last layer (its MessageAr factors kept), the block's read-out and its
        // adjoint as matrix products, then each atom's adjoint (its edges gathered again).
        let order = featureObserver == nil ? [] : FeatureKernels<T>.stackedOrder(m)
        let featureCount = m.featureCount, headCount = m.heads.count
        if layerCount > 0 { clearScatter() }
        try tallies.withUnsafeMutableBufferPointer { (tallyBuffer) throws(CACEError) in
            let tally = tallyBuffer.baseAddress.unsafelyUnwrapped
            try energies.withUnsafeMutableBufferPointer { (energyBuffer) throws(CACEError) in
                let energy = energyBuffer.baseAddress.unsafelyUnwrapped
                // Blocks are fixed by list order, not by the threads' chunks: an atom's read-out sees
                // the same block, and so gives the same bits, for any thread count.
                let blockRows = Evaluator.messagePassingBlockRows
                let blockCount = (list.count + blockRows - 1) / blockRows
                try parallelChunks(count: blockCount, workers: workers) { (worker, blocks) throws(CACEError) in
                    var w = makeMessageWork(maxEdges: maxEdges, in: threads[worker], kernels: k)
                    let forces = forceTarget(worker), atomVirials = virialTarget(worker)
                    for block in blocks {
                        var rows = 0
                        for ii in (block * blockRows)..<min((block + 1) * blockRows, list.count) {
                            let i = Int(list.atoms[ii])
                            guard species[i] >= 0 else { continue }
                            try lastLayerFeatures(&w, i, cacheRow: rows)
                            w.blockAtoms[rows] = i
                            (w.blockX + rows * featureCount).update(from: w.atom.x, count: featureCount)
                            (w.blockA + rows * aWidth).update(from: w.atom.a, count: aWidth)
                            rows += 1
                        }
                        k.readoutForward(features: w.blockX, featureStride: featureCount, rows: rows,
                                         headOutputs: w.blockHeads, scratch: w.blockReadout)
                        for r in 0..<rows {
                            let i = w.blockAtoms[r]
                            if let observe = featureObserver {
                                var upstream = [Double](repeating: 0, count: featureCount)
                                for (q, u) in order.enumerated() { upstream[u] = Double(w.blockX[r * featureCount + q]) }
                                upstream.withUnsafeBufferPointer { observe(i, $0) }
                            }
                            let atomEnergy = shortRangeEnergy(w.blockHeads + r * headCount)
                            energy[worker] += atomEnergy
                            targets.atomEnergies?[i] += atomEnergy
                            headSeeds(w.blockSeeds + r * headCount, chargeBar: chargeBar[i])
                        }
                        w.blockXBar.initialize(repeating: 0, count: rows * featureCount)
                        k.readoutBackward(seeds: w.blockSeeds, featuresBar: w.blockXBar, featureStride: featureCount,
                                          rows: rows, scratch: w.blockReadout)
                        for r in 0..<rows {
                            let i = w.blockAtoms[r], xBar = w.blockXBar + r * featureCount
                            try gatherEdgeFeatures(i, atoms, &w.atom, k)
                            w.atom.aBar.initialize(repeating: 0, count: aWidth)
                            k.symmetrizer.backward(a: w.blockA + r * aWidth, bBar: xBar + layerCount * bWidth,
                                                   aBar: w.atom.aBar, radial: 1, angular: nk, channels: mc)
                            if layerCount == 0 {
                                layerZeroBackward(i, species, &w.atom, k, aBar: w.atom.aBar, forces: forces,
                                                  virial: &tally[worker], atomVirials: atomVirials)
                                continue
                            }
                            let (aBarTarget, omegaBarTarget) = scatterTargets(worker, layerCount)
                            // The read-out's adjoint of the stored layers' B^t_i: only atom i's rows.
                            for t in 0..<layerCount {
                                let row = t == layerCount - 1 ? aBarTarget + i * aWidth : f.aBar(t, i)
                                k.symmetrizer.backward(a: f.a(t, i), bBar: xBar + t * bWidth, aBar: row, radial: 1,
                                                       angular: nk, channels: mc)
                            }
                            layerBackward(layerCount, i, species, &w, k, f, aBarTarget: aBarTarget,
                                          omegaBarTarget: omegaBarTarget, cachedFactors: true, cacheRow: r,
                                          forces: forces, virial: &tally[worker], atomVirials: atomVirials)
                        }
                    }
                }
            }
        }
        times.backward += clock.lap()

        // ---- Backward through the stored layers, t = T-1 ... 0.
        for t in stride(from: layerCount - 1, through: 0, by: -1) {
            addScatter(into: t)
            if let hnet = k.layers[t].hnet {   // omega-bar of layer t + 1 -> hnet -> B-bar^t -> A-bar^t, at the owners
                exchangeReverse(f.omegaBar, width: f.omegaBarWidth, atoms: atoms, communicator: communicator)
                forEachOwned { (w, j) in
                    if !hnet.isAffine { hnetForward(t, j, &w) }   // pre-activations for backward
                    k.layers[t].reduceWeightAdjoint(f.omegaBar(j), into: w.hnetOutputBar, angularCount: nk,
                                                    channelCount: k.channelCount)
                    w.bBar.initialize(repeating: 0, count: bWidth)
                    hnet.backward(outputBar: w.hnetOutputBar, inputBar: w.bBar, scratch: w.hnetScratch)
                    k.symmetrizer.backward(a: f.a(t, j), bBar: w.bBar, aBar: f.aBar(t, j), radial: 1, angular: nk, channels: mc)
                }
            }
            exchangeReverse(f.aBar(t), width: aWidth, atoms: atoms, communicator: communicator)
            if t > 0 { clearScatter() }
            try tallies.withUnsafeMutableBufferPointer { (tallyBuffer) throws(CACEError) in
                let tally = tallyBuffer.baseAddress.unsafelyUnwrapped
                try forEachListed { (w, worker, i) throws(CACEError) in
                    try gatherEdgeFeatures(i, atoms, &w.atom, k)
                    if t == 0 {
                        layerZeroBackward(i, species, &w.atom, k, aBar: f.aBar(0, i), forces: forceTarget(worker),
                                          virial: &tally[worker], atomVirials: virialTarget(worker))
                    } else {
                        let (aBarTarget, omegaBarTarget) = scatterTargets(worker, t)
                        w.atom.a.update(from: f.a(t, i), count: aWidth)
                        w.atom.aBar.update(from: f.aBar(t, i), count: aWidth)
                        layerBackward(t, i, species, &w, k, f, aBarTarget: aBarTarget, omegaBarTarget: omegaBarTarget,
                                      forces: forceTarget(worker), virial: &tally[worker], atomVirials: virialTarget(worker))
                    }
                }
            }
        }
        times.backward += clock.lap()

        for w in 0..<workers {
            summary.energy += energies[w]
            for c in 0..<6 { summary.virial[c] += tallies[w].components[c] }
            guard w > 0 else { continue }
            for idx in 0..<forceCount { targets.forces[idx] += threads[w].forces.pointer[idx] }
            if let atomVirials = targets.atomVirials {
                for idx in 0..<virialCount { atomVirials[idx] += threads[w].virials.pointer[idx] }
            }
        }
        return summary
    }

    /// Single-precision rows go to the domain as they are if it moves Float rows; otherwise
    /// they are staged through Double, a slice of columns at a time (the staging holds an eighth
    /// of the rows' width, so it does not undo the memory that Float features save), and only
    /// the rows the exchange reads go in and the rows it writes come back: the owners' rows in and
    /// the ghosts' rows back forward (the host writes every ghost row before it reads it: LAMMPS
    /// passes ghosts on in later swaps), every row in and the owners' rows back in reverse (the
    /// ghosts' rows are not read after a reverse exchange).
    private func exchangeForward<T: FeatureScalar>(_ rows: UnsafeMutablePointer<T>, width: Int, atoms: AtomsView,
                                                   communicator: any DomainCommunicator) {
        if T.self == Float.self,
           communicator.forwardExchange(floats: UnsafeMutableRawPointer(rows).assumingMemoryBound(to: Float.self),
                                        width: width) { return }
        withDoubleColumns(rows, width: width, atomCount: atoms.totalCount, staged: 0..<atoms.localCount,
                          returned: atoms.localCount..<atoms.totalCount) { communicator.forwardExchange($0, width: $1) }
    }

    private func exchangeReverse<T: FeatureScalar>(_ rows: UnsafeMutablePointer<T>, width: Int, atoms: AtomsView,
                                                   communicator: any DomainCommunicator) {
        if T.self == Float.self,
           communicator.reverseExchange(floats: UnsafeMutableRawPointer(rows).assumingMemoryBound(to: Float.self),
                                        width: width) { return }
        withDoubleColumns(rows, width: width, atomCount: atoms.totalCount, staged: 0..<atoms.totalCount,
                          returned: 0..<atoms.localCount) { communicator.reverseExchange($0, width: $1) }
    }

    private func withDoubleColumns<T: FeatureScalar>(_ rows: UnsafeMutablePointer<T>, width: Int, atomCount: Int,
                                                     staged: Range<Int>, returned: Range<Int>,
                                                     _ exchange: (UnsafeMutablePointer<Double>, Int) -> Void) {
        if T.self == Double.self {
            exchange(UnsafeMutableRawPointer(rows).assumingMemoryBound(to: Double.self), width)
            return
        }
        let slice = max(1, (width + 7) / 8)
        let staging = scratch.exchange.reserve(slice * atomCount)
        for first in stride(from: 0, to: width, by: slice) {
            let columns = min(slice, width - first)
            for atom in staged {
                let source = rows + atom * width + first, target = staging + atom * columns
                for c in 0..<columns { target[c] = Double(source[c]) }
            }
            exchange(staging, columns)
            for atom in returned {
                let source = staging + atom * columns, target = rows + atom * width + first
                for c in 0..<columns { target[c] = T(source[c]) }
            }
        }
    }
}
