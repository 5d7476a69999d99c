/// The canonical corrections' floating-point operations per atom (docs/canonical.md, "Cost of
/// inference"), counted as `CanonicalCorrelation` runs them (multiply-add = 2); 0 for a
/// self-interacting model. Part of `operationsPerAtom`, so `cace benchmark` counts them.
extension CACEModel {
    public func canonicalOperationsPerAtom(edgesPerAtom ne: Double) -> Double {
        guard !selfInteraction, layers.isEmpty else { return 0 }
        let table = CanonicalTable(symmetrizer: symmetrizer, angular: angular)
        let mc = Double(radialBasisCount * channelCount), nr = Double(radialFunctionCount)
        let slots = Double(table.degrees.count)
        // Π_l(e) = Σ_|v|=l mult(v) u^v A_v: one row of mc per monomial, forward and again in the backward
        let piMonomials = Double(table.piDegrees.reduce(0) { $0 + ($1 + 1) * ($1 + 2) / 2 })
        let pairs = Double(table.closedForms.filter { $0.degrees.count == 2 }.count)
        let triples = Double(table.closedForms.filter { $0.degrees.count == 3 }.count)
        let productFactors = Double(table.products.reduce(0) { $0 + $1.count - 1 })
        let productAdjoint = Double(table.products.reduce(0) { $0 + $1.count * ($1.count - 1) })
        let signatures = Double(table.signatures.count)
        let hasForms = table.closedForms.isEmpty ? 0.0 : 1.0
        // per edge, forward: Φ rows (Σ_n ρ_n V), Π rows, the closed forms (3 and 12 flops per
        // column), the generic path's products and power sums
        let edgeForward = 2 * slots * nr * mc + hasForms * 2 * piMonomials * mc + (3 * pairs + 12 * triples) * mc
            + (productFactors + 2 * signatures) * mc
        // backward: the closed forms' adjoints (8 and 45 per column), Π recomputed, Π̄ into Ā and
        // Π̄ · A for dE/du, Φ̄ into ρ̄, and the generic path's adjoints
        let edgeBackward = (8 * pairs + 45 * triples) * mc + hasForms * 3 * 2 * piMonomials * mc + 2 * slots * nr * mc
            + (2 * productAdjoint + 4 * signatures) * mc
        // per atom: the generic corrections Π of their rows, forward and adjoint
        let atom = table.corrections.reduce(0.0) { total, c in total + Double(2 * c.rows.count + 2 * c.rows.count * c.rows.count) * mc }
        return ne * (edgeForward + edgeBackward) + atom
    }
}
