/// The per-atom stages of the path for models without message passing (spec §12, T = 0): an
/// atom's edges, held as structure of arrays (EdgeBatchKernel) grouped by sender element, their
/// sums over the edges, and the way back from those sums' adjoints to the edge gradients. The
/// evaluation runs them for blocks of atoms (Evaluator+AtomBlocks.swift); the descriptor API runs
/// them one atom at a time (`atomFeatures`, `featureGradients`).
extension Evaluator {
    /// Buffers for one atom: geometry in Double, features in the evaluation's precision T.
    /// Edge arrays have rows of `stride` edges. In a block, the edge pieces (which the backward
    /// pass reads) are the atom's own and the temporaries marked "shared" are the same for every
    /// atom; p, A, B and their adjoints point at the block's arrays, which have the one-atom
    /// layouts below only in a block of one atom (the descriptor API, canonical models).
    struct AtomWork<T: FeatureScalar> {
        let stride: Int
        let senders: UnsafeMutablePointer<Int>         // [e], -1 for padding
        let groupStart: UnsafeMutablePointer<Int>      // [z + 1]: edges of sender element z
        let groupEnd: UnsafeMutablePointer<Int>        // [z]: first padding edge of group z
        let found: UnsafeMutablePointer<Int>           // shared [f][2]: neighbours within the cutoff, j and element
        let foundGeometry: UnsafeMutablePointer<Double> // shared [f][4]: their r and d^2
        let vectors: UnsafeMutablePointer<Double>      // [e][3]
        let lengths: UnsafeMutablePointer<Double>      // [e]
        let d: UnsafeMutablePointer<T>                 // [e]
        let r: UnsafeMutablePointer<T>                 // [3][e]
        let rho: UnsafeMutablePointer<T>               // [n][e]
        let rhoDerivative: UnsafeMutablePointer<T>     // [n][e]
        let y: UnsafeMutablePointer<T>                 // [k][e]
        let yBar: UnsafeMutablePointer<T>              // shared [k][e]
        let rhoBar: UnsafeMutablePointer<T>            // shared [n][e]
        let dBar: UnsafeMutablePointer<T>              // shared [e]
        let g: UnsafeMutablePointer<T>                 // shared [3][e]
        let laneScratch: UnsafeMutablePointer<T>       // shared
        let p: UnsafeMutablePointer<T>                 // [z][n][k], then its adjoint
        let a: UnsafeMutablePointer<T>                 // [k][m][c]
        let aBar: UnsafeMutablePointer<T>
        let x: UnsafeMutablePointer<T>                 // [F] = B, [q][m][c]
        let xBar: UnsafeMutablePointer<T>
        let heads: UnsafeMutablePointer<T>             // the atom's row of the block's head outputs
        let seeds: UnsafeMutablePointer<T>             // the atom's row of the block's seeds
        var edgeCount = 0                               // including padding
        var canonical: CanonicalCorrelation<T>.Work? = nil   // canonical models only (Evaluator+Canonical.swift)
        var clock = StageClock(enabled: false)
        var times = StageTimes()
    }

    /// One atom's buffers (a block of one, without read-out scratch), for the descriptor API.
    func makeAtomWork<T>(maxEdges: Int, in thread: ThreadScratch, as type: T.Type) -> AtomWork<T> {
        makeBlockWork(rows: 1, maxEdges: maxEdges, readoutScratch: 0, in: thread, as: type).atoms[0]
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

    /// Where p[z][n][k] (the sums over an atom's edges of rho Y, or their adjoints) lies: element
    /// (z, n, k) at z zStride + n nStride + k kStride. One atom: [z][n][k]; an atom's slice of a
    /// block's [z][k][rows][n] (Stages/BlockTransform.swift).
    struct EdgeSumLayout {
        let zStride: Int, nStride: Int, kStride: Int

        static func atom(radial nr: Int, angular nk: Int) -> EdgeSumLayout {
            EdgeSumLayout(zStride: nr * nk, nStride: nk, kStride: 1)
        }

        static func block(rows: Int, radial nr: Int, angular nk: Int) -> EdgeSumLayout {
            EdgeSumLayout(zStride: nk * rows * nr, nStride: 1, kStride: rows * nr)
        }
    }

    /// The edges of atom i and their radial and angular values.
    func atomEdges<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>) throws(CACEError) {
        try gatherEdges(i, atoms, &w)
        k.edgeBatch.features(count: w.edgeCount, stride: w.stride, d: w.d, r: w.r, lengths: w.lengths, rho: w.rho,
                             rhoDerivative: w.rhoDerivative, y: w.y, scratch: w.laneScratch)
    }

    /// p[z][n][k] = sum over the edges of group z of rho[n][e] Y[k][e]; padding has rho = 0.
    func edgeSums<T>(_ w: AtomWork<T>, _ k: FeatureKernels<T>, into p: UnsafeMutablePointer<T>, _ s: EdgeSumLayout) {
        let nr = k.radialFunctionCount, nk = k.angular.count, nz = k.elementCount, stride = w.stride
        for z in 0..<nz {
            for e in w.groupEnd[z]..<w.groupStart[z + 1] { for n in 0..<nr { w.rho[n * stride + e] = 0 } }
            let start = w.groupStart[z], length = w.groupStart[z + 1] - start
            let pz = p + z * s.zStride, rho = w.rho + start, y = w.y + start
            var q = 0
            while q + 1 < nk {   // two angular rows per pass over rho
                dots(length, rows: nr, rho, xStride: stride, y + q * stride, y + (q + 1) * stride,
                     into: pz + q * s.kStride, pz + (q + 1) * s.kStride, outStride: s.nStride)
                q += 2
            }
            if q < nk {
                dots(length, rows: nr, rho, xStride: stride, y + q * stride, into: pz + q * s.kStride, outStride: s.nStride)
            }
        }
    }

    /// yBar[k][e] = sum_n pBar[n][k] rho[n][e] and rhoBar[n][e] = sum_k pBar[n][k] Y[k][e], per
    /// sender group, as matrix products that keep blocks of the output rows in registers.
    func edgeSumAdjoints<T>(_ w: AtomWork<T>, _ k: FeatureKernels<T>, from pBar: UnsafePointer<T>, _ s: EdgeSumLayout) {
        let nr = k.radialFunctionCount, nk = k.angular.count, nz = k.elementCount, stride = w.stride
        w.yBar.initialize(repeating: 0, count: nk * stride)
        w.rhoBar.initialize(repeating: 0, count: nr * stride)
        for z in 0..<nz {
            let start = w.groupStart[z], length = w.groupStart[z + 1] - start
            let pz = pBar + z * s.zStride
            for q in 0..<nk {
                addCombination(length, rows: nr, pz + q * s.kStride, cStride: s.nStride, w.rho + start, xStride: stride,
                               into: w.yBar + q * stride + start)
            }
            for n in 0..<nr {
                addCombination(length, rows: nk, pz + n * s.nStride, cStride: s.kStride, w.y + start, xStride: stride,
                               into: w.rhoBar + n * stride + start)
            }
        }
    }

    /// The edge gradients `w.g` from `w.yBar` and `w.rhoBar` (spec R4-R6).
    func edgeGradients<T>(_ w: AtomWork<T>, _ k: FeatureKernels<T>) {
        let nr = k.radialFunctionCount, stride = w.stride, count = w.edgeCount
        w.dBar.initialize(repeating: 0, count: count)
        for n in 0..<nr { addScaledProduct(count, 1, w.rhoBar + n * stride, w.rhoDerivative + n * stride, into: w.dBar) }
        k.edgeBatch.gradients(count: count, stride: stride, d: w.d, r: w.r, yBar: w.yBar, dBar: w.dBar, g: w.g,
                              scratch: w.laneScratch)
    }

    /// Edges, A and the layer-0 features B of atom i (in `w.x`, invariant-major), one atom at a time.
    func atomFeatures<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>,
                         _ k: FeatureKernels<T>) throws(CACEError) {
        // The sizes come from the kernels: copying `model` here would retain its arrays per atom.
        let nk = k.angular.count
        try atomEdges(i, atoms, &w, k)
        edgeSums(w, k, into: w.p, .atom(radial: k.radialFunctionCount, angular: nk))
        k.channelsAndTransform(w.p, receiver: Int(atoms.species[i]), into: w.a)
        k.symmetrizer.forward(a: w.a, b: w.x, radial: 1, angular: nk, channels: k.radialBasisCount * k.channelCount)
        canonicalForward(i, atoms, &w, k)
    }

    /// The edge gradients g[c][e] = d(xBar . B_i)/dr_e of atom i for a feature adjoint already
    /// in `w.xBar` (invariant-major), with r_e = x_i - x_j: the seed of dB/dx, used by the
    /// descriptor API. Needs the buffers left by `atomFeatures(i)`.
    func featureGradients<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>) {
        let nk = k.angular.count
        let size = k.radialBasisCount * nk * k.channelCount
        for q in 0..<size { w.aBar[q] = 0 }
        k.symmetrizer.backward(a: w.a, bBar: w.xBar, aBar: w.aBar, radial: 1, angular: nk,
                               channels: k.radialBasisCount * k.channelCount)
        let canonicalColumns = canonicalAdjoint(i, atoms, &w, k)
        k.channelsAndTransformAdjoint(w.aBar, receiver: Int(atoms.species[i]), into: w.p)
        edgeSumAdjoints(w, k, from: w.p, .atom(radial: k.radialFunctionCount, angular: nk))
        if let columns = canonicalColumns { canonicalEdgeAdjoint(i, atoms, &w, k, columns: columns) }
        edgeGradients(w, k)
        if canonicalColumns != nil { addCanonicalDirectionGradients(&w) }
    }
}
