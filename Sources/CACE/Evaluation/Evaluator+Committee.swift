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
