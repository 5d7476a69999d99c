/// Evaluation of models without message passing, one atom at a time (spec §12, T = 0):
/// each atom's A, B and read-out live only in small per-atom buffers, so memory does not
/// grow with the number of atoms beyond positions and forces. An atom's edges are held as
/// structure of arrays (EdgeBatchKernel), grouped by sender element.
extension Evaluator {
    /// Buffers for one atom: geometry in Double, features in the evaluation's precision T.
    /// Edge arrays have rows of `stride` edges.
    struct AtomWork<T: FeatureScalar> {
        let stride: Int
        let senders: UnsafeMutablePointer<Int>         // [e], -1 for padding
        let groupStart: UnsafeMutablePointer<Int>      // [z + 1]: edges of sender element z
        let groupEnd: UnsafeMutablePointer<Int>        // [z]: first padding edge of group z
        let found: UnsafeMutablePointer<Int>           // [f][2]: neighbours within the cutoff, j and element
        let foundGeometry: UnsafeMutablePointer<Double> // [f][4]: their r and d^2
        let vectors: UnsafeMutablePointer<Double>      // [e][3]
        let lengths: UnsafeMutablePointer<Double>      // [e]
        let d: UnsafeMutablePointer<T>                 // [e]
        let r: UnsafeMutablePointer<T>                 // [3][e]
        let rho: UnsafeMutablePointer<T>               // [n][e]
        let rhoDerivative: UnsafeMutablePointer<T>     // [n][e]
        let y: UnsafeMutablePointer<T>                 // [k][e]
        let yBar: UnsafeMutablePointer<T>              // [k][e]
        let rhoBar: UnsafeMutablePointer<T>            // [n][e]
        let dBar: UnsafeMutablePointer<T>              // [e]
        let g: UnsafeMutablePointer<T>                 // [3][e]
        let laneScratch: UnsafeMutablePointer<T>
        let p: UnsafeMutablePointer<T>                 // [z][n][k], then its adjoint
        let a: UnsafeMutablePointer<T>                 // [k][m][c]
        let aBar: UnsafeMutablePointer<T>
        let x: UnsafeMutablePointer<T>                 // [F] = B, [q][m][c]
        let xBar: UnsafeMutablePointer<T>
        let heads: UnsafeMutablePointer<T>
        let seeds: UnsafeMutablePointer<T>
        let readout: UnsafeMutablePointer<T>
        var edgeCount = 0                               // including padding
        var canonical: CanonicalCorrelation<T>.Work? = nil   // canonical models only (Evaluator+Canonical.swift)
        var clock = StageClock(enabled: false)
        var times = StageTimes()
    }

    func makeAtomWork<T>(maxEdges: Int, in thread: ThreadScratch, as type: T.Type) -> AtomWork<T> {
        let m = model
        let nr = m.radialFunctionCount, nk = m.angularCount, cs = m.channelCount, nz = m.elementCount
        let width = T.Lanes.scalarCount
        let stride = (maxEdges + nz * (width - 1) + width - 1) / width * width
        var indexLayout = ScratchLayout()
        let senders = indexLayout.piece(stride), groupStart = indexLayout.piece(nz + 1)
        let groupEnd = indexLayout.piece(nz), found = indexLayout.piece(2 * stride)
        var geometryLayout = ScratchLayout()
        let vectors = geometryLayout.piece(3 * stride), lengths = geometryLayout.piece(stride)
        let foundGeometry = geometryLayout.piece(4 * stride)
        var layout = ScratchLayout()
        let d = layout.piece(stride), r = layout.piece(3 * stride)
        let rho = layout.piece(nr * stride), rhoDerivative = layout.piece(nr * stride)
        let y = layout.piece(nk * stride), yBar = layout.piece(nk * stride), rhoBar = layout.piece(nr * stride)
        let dBar = layout.piece(stride), g = layout.piece(3 * stride), laneScratch = layout.piece(3 * (m.maxL + 1) * width)
        let p = layout.piece(nz * nr * nk)
        let a = layout.piece(m.radialBasisCount * nk * cs), aBar = layout.piece(m.radialBasisCount * nk * cs)
        let x = layout.piece(m.featureCount), xBar = layout.piece(m.featureCount)
        let heads = layout.piece(m.heads.count), seeds = layout.piece(m.heads.count)
        let readout = layout.piece(m.heads.count * m.readoutScratchStride)
        let i = thread.senders.reserve(indexLayout), v = thread.atom.reserve(geometryLayout)
        let t = thread.features.reserve(layout, as: T.self)
        var work = AtomWork(stride: stride, senders: i + senders, groupStart: i + groupStart, groupEnd: i + groupEnd,
                            found: i + found, foundGeometry: v + foundGeometry, vectors: v + vectors, lengths: v + lengths,
                            d: t + d, r: t + r, rho: t + rho, rhoDerivative: t + rhoDerivative, y: t + y, yBar: t + yBar,
                            rhoBar: t + rhoBar, dBar: t + dBar, g: t + g, laneScratch: t + laneScratch, p: t + p, a: t + a,
                            aBar: t + aBar, x: t + x, xBar: t + xBar, heads: t + heads, seeds: t + seeds,
                            readout: t + readout)
        work.clock = StageClock(enabled: measuresStages)
        work.canonical = makeCanonicalWork(edgeStride: stride, in: thread, as: T.self)
        return work
    }

    /// Edges of atom i, grouped by sender element, each group padded to whole vectors.
    func gatherEdges<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>) throws(CACEError) {
        let nz = model.elementCount
        let x = atoms.positions
        let cutoffSquared = model.cutoff * model.cutoff
        let list = atoms.neighbors
        let neighbours = list.lists[i]
        let count = neighbours == nil ? 0 : Int(list.counts[i])
        // Pass 1 reads the neighbour list (scattered positions, with LAMMPS's skin) once and keeps
        // the neighbours within the cutoff; pass 2 places those grouped by element. Pass 1 writes
        // every candidate and advances only for kept ones: no branch on the distance test, which
        // LAMMPS's skin makes unpredictable.
        for z in 0..<nz { w.groupEnd[z] = 0 }
        var found = 0
        var closest = Double.infinity
        for jj in 0..<count {
            let j = Int(neighbours.unsafelyUnwrapped[jj] & list.mask)
            let zj = Int(atoms.species[j])
            let r = (x[3 * i] - x[3 * j], x[3 * i + 1] - x[3 * j + 1], x[3 * i + 2] - x[3 * j + 2])
            let d2 = r.0 * r.0 + r.1 * r.1 + r.2 * r.2
            let keep = d2 < cutoffSquared && zj >= 0
            w.found[2 * found] = j; w.found[2 * found + 1] = zj
            let g = w.foundGeometry + 4 * found
            g[0] = r.0; g[1] = r.1; g[2] = r.2; g[3] = d2
            closest = min(closest, keep ? d2 : .infinity)
            found += keep ? 1 : 0
        }
        if closest == 0 {
            let f = (0..<found).first { w.foundGeometry[4 * $0 + 3] == 0 } ?? 0
            throw .geometry("atoms \(i) and \(w.found[2 * f]) are at the same position")
        }
        for f in 0..<found { w.groupEnd[w.found[2 * f + 1]] += 1 }
        let width = T.Lanes.scalarCount
        w.groupStart[0] = 0
        for z in 0..<nz {
            w.groupStart[z + 1] = w.groupStart[z] + (w.groupEnd[z] + width - 1) / width * width
            w.groupEnd[z] = w.groupStart[z]
        }
        for f in 0..<found {
            let zj = w.found[2 * f + 1]
            let e = w.groupEnd[zj]
            w.groupEnd[zj] += 1
            let g = w.foundGeometry + 4 * f
            let d = g[3].squareRoot()
            w.senders[e] = w.found[2 * f]
            w.vectors[3 * e] = g[0]; w.vectors[3 * e + 1] = g[1]; w.vectors[3 * e + 2] = g[2]
            w.lengths[e] = d
            w.d[e] = T(d)
            w.r[e] = T(g[0]); w.r[w.stride + e] = T(g[1]); w.r[2 * w.stride + e] = T(g[2])
        }
        w.edgeCount = w.groupStart[nz]
        // Padding edges: finite geometry, no sender.
        let half = model.cutoff / 2
        for z in 0..<nz {
            for e in w.groupEnd[z]..<w.groupStart[z + 1] {
                w.senders[e] = -1
                w.vectors[3 * e] = half; w.vectors[3 * e + 1] = 0; w.vectors[3 * e + 2] = 0
                w.lengths[e] = half
                w.d[e] = T(half)
                w.r[e] = T(half); w.r[w.stride + e] = 0; w.r[2 * w.stride + e] = 0
            }
        }
    }

    /// Edges, A, B and head outputs of atom i.
    func atomForward<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>,
                        _ k: FeatureKernels<T>) throws(CACEError) {
        try atomFeatures(i, atoms, &w, k)
        k.readoutForward(w.x, headOutputs: w.heads, scratch: w.readout, scratchStride: k.readoutScratchStride)
        w.times.readout += w.clock.lap()
    }

    /// Edges, A and the layer-0 features B of atom i (in `w.x`, invariant-major).
    func atomFeatures<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>,
                         _ k: FeatureKernels<T>) throws(CACEError) {
        // The sizes come from the kernels: copying `model` here would retain its arrays per atom.
        let nr = k.radialFunctionCount, nk = k.angular.count, nz = k.elementCount, stride = w.stride
        _ = w.clock.lap()
        try gatherEdges(i, atoms, &w)
        k.edgeBatch.features(count: w.edgeCount, stride: stride, d: w.d, r: w.r, lengths: w.lengths, rho: w.rho,
                             rhoDerivative: w.rhoDerivative, y: w.y, scratch: w.laneScratch)
        // p[z][n][k] = sum over the edges of group z of rho[n][e] Y[k][e]; padding has rho = 0.
        for z in 0..<nz {
            for e in w.groupEnd[z]..<w.groupStart[z + 1] { for n in 0..<nr { w.rho[n * stride + e] = 0 } }
            let start = w.groupStart[z], length = w.groupStart[z + 1] - start
            let pz = w.p + z * nr * nk, rho = w.rho + start, y = w.y + start
            var q = 0
            while q + 1 < nk {   // two angular rows per pass over rho
                dots(length, rows: nr, rho, xStride: stride, y + q * stride, y + (q + 1) * stride,
                     into: pz + q, pz + q + 1, outStride: nk)
                q += 2
            }
            if q < nk { dots(length, rows: nr, rho, xStride: stride, y + q * stride, into: pz + q, outStride: nk) }
        }
        k.channelsAndTransform(w.p, receiver: Int(atoms.species[i]), into: w.a)
        w.times.edgesAndA += w.clock.lap()
        k.symmetrizer.forward(a: w.a, b: w.x, radial: 1, angular: nk, channels: k.radialBasisCount * k.channelCount)
        canonicalForward(i, atoms, &w, k)
        w.times.symmetrizer += w.clock.lap()
    }

    /// Forces and virial of atom i's edges for head seeds already in `w.seeds`; needs the
    /// buffers left by `atomForward(i)`.
    func atomBackward<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>,
                         forces: UnsafeMutablePointer<Double>, virial: inout VirialTally,
                         atomVirials: UnsafeMutablePointer<Double>?) {
        for q in 0..<k.featureCount { w.xBar[q] = 0 }
        k.readoutBackward(seeds: w.seeds, xBar: w.xBar, scratch: w.readout, scratchStride: k.readoutScratchStride)
        featureGradients(i, atoms, &w, k)
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
        w.times.backward += w.clock.lap()
    }

    /// The edge gradients g[c][e] = d(xBar . B_i)/dr_e of atom i for a feature adjoint already
    /// in `w.xBar` (invariant-major), with r_e = x_i - x_j: the seed of dB/dx, used by the
    /// backward pass and by the descriptor API. Needs the buffers left by `atomFeatures(i)`.
    func featureGradients<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>) {
        let nr = k.radialFunctionCount, nk = k.angular.count, nz = k.elementCount, stride = w.stride
        let size = k.radialBasisCount * nk * k.channelCount
        for q in 0..<size { w.aBar[q] = 0 }
        k.symmetrizer.backward(a: w.a, bBar: w.xBar, aBar: w.aBar, radial: 1, angular: nk,
                               channels: k.radialBasisCount * k.channelCount)
        let canonicalColumns = canonicalAdjoint(i, atoms, &w, k)
        k.channelsAndTransformAdjoint(w.aBar, receiver: Int(atoms.species[i]), into: w.p)
        // yBar[k][e] = sum_n pBar[n][k] rho[n][e] and rhoBar[n][e] = sum_k pBar[n][k] Y[k][e], per group,
        // as matrix products that keep blocks of the output rows in registers.
        let count = w.edgeCount
        w.yBar.initialize(repeating: 0, count: nk * stride)
        w.rhoBar.initialize(repeating: 0, count: nr * stride)
        for z in 0..<nz {
            let start = w.groupStart[z], length = w.groupStart[z + 1] - start
            let pBar = w.p + z * nr * nk
            for q in 0..<nk {
                addCombination(length, rows: nr, pBar + q, cStride: nk, w.rho + start, xStride: stride,
                               into: w.yBar + q * stride + start)
            }
            for n in 0..<nr {
                addCombination(length, rows: nk, pBar + n * nk, cStride: 1, w.y + start, xStride: stride,
                               into: w.rhoBar + n * stride + start)
            }
        }
        if let columns = canonicalColumns { canonicalEdgeAdjoint(i, atoms, &w, k, columns: columns) }
        w.dBar.initialize(repeating: 0, count: count)
        for n in 0..<nr { addScaledProduct(count, 1, w.rhoBar + n * stride, w.rhoDerivative + n * stride, into: w.dBar) }
        k.edgeBatch.gradients(count: count, stride: stride, d: w.d, r: w.r, yBar: w.yBar, dBar: w.dBar, g: w.g,
                              scratch: w.laneScratch)
        if canonicalColumns != nil { addCanonicalDirectionGradients(&w) }
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

        // With a long-range term, charges of all atoms are needed before any backward pass.
        var chargeBar: UnsafeMutablePointer<Double>? = nil
        if let longRange = try longRangeTerm(for: atoms, communicator: communicator), let chargeHead = model.chargeHead {
            let perAtom = scratch.perAtom.zeroed(2 * atoms.localCount)
            let charges = perAtom, bars = perAtom + atoms.localCount
            try parallelChunks(count: list.count, workers: workers) { (worker, range) throws(CACEError) in
                var work = makeAtomWork(maxEdges: maxEdges, in: threads[worker], as: T.self)
                for ii in range {
                    let i = Int(list.atoms[ii])
                    guard atoms.species[i] >= 0 else { continue }
                    try atomForward(i, atoms, &work, k)
                    charges[i] = Double(work.heads[chargeHead])
                }
                stageTimes[worker].longRange += work.times.edgesAndA + work.times.symmetrizer + work.times.readout
            }
            var clock = StageClock(enabled: measuresStages)
            let lr = try longRange.evaluate(atoms: atoms, charges: charges, chargeBar: bars, forces: targets.forces,
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
                var work = makeAtomWork(maxEdges: maxEdges, in: threads[worker], as: T.self)
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
                    try atomForward(i, atoms, &work, k)
                    if let observe = featureObserver {
                        var upstream = [Double](repeating: 0, count: model.featureCount)
                        for (f, u) in featureOrder.enumerated() { upstream[u] = Double(work.x[f]) }
                        upstream.withUnsafeBufferPointer { observe(i, $0) }
                    }
                    let atomEnergy = shortRangeEnergy(work.heads)
                    energy += atomEnergy
                    targets.atomEnergies?[i] += atomEnergy
                    headSeeds(work.seeds, chargeBar: chargeBar?[i] ?? 0)
                    atomBackward(i, atoms, &work, k, forces: forces, virial: &virial, atomVirials: atomVirials)
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
