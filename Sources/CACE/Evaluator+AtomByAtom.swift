/// Evaluation of models without message passing, one atom at a time (spec §12, T = 0):
/// each atom's A, B and read-out live only in small per-atom buffers, so memory does not
/// grow with the number of atoms beyond positions and forces.
extension Evaluator {
    /// Buffers for one atom, carved from one scratch allocation.
    struct AtomWork {
        let maxEdges: Int
        let senders: UnsafeMutablePointer<Int>
        let vectors: UnsafeMutablePointer<Double>      // [e][3]
        let lengths: UnsafeMutablePointer<Double>      // [e]
        let rho: UnsafeMutablePointer<Double>          // [e][n]
        let rhoDerivative: UnsafeMutablePointer<Double>
        let y: UnsafeMutablePointer<Double>            // [e][k]
        let p: UnsafeMutablePointer<Double>            // [z][n][k]
        let channelFeatures: UnsafeMutablePointer<Double> // [n][k][c]: A-hat, then its adjoint
        let a: UnsafeMutablePointer<Double>            // [m][k][c]
        let aBar: UnsafeMutablePointer<Double>
        let x: UnsafeMutablePointer<Double>            // [F] = B
        let xBar: UnsafeMutablePointer<Double>
        let heads: UnsafeMutablePointer<Double>
        let seeds: UnsafeMutablePointer<Double>
        let readout: UnsafeMutablePointer<Double>
        let yBar: UnsafeMutablePointer<Double>
        let powers: UnsafeMutablePointer<Double>
        var edgeCount = 0
        var clock = StageClock(enabled: false)
        var times = StageTimes()
    }

    func makeAtomWork(maxEdges: Int, in thread: ThreadScratch) -> AtomWork {
        let m = model
        let nr = m.radialFunctionCount, nk = m.angularCount, cs = m.channelCount
        let sizes = [3 * maxEdges, maxEdges, nr * maxEdges, nr * maxEdges, nk * maxEdges,
                     m.elementCount * nr * nk, nr * nk * cs, m.radialBasisCount * nk * cs, m.radialBasisCount * nk * cs,
                     m.featureCount, m.featureCount, m.heads.count, m.heads.count,
                     m.heads.count * m.readoutScratchStride, nk, 3 * (m.maxL + 1)]
        let parts = thread.atom.carve(sizes)
        var work = AtomWork(maxEdges: maxEdges, senders: thread.senders.reserve(maxEdges), vectors: parts[0],
                            lengths: parts[1], rho: parts[2], rhoDerivative: parts[3], y: parts[4], p: parts[5],
                            channelFeatures: parts[6], a: parts[7], aBar: parts[8], x: parts[9], xBar: parts[10],
                            heads: parts[11], seeds: parts[12], readout: parts[13], yBar: parts[14], powers: parts[15])
        work.clock = StageClock(enabled: measuresStages)
        return work
    }

    /// Edges, A, B and head outputs of atom i.
    func atomForward(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork) throws(CACEError) {
        let m = model
        let nr = m.radialFunctionCount, nk = m.angularCount
        let x = atoms.positions
        let cutoffSquared = m.cutoff * m.cutoff
        let list = atoms.neighbors
        let zi = Int(atoms.species[i])
        _ = w.clock.lap()
        w.edgeCount = 0
        for q in 0..<(m.elementCount * nr * nk) { w.p[q] = 0 }
        if let neighbours = list.lists[i] {
            for jj in 0..<Int(list.counts[i]) {
                let j = Int(neighbours[jj] & list.mask)
                let zj = Int(atoms.species[j])
                guard zj >= 0 else { continue }
                let r = (x[3 * i] - x[3 * j], x[3 * i + 1] - x[3 * j + 1], x[3 * i + 2] - x[3 * j + 2])
                let d2 = r.0 * r.0 + r.1 * r.1 + r.2 * r.2
                guard d2 < cutoffSquared else { continue }
                guard d2 > 0 else { throw .geometry("atoms \(i) and \(j) are at the same position") }
                let e = w.edgeCount
                let d = d2.squareRoot()
                w.senders[e] = j
                w.vectors[3 * e] = r.0; w.vectors[3 * e + 1] = r.1; w.vectors[3 * e + 2] = r.2
                w.lengths[e] = d
                _ = m.edgeFeatures(r, d, rho: w.rho + e * nr, rhoDerivative: w.rhoDerivative + e * nr,
                                   y: w.y + e * nk, powers: w.powers)
                m.accumulateOuter(w.p + zj * nr * nk, rho: w.rho + e * nr, y: w.y + e * nk, weight: 1)
                w.edgeCount += 1
            }
        }
        m.expandChannels(w.p, receiver: zi, into: w.channelFeatures)
        let size = m.radialBasisCount * nk * m.channelCount
        for q in 0..<size { w.a[q] = 0 }
        m.radialTransform(w.channelFeatures, into: w.a, scale: 1)
        w.times.edgesAndA += w.clock.lap()
        m.symmetrizer.forward(a: w.a, b: w.x, radial: m.radialBasisCount, angular: nk, channels: m.channelCount)
        w.times.symmetrizer += w.clock.lap()
        m.readoutForward(w.x, headOutputs: w.heads, scratch: w.readout, scratchStride: m.readoutScratchStride)
        w.times.readout += w.clock.lap()
    }

    /// Forces and virial of atom i's edges for head seeds already in `w.seeds`; needs the
    /// buffers left by `atomForward(i)`.
    func atomBackward(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork, forces: UnsafeMutablePointer<Double>,
                      virial: inout VirialTally, atomVirials: UnsafeMutablePointer<Double>?) {
        let m = model
        let nr = m.radialFunctionCount, nk = m.angularCount
        let zi = Int(atoms.species[i])
        for q in 0..<m.featureCount { w.xBar[q] = 0 }
        m.readoutBackward(seeds: w.seeds, xBar: w.xBar, scratch: w.readout, scratchStride: m.readoutScratchStride)
        let size = m.radialBasisCount * nk * m.channelCount
        for q in 0..<size { w.aBar[q] = 0 }
        m.symmetrizer.backward(a: w.a, bBar: w.xBar, aBar: w.aBar, radial: m.radialBasisCount, angular: nk,
                               channels: m.channelCount)
        m.radialTransformAdjoint(w.aBar, into: w.channelFeatures)
        m.contractChannels(w.channelFeatures, receiver: zi, into: w.p)
        for e in 0..<w.edgeCount {
            let j = w.senders[e]
            let zj = Int(atoms.species[j])
            let r = (w.vectors[3 * e], w.vectors[3 * e + 1], w.vectors[3 * e + 2])
            let g = m.edgeGradient(r, w.lengths[e], pBar: w.p + zj * nr * nk, rho: w.rho + e * nr,
                                   rhoDerivative: w.rhoDerivative + e * nr, y: w.y + e * nk, dBar: 0,
                                   yBar: w.yBar, powers: w.powers)
            applyEdgeForce(g, receiver: i, sender: j, forces: forces)
            virial.add(r, g, receiver: i, sender: j, atomVirials: atomVirials)
        }
        w.times.backward += w.clock.lap()
    }

    func evaluateAtomByAtom(_ atoms: AtomsView, into targets: EvaluationTargets,
                            communicator: any DomainCommunicator) throws(CACEError) -> EvaluationSummary {
        let list = atoms.neighbors
        var maxEdges = 1
        for ii in 0..<list.count { maxEdges = max(maxEdges, Int(list.counts[Int(list.atoms[ii])])) }
        let workers = max(1, min(threadCount, list.count / 16))
        let threads = scratch.threads(workers)
        var summary = EvaluationSummary()
        // The charge pass of the long-range term counts as long-range time.
        let stageTimes = UnsafeMutablePointer<StageTimes>.allocate(capacity: workers)
        stageTimes.initialize(repeating: StageTimes(), count: workers)
        defer {
            lastStageTimes = UnsafeBufferPointer(start: stageTimes, count: workers).reduce(into: StageTimes()) { $0.add($1) }
            stageTimes.deallocate()
        }
        targets.atomEnergies?.initialize(repeating: 0, count: atoms.localCount)

        // With a long-range term, charges of all atoms are needed before any backward pass.
        var chargeBar: UnsafeMutablePointer<Double>? = nil
        if let ewald = ewaldTerm, let chargeHead = model.chargeHead {
            let perAtom = scratch.perAtom.zeroed(2 * atoms.localCount)
            let charges = perAtom, bars = perAtom + atoms.localCount
            try parallelChunks(count: list.count, workers: workers) { (worker, range) throws(CACEError) in
                var work = makeAtomWork(maxEdges: maxEdges, in: threads[worker])
                for ii in range {
                    let i = Int(list.atoms[ii])
                    guard atoms.species[i] >= 0 else { continue }
                    try atomForward(i, atoms, &work)
                    charges[i] = work.heads[chargeHead]
                }
                stageTimes[worker].longRange += work.times.edgesAndA + work.times.symmetrizer + work.times.readout
            }
            var clock = StageClock(enabled: measuresStages)
            let lr = try ewald.evaluate(atoms: atoms, charges: charges, chargeBar: bars, forces: targets.forces,
                                        atomEnergies: targets.atomEnergies, atomVirials: targets.atomVirials,
                                        communicator: communicator)
            stageTimes[0].longRange += clock.lap()
            summary.energy += lr.energy
            summary.longRangeEnergy = lr.energy
            for a in 0..<6 { summary.virial[a] += lr.virial[a] }
            chargeBar = bars
        }

        // Each worker adds forces (and per-atom virials) into its own buffers; worker 0 uses the targets.
        let forceCount = 3 * atoms.totalCount, virialCount = targets.atomVirials == nil ? 0 : 6 * atoms.totalCount
        var partial = [EvaluationSummary](repeating: EvaluationSummary(), count: workers)
        try partial.withUnsafeMutableBufferPointer { (partialSums) throws(CACEError) in
            let sums = partialSums.baseAddress.unsafelyUnwrapped
            try parallelChunks(count: list.count, workers: workers) { (worker, range) throws(CACEError) in
                var work = makeAtomWork(maxEdges: maxEdges, in: threads[worker])
                var forces = targets.forces, atomVirials = targets.atomVirials
                if worker > 0 {
                    forces = threads[worker].forces.zeroed(forceCount)
                    if virialCount > 0 { atomVirials = threads[worker].virials.zeroed(virialCount) }
                }
                var virial = VirialTally()
                var energy = 0.0
                for ii in range {
                    let i = Int(list.atoms[ii])
                    guard atoms.species[i] >= 0 else { continue }
                    try atomForward(i, atoms, &work)
                    featureObserver?(i, UnsafeBufferPointer(start: work.x, count: model.featureCount))
                    let atomEnergy = shortRangeEnergy(work.heads)
                    energy += atomEnergy
                    targets.atomEnergies?[i] += atomEnergy
                    headSeeds(work.seeds, chargeBar: chargeBar?[i] ?? 0)
                    atomBackward(i, atoms, &work, forces: forces, virial: &virial, atomVirials: atomVirials)
                }
                sums[worker].energy = energy
                sums[worker].virial = virial.components
                stageTimes[worker].add(work.times)
            }
        }
        for worker in 0..<workers {
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
