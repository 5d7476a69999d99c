extension Evaluator {
    /// The committee's spread of each owned atom's energy in a host's domain: the standard
    /// deviation over the members of w_k . x_i + b + e0_k[z_i] ([localCount], 0 for atoms the
    /// model does not handle). A forward pass of the features only (the descriptor API), so a
    /// host can ask for it on the steps that need it (LAMMPS `fix pair`). Nil without a committee.
    public func committeeAtomSpread(_ atoms: AtomsView, communicator: any DomainCommunicator) throws(CACEError) -> [Double]? {
        guard let committee = model.committee else { return nil }
        let d = try descriptors(atoms, derivatives: false, communicator: communicator)
        let f = d.featureCount
        guard f == committee.featureCount else {
            throw .unsupported("the committee's read-out takes \(committee.featureCount) features, the representation gives \(f)")
        }
        var spread = [Double](repeating: 0, count: atoms.localCount)
        var members = [Double](repeating: 0, count: committee.count)
        d.features.withUnsafeBufferPointer { features in
            for (row, atom) in d.atoms.enumerated() {
                let x = UnsafeBufferPointer(rebasing: features[(row * f)..<((row + 1) * f)])
                let element = Int(atoms.species[atom])
                for k in 0..<committee.count { members[k] = committee.memberEnergy(k, features: x, element: element) }
                spread[atom] = Committee.spread(members)
            }
        }
        return spread
    }
}

extension Evaluator {
    /// The committee's force deviation of each owned atom in a host's domain,
    /// sqrt(sum_c var_k F_ic) as `cace evaluate --uncertainty` gives it ([localCount], 0 for atoms
    /// the model does not handle). The edges' Jacobians (the descriptor API) are contracted with
    /// every member's weights; the rows of ghost atoms, 3K doubles each, are folded into their
    /// owners by one reverse exchange. Costs about one feature Jacobian pass, so a host asks for
    /// it only on the steps that need it (LAMMPS `fix pair`). Nil without a committee.
    public func committeeForceDeviation(_ atoms: AtomsView, communicator: any DomainCommunicator) throws(CACEError) -> [Double]? {
        guard let committee = model.committee else { return nil }
        let d = try descriptors(atoms, derivatives: true, communicator: communicator)
        let k = committee.count, f = d.featureCount, width = 3 * k
        guard f == committee.featureCount else {
            throw .unsupported("the committee's read-out takes \(committee.featureCount) features, the representation gives \(f)")
        }
        // [atom][member][3]; never empty: every rank takes part in the exchange, with atoms or not
        var rows = [Double](repeating: 0, count: max(1, atoms.totalCount * width))
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
                    let ri = i * width + 3 * member, rj = j * width + 3 * member
                    rows[ri] -= g.0; rows[ri + 1] -= g.1; rows[ri + 2] -= g.2
                    rows[rj] += g.0; rows[rj + 1] += g.1; rows[rj + 2] += g.2
                }
            }
        }
        rows.withUnsafeMutableBufferPointer { communicator.reverseExchange($0.baseAddress.unsafelyUnwrapped, width: width) }
        var deviation = [Double](repeating: 0, count: atoms.localCount)
        for atom in 0..<atoms.localCount where atoms.species[atom] >= 0 {
            var sum = 0.0
            for c in 0..<3 {
                let s = Committee.spread((0..<k).map { rows[atom * width + 3 * $0 + c] })
                sum += s * s
            }
            deviation[atom] = sum.squareRoot()
        }
        return deviation
    }
}
