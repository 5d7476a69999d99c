/// The atom-by-atom path's hooks for the canonical corrections (`CanonicalCorrelation`): its
/// per-thread buffers, and the calls from `atomFeatures` (forward) and `featureGradients`
/// (all adjoints before the radial-transform adjoint, since they add to Ā; their dE/dρ once
/// the edges' ρ̄ exists; their dE/du after the edge gradients). A self-interacting model never
/// reaches them.
extension Evaluator {
    /// Buffers of the canonical stage for one worker, or nil for a self-interacting model.
    func makeCanonicalWork<T>(edgeStride: Int, in thread: ThreadScratch, as type: T.Type) -> CanonicalCorrelation<T>.Work? {
        guard let c = kernels.canonical else { return nil }
        let layout = c.scratchLayout(edgeStride: edgeStride)
        let t = thread.canonical.reserve(layout.features, as: T.self), p = layout.pieces
        let g = thread.canonicalGeometry.reserve(layout.geometry), q = layout.geometryPieces
        return .init(phi: t + p[0], product: t + p[1], powerSums: t + p[2], powerSumBar: t + p[3], productBar: t + p[4],
                     phiBar: t + p[5], small: t + p[6], pi: t + p[7], piBar: t + p[8], rhoBar: t + p[9],
                     uBar: g + q[0], powers: g + q[1], monomials: g + q[2], monomialsByEdge: t + p[10])
    }

    private func canonicalEdges<T>(_ i: Int, _ atoms: AtomsView, _ w: AtomWork<T>) -> CanonicalCorrelation<T>.Edges {
        let groups = (0..<model.elementCount).map { w.groupStart[$0]..<w.groupEnd[$0] }
        return .init(receiver: Int(atoms.species[i]), groups: groups, stride: w.stride, rho: w.rho, vectors: w.vectors,
                     lengths: w.lengths)
    }

    /// B += the canonical corrections of atom i (after the symmetrizer's forward).
    func canonicalForward<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>) {
        guard let c = k.canonical, let work = w.canonical else { return }
        let edges = canonicalEdges(i, atoms, w)
        k.fused.withUnsafeBufferPointer { fused in
            c.forward(edges, a: w.a, b: w.x, fused: fused.baseAddress.unsafelyUnwrapped, work)
        }
    }

    /// The corrections' adjoints for the seed in `w.xBar` (after the symmetrizer's adjoint):
    /// their share of Ā now, of ρ̄ and ū kept in the canonical work. Returns the columns of M C
    /// the seed touches, or nil when it reaches no correction.
    func canonicalAdjoint<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>) -> Range<Int>? {
        guard let c = k.canonical, let work = w.canonical else { return nil }
        // A descriptor seed is one unit vector: its column range is one column.
        let mc = c.columns
        var lo = mc, hi = 0
        for f in 0..<k.featureCount where w.xBar[f] != 0 {
            lo = min(lo, f % mc); hi = max(hi, f % mc + 1)
        }
        guard lo < hi else { return nil }
        let edges = canonicalEdges(i, atoms, w)
        let reached = k.fused.withUnsafeBufferPointer { fused in
            c.backward(edges, a: w.a, bBar: w.xBar, aBar: w.aBar, fused: fused.baseAddress.unsafelyUnwrapped,
                       columns: lo..<hi, work)
        }
        return reached ? lo..<hi : nil
    }

    /// rhoBar += the corrections' dE/dρ (from `canonicalAdjoint`).
    func canonicalEdgeAdjoint<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>,
                                 columns: Range<Int>) {
        guard let c = k.canonical, let work = w.canonical else { return }
        c.addEdgeAdjoints(canonicalEdges(i, atoms, w), into: w.rhoBar, work)
    }

    /// g += the edge gradient of the corrections' direction adjoints (spec R6 with dE/dd = 0; the
    /// length's share went through rhoBar).
    func addCanonicalDirectionGradients<T>(_ w: inout AtomWork<T>) {
        guard let work = w.canonical else { return }
        let stride = w.stride
        for e in 0..<w.edgeCount where w.senders[e] >= 0 {
            let uBar = (work.uBar[e], work.uBar[stride + e], work.uBar[2 * stride + e])
            let r = (w.vectors[3 * e], w.vectors[3 * e + 1], w.vectors[3 * e + 2])
            let g = EdgeFormulas.edgeGradient(uBar: uBar, r: r, d: w.lengths[e], dBar: 0.0)
            w.g[e] += T(g.0); w.g[stride + e] += T(g.1); w.g[2 * stride + e] += T(g.2)
        }
    }
}
