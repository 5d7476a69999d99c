import CACE

/// The spread of a committee's predictions for one structure (`cace evaluate --uncertainty`).
public struct CommitteeSpread: Sendable {
    /// Standard deviation of the members' total energies (eV).
    public var energy: Double
    /// Standard deviation of each atom's energy over the members (eV), [N].
    public var atomEnergies: [Double]
    /// Force deviation per atom, sqrt(sum_k |F_i^(k) - mean F_i|^2 / (K - 1)) (eV/A), [N].
    public var forces: [Double]
}

extension Evaluator {
    /// The committee's spread for a structure: one feature evaluation with Jacobians serves all
    /// members (the model is linear in the read-out weights). Nil if the model has no committee.
    public func committeeSpread(_ structure: Structure) throws(CACEError) -> CommitteeSpread? {
        guard let committee = model.committee else { return nil }
        let d = try descriptors(structure, derivatives: true)
        let k = committee.count, f = d.featureCount, n = structure.count
        guard f == committee.featureCount else {
            throw .unsupported("the committee's read-out takes \(committee.featureCount) features, the representation gives \(f)")
        }
        let elements = structure.atomicNumbers.map { model.atomicNumbers.firstIndex(of: $0) ?? -1 }
        var memberAtomEnergies = [Double](repeating: 0, count: k * n)   // [member][atom]
        d.features.withUnsafeBufferPointer { features in
            for (row, atom) in d.atoms.enumerated() {
                let x = UnsafeBufferPointer(rebasing: features[(row * f)..<((row + 1) * f)])
                for member in 0..<k {
                    memberAtomEnergies[member * n + atom] = committee.memberEnergy(member, features: x, element: elements[atom])
                }
            }
        }
        // Member forces: each edge's Jacobian contracted with every member's weights.
        var memberForces = [Double](repeating: 0, count: k * 3 * n)     // [member][atom][3]
        d.jacobians.withUnsafeBufferPointer { jacobians in
            for e in 0..<d.edgeReceivers.count {
                let i = d.edgeReceivers[e], j = d.edgeSenders[e]
                let jacobian = jacobians.baseAddress.unsafelyUnwrapped + e * f * 3
                for member in 0..<k {
                    var g = (0.0, 0.0, 0.0)
                    for q in 0..<f {
                        let w = committee.weight(member, q)
                        g.0 += w * jacobian[3 * q]; g.1 += w * jacobian[3 * q + 1]; g.2 += w * jacobian[3 * q + 2]
                    }
                    let base = member * 3 * n
                    memberForces[base + 3 * i] -= g.0; memberForces[base + 3 * i + 1] -= g.1; memberForces[base + 3 * i + 2] -= g.2
                    memberForces[base + 3 * j] += g.0; memberForces[base + 3 * j + 1] += g.1; memberForces[base + 3 * j + 2] += g.2
                }
            }
        }
        let totals = (0..<k).map { member in memberAtomEnergies[(member * n)..<((member + 1) * n)].reduce(0, +) }
        let atomSpread = (0..<n).map { atom in Committee.spread((0..<k).map { memberAtomEnergies[$0 * n + atom] }) }
        let forceSpread = (0..<n).map { atom -> Double in
            var sum = 0.0
            for c in 0..<3 {
                let values = (0..<k).map { memberForces[$0 * 3 * n + 3 * atom + c] }
                let s = Committee.spread(values)
                sum += s * s
            }
            return sum.squareRoot()
        }
        return CommitteeSpread(energy: Committee.spread(totals), atomEnergies: atomSpread, forces: forceSpread)
    }
}
