#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Evaluation of models with T >= 1 message-passing layers (spec §5, §10, §12).
/// Per-atom A and B of the layers t < T are stored for owned and ghost atoms; before layer t
/// the ghosts receive A^{t-1} from their owners (forward exchange), and in the backward
/// pass the adjoints of ghost rows are summed into their owners (reverse exchange). The last
/// layer runs atom by atom together with the read-out and its adjoint, so it is never stored.
extension Evaluator {
    func evaluateWithMessagePassing(_ atoms: AtomsView, into targets: EvaluationTargets,
                                    communicator: any DomainCommunicator) throws(CACEError) -> EvaluationSummary {
        let m = model
        let T = m.layers.count
        let nall = atoms.totalCount, nlocal = atoms.localCount
        let list = atoms.neighbors
        let species = atoms.species
        var clock = StageClock(enabled: measuresStages)
        var times = StageTimes()
        defer { lastStageTimes = times }
        let edges = try buildEdges(atoms)
        // Read on this thread: a lazy property first touched by several workers is a data race.
        let readout = layeredKernels
        let f = FeatureArrays(model: m, atomCount: nall, features: scratch.features, adjoints: scratch.adjoints)
        let workers = max(1, min(threadCount, list.count / 16))
        let threads = scratch.threads(workers)
        let work = threads.indices.map { LayerWork(model: m, buffer: threads[$0].atom, index: $0) }
        /// Runs body(work, ii) for every listed owned atom handled by the model, on all workers.
        func forEachListed(_ body: (LayerWork, Int, Int) throws(CACEError) -> Void) throws(CACEError) {
            try parallelChunks(count: list.count, workers: workers) { (w, range) throws(CACEError) in
                for ii in range {
                    let i = Int(list.atoms[ii])
                    if species[i] >= 0 { try body(work[w], ii, i) }
                }
            }
        }
        /// Runs body(work, j) for atoms j in `atomsRange` handled by the model, on all workers.
        func forEachAtom(_ atomsRange: Range<Int>, _ body: (LayerWork, Int) -> Void) {
            let n = atomsRange.count
            try? parallelChunks(count: n, workers: max(1, min(workers, n / 16))) { (w, range) in
                for offset in range where species[atomsRange.lowerBound + offset] >= 0 {
                    body(work[w], atomsRange.lowerBound + offset)
                }
            }
        }

        // MessageAr's exponentials of layers t < T, kept from the forward pass when they fit in
        // 256 MB; the last layer's are kept per atom, between its forward and backward.
        let decayWidth = (m.maxL + 1) * f.nm * f.cs
        let decayCount = max(0, T - 1) * edges.count * decayWidth
        let decays: UnsafeMutablePointer<Double>? =
            m.layers.contains { $0.arPrefactor != nil } && decayCount <= 1 << 25 ? scratch.decays.reserve(decayCount) : nil
        func decayCache(_ t: Int) -> UnsafeMutablePointer<Double>? { decays.map { $0 + (t - 1) * edges.count * decayWidth } }

        // ---- Forward: layers 0 ..< T on owned atoms, each after the ghosts got A^{t-1}.
        if T > 0 { try forEachListed { (w, ii, i) in layerZeroForward(ii, i, species, edges, f, w, a: f.a(0, i), b: f.b(0, i)) } }
        times.edgesAndA += clock.lap()
        for t in 1..<(T + 1) {   // empty for T = 0 (1...0 would trap)
            let layer = m.layers[t - 1]
            communicator.forwardExchange(f.a(t - 1), width: f.aWidth)
            forEachAtom(nlocal..<nall) { (_, g) in
                kernels.symmetrizer.forward(a: f.a(t - 1, g), b: f.b(t - 1, g), radial: f.nm, angular: f.nk, channels: f.cs)
            }
            if let bchi = layer.bchi {
                forEachAtom(0..<nall) { (w, j) in
                    bchi.network.forward(f.b(t - 1, j), output: w.hnetOutput, scratch: w.hnetScratch)
                    expandBchiWeights(bchi, w.hnetOutput, into: f.omega(t, j))
                }
            }
            guard t < T else { break }   // the last layer runs atom by atom with the read-out
            try forEachListed { (w, ii, i) in
                layerForward(t, layer, ii, i, species, edges, f, w, a: f.a(t, i), b: f.b(t, i), decayCache: decayCache(t))
            }
        }
        times.messagePassing += clock.lap()

        /// The last layer's A^T, B^T of atom i in the worker's scratch, then its read-out features in w.x.
        let lastDecayWidth = m.layers.last?.arPrefactor == nil ? 0 : decayWidth
        func lastLayerForward(_ w: LayerWork, _ ii: Int, _ i: Int) {
            for idx in 0..<f.aWidth { w.lastA[idx] = 0 }
            if T == 0 {
                layerZeroForward(ii, i, species, edges, f, w, a: w.lastA, b: w.lastB)
            } else {
                layerForward(T, m.layers[T - 1], ii, i, species, edges, f, w, a: w.lastA, b: w.lastB,
                             decayCache: lastLayerDecays(w, ii))
            }
            f.gatherReadoutFeatures(i, last: w.lastB, into: w.x)
        }
        /// Per-atom storage for the last layer's decays, indexed by the global edge number.
        func lastLayerDecays(_ w: LayerWork, _ ii: Int) -> UnsafeMutablePointer<Double>? {
            guard lastDecayWidth > 0 else { return nil }
            let first = edges.start[ii], count = edges.start[ii + 1] - first
            // shifted so that edge e of this atom is at + e * width, as in the global cache
            return threads[w.index].decays.reserve(max(1, count) * lastDecayWidth) - first * lastDecayWidth
        }

        // ---- With a long-range term, every atom's charge before any backward pass.
        let heads = m.heads.count
        let perAtom = scratch.perAtom.zeroed(nlocal * heads + 2 * nlocal)
        let charges = perAtom + nlocal * heads, chargeBar = charges + nlocal
        targets.atomEnergies?.initialize(repeating: 0, count: nlocal)
        var summary = EvaluationSummary()
        if let longRange = try longRangeTerm(for: atoms, communicator: communicator), let h = m.chargeHead {
            try forEachListed { (w, ii, i) in
                lastLayerForward(w, ii, i)
                readout.readoutForward(w.x, headOutputs: w.heads, scratch: w.readout, scratchStride: m.readoutScratchStride)
                charges[i] = w.heads[h]
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

        // ---- The last layer, the read-out and its adjoint, and the last layer's adjoint, atom by
        // atom: B-bar^t (t < T) of the atom, A-bar^{T-1} and omega-bar of its senders. Scatters to
        // senders go to per-worker copies (worker 0 uses the shared arrays), summed afterwards.
        let scatterWidth = nall * (f.aWidth + f.kc)
        for idx in 0..<(nall * f.kc) { f.omegaBar[idx] = 0 }
        for w in 1..<workers { _ = threads[w].scatter.zeroed(scatterWidth) }
        try forEachListed { (w, ii, i) in
            lastLayerForward(w, ii, i)
            featureObserver?(i, UnsafeBufferPointer(start: w.x, count: m.featureCount))
            readout.readoutForward(w.x, headOutputs: perAtom + i * heads, scratch: w.readout,
                                          scratchStride: m.readoutScratchStride)
            targets.atomEnergies?[i] += shortRangeEnergy(perAtom + i * heads)
            headSeeds(w.seeds, chargeBar: chargeBar[i])
            for idx in 0..<m.featureCount { w.xBar[idx] = 0 }
            readout.readoutBackward(seeds: w.seeds, xBar: w.xBar, scratch: w.readout, scratchStride: m.readoutScratchStride)
            f.scatterReadoutAdjoint(i, from: w.xBar, last: w.lastBBar)
            for idx in 0..<f.aWidth { w.lastABar[idx] = 0 }
            kernels.symmetrizer.backward(a: w.lastA, bBar: w.lastBBar, aBar: w.lastABar, radial: f.nm, angular: f.nk, channels: f.cs)
            if T == 0 {
                layerZeroBackward(ii, i, species, edges, f, w, aBar: w.lastABar)
            } else {
                let worker = w.index
                let aBarTarget = worker == 0 ? f.aBar(T - 1) : threads[worker].scatter.pointer
                let omegaBarTarget = worker == 0 ? f.omegaBar : threads[worker].scatter.pointer + nall * f.aWidth
                layerBackward(T, m.layers[T - 1], ii, i, species, edges, f, w, aBar: w.lastABar, aBarTarget: aBarTarget,
                              omegaBarTarget: omegaBarTarget, decayCache: lastLayerDecays(w, ii))
            }
        }
        for ii in 0..<list.count where species[Int(list.atoms[ii])] >= 0 {
            summary.energy += shortRangeEnergy(perAtom + Int(list.atoms[ii]) * heads)
        }
        times.backward += clock.lap()

        // ---- Backward through the stored layers, t = T-1 ... 0 (the scatters of layer t + 1 first).
        for t in stride(from: T - 1, through: 0, by: -1) {
            let next = m.layers[t]   // layer t + 1 read A^t and B^t
            for w in 1..<workers {
                let partial = threads[w].scatter.pointer
                let aTarget = f.aBar(t)
                for idx in 0..<(nall * f.aWidth) { aTarget[idx] += partial[idx] }
                for idx in 0..<(nall * f.kc) { f.omegaBar[idx] += partial[nall * f.aWidth + idx] }
            }
            // Bchi weights' adjoint -> hnet -> B-bar^t of every atom (ghosts included).
            if let bchi = next.bchi {
                forEachAtom(0..<nall) { (w, j) in
                    reduceBchiWeightAdjoint(bchi, f.omegaBar + j * f.kc, into: w.hnetOutputBar)
                    bchi.network.forward(f.b(t, j), output: w.hnetOutput, scratch: w.hnetScratch)
                    bchi.network.backward(outputBar: w.hnetOutputBar, inputBar: f.bBar(t, j), scratch: w.hnetScratch)
                }
            }
            // Symmetrizer adjoint of every atom (ghosts: from the Bchi above), then A-bar^t complete.
            forEachAtom(0..<nall) { (_, j) in
                kernels.symmetrizer.backward(a: f.a(t, j), bBar: f.bBar(t, j), aBar: f.aBar(t, j),
                                             radial: f.nm, angular: f.nk, channels: f.cs)
            }
            communicator.reverseExchange(f.aBar(t), width: f.aWidth)
            if t == 0 {
                try forEachListed { (w, ii, i) in layerZeroBackward(ii, i, species, edges, f, w, aBar: f.aBar(0, i)) }
                break
            }
            let layer = m.layers[t - 1]
            for idx in 0..<(nall * f.kc) { f.omegaBar[idx] = 0 }
            for w in 1..<workers { _ = threads[w].scatter.zeroed(scatterWidth) }
            try forEachListed { (w, ii, i) in
                let worker = w.index
                let aBarTarget = worker == 0 ? f.aBar(t - 1) : threads[worker].scatter.pointer
                let omegaBarTarget = worker == 0 ? f.omegaBar : threads[worker].scatter.pointer + nall * f.aWidth
                layerBackward(t, layer, ii, i, species, edges, f, w, aBar: f.aBar(t, i), aBarTarget: aBarTarget,
                              omegaBarTarget: omegaBarTarget, decayCache: decayCache(t))
            }
        }

        // ---- Edge gradients to forces and virial; workers > 0 add into their own buffers.
        let forceCount = 3 * nall, virialCount = targets.atomVirials == nil ? 0 : 6 * nall
        var tallies = [VirialTally](repeating: VirialTally(), count: workers)
        try tallies.withUnsafeMutableBufferPointer { (tallyBuffer) throws(CACEError) in
            let tally = tallyBuffer.baseAddress.unsafelyUnwrapped
            try parallelChunks(count: list.count, workers: workers) { (w, range) throws(CACEError) in
                var forces = targets.forces, atomVirials = targets.atomVirials
                if w > 0 {
                    forces = threads[w].forces.zeroed(forceCount)
                    if virialCount > 0 { atomVirials = threads[w].virials.zeroed(virialCount) }
                }
                guard let first = range.first, let last = range.last else { return }
                for e in edges.start[first]..<edges.start[last + 1] {
                    let i = edges.receivers[e], j = edges.senders[e]
                    let r = (edges.vectors[3 * e], edges.vectors[3 * e + 1], edges.vectors[3 * e + 2])
                    let g = kernels.edgeGradient(r, edges.lengths[e], yBar: edges.yBar + e * f.nk, dBar: edges.dBar[e],
                                                 powers: work[w].powers)
                    applyEdgeForce(g, receiver: i, sender: j, forces: forces)
                    tally[w].add(r, g, receiver: i, sender: j, atomVirials: atomVirials)
                }
            }
        }
        times.backward += clock.lap()
        for w in 0..<workers {
            for c in 0..<6 { summary.virial[c] += tallies[w].components[c] }
            guard w > 0 else { continue }
            for idx in 0..<forceCount { targets.forces[idx] += threads[w].forces.pointer[idx] }
            if let atomVirials = targets.atomVirials {
                for idx in 0..<virialCount { atomVirials[idx] += threads[w].virials.pointer[idx] }
            }
        }
        return summary
    }
}
