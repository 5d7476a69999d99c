/// Floating-point operations of one energy+force evaluation per atom, counted for the
/// algorithm this library runs (spec §11 cost model; multiply-add = 2, exp/sin/cos = 20).
/// Used by `cace benchmark` to report achieved GFLOP/s.
extension CACEModel {
    public func operationsPerAtom(edgesPerAtom ne: Double) -> Double {
        let nr = Double(radialFunctionCount), k = Double(angularCount), c = Double(channelCount)
        let m = Double(radialBasisCount), nz = Double(elementCount), l = Double(maxL + 1)
        let transcendental = 20.0
        // Symmetrizer: each term of order nu costs nu multiplies forward and about 3 nu backward.
        var symmetrizerTerms = 0.0
        for t in 0..<symmetrizer.order.count { symmetrizerTerms += Double(symmetrizer.order[t]) }
        let symmetrizerForward = 2 * symmetrizerTerms * m * c
        let symmetrizerBackward = 3 * symmetrizerForward
        let readout = heads.reduce(0.0) { total, head in
            total + head.network.layers.reduce(0.0) { $0 + 2 * Double($1.inputs * $1.outputs) + 4 * Double($1.outputs) }
                + 2 * Double(head.linear?.inputs ?? 0)
        }
        // Per edge: geometry, radial basis with cutoff, monomials, rho (x) Y outer product;
        // backward: two contractions, the monomial and geometry adjoints.
        let radialCost: Double
        switch radialBasis {
        case .bessel: radialCost = nr * (2 * transcendental + 10)
        case .gaussian, .exponentialDecay: radialCost = nr * (transcendental + 8)
        }
        let edgeForward = 30 + radialCost + k + 2 * nr * k
        let edgeBackward = 4 * nr * k + 6 * k + 40
        // Per atom: channel expansion and radial transform, and their adjoints.
        let atomLinear = 2 * nz * nr * k * c + 2 * nr * m * k * c
        var layerCost = 0.0
        for layer in layers {
            if layer.memory != nil { layerCost += 2 * 2 * m * k * c }
            if layer.arPrefactor != nil { layerCost += ne * (l * m * c * (transcendental + 4) * 2 + 6 * m * k * c) }
            if let bchi = layer.bchi {
                let perEdge = bchi.isScalar ? 6 * nr * k : 6 * nr * k * c
                layerCost += ne * perEdge + 2 * atomLinear + 2 * Double(bchi.network.inputs * bchi.network.outputs)
                    + 2 * (symmetrizerForward + symmetrizerBackward)
            }
            layerCost += symmetrizerForward + symmetrizerBackward
        }
        return ne * (edgeForward + edgeBackward) + 2 * atomLinear + symmetrizerForward + symmetrizerBackward
            + 2 * readout + layerCost + canonicalOperationsPerAtom(edgesPerAtom: ne)
    }
}
