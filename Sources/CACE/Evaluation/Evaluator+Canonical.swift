/// The atom-by-atom path's hooks for the canonical corrections (`CanonicalCorrelation`): its
/// per-thread buffers, and the calls from `atomFeatures` (forward) and `featureGradients`
/// (atom step before the radial-transform adjoint, edge step before the edge gradients, and
/// the direction adjoint after them). A self-interacting model never reaches them.
extension Evaluator {
    /// Buffers of the canonical stage for one worker, or nil for a self-interacting model.
    func makeCanonicalWork<T>(edgeStride: Int, in thread: ThreadScratch, as type: T.Type) -> CanonicalCorrelation<T>.Work? {
        guard let c = kernels.canonical else { return nil }
        let layout = c.scratchLayout(edgeStride: edgeStride)
        let t = thread.canonical.reserve(layout.features, as: T.self), p = layout.pieces
        let g = thread.canonicalGeometry.reserve(layout.geometry), q = layout.geometryPieces
        return .init(phi: t + p[0], product: t + p[1], powerSums: t + p[2], powerSumBar: t + p[3], productBar: t + p[4],
                     phiBar: t + p[5], rhoBar: t + p[6], uBar: g + q[0], powers: g + q[1])
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

    /// The corrections' share of Ā (after the symmetrizer's adjoint) and the power sums'
    /// adjoints. Returns the columns of M C the seed touches, or nil when no power sum has an
    /// adjoint (then the edge steps are skipped).
    func canonicalAtomAdjoint<T>(_ w: inout AtomWork<T>, _ k: FeatureKernels<T>) -> Range<Int>? {
        guard let c = k.canonical, let work = w.canonical else { return nil }
        // A descriptor seed is one unit vector: its column range is one column.
        let mc = c.columns
        var lo = mc, hi = 0
        for f in 0..<k.featureCount where w.xBar[f] != 0 {
            lo = min(lo, f % mc); hi = max(hi, f % mc + 1)
        }
        guard lo < hi else { return nil }
        return c.atomAdjoint(a: w.a, bBar: w.xBar, aBar: w.aBar, columns: lo..<hi, work) ? lo..<hi : nil
    }

    /// rhoBar += the power sums' share, and the direction adjoints in the canonical work.
    func canonicalEdgeAdjoint<T>(_ i: Int, _ atoms: AtomsView, _ w: inout AtomWork<T>, _ k: FeatureKernels<T>,
                                 columns: Range<Int>) {
        guard let c = k.canonical, let work = w.canonical else { return }
        work.uBar.initialize(repeating: 0, count: 3 * w.stride)
        let edges = canonicalEdges(i, atoms, w)
        k.fused.withUnsafeBufferPointer { fused in
            c.edgeAdjoint(edges, fused: fused.baseAddress.unsafelyUnwrapped, rhoBar: w.rhoBar, columns: columns, work)
        }
    }

    /// g += the edge gradient of the canonical direction adjoints (spec R6 with dE/dd = 0; the
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
