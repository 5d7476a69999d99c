/// What an evaluation refuses: host arrays that do not fit together, structures that would
/// need unbounded memory, and results that are not finite.
extension Evaluator {
    /// Checks every index the host passed, so that no loop below can read out of bounds.
    func validate(_ atoms: AtomsView) throws(CACEError) {
        guard atoms.localCount >= 0, atoms.totalCount >= atoms.localCount else {
            throw .argument("atom counts are inconsistent (owned \(atoms.localCount), total \(atoms.totalCount))")
        }
        let nz = model.elementCount
        for a in 0..<atoms.totalCount {
            let z = Int(atoms.species[a])
            guard z >= -1, z < nz else { throw .argument("atom \(a) has element index \(z); the model has \(nz) elements") }
        }
        for a in 0..<(3 * atoms.totalCount) where !atoms.positions[a].isFinite {
            throw .geometry("atom \(a / 3) has a non-finite coordinate")
        }
        let list = atoms.neighbors
        var edges = 0
        guard list.count >= 0, list.count <= atoms.localCount else {
            throw .argument("the neighbour list has \(list.count) atoms but only \(atoms.localCount) are owned")
        }
        for ii in 0..<list.count {
            let i = Int(list.atoms[ii])
            guard i >= 0, i < atoms.localCount else { throw .argument("neighbour list entry \(ii) is atom \(i), not an owned atom") }
            let count = Int(list.counts[i])
            guard count >= 0 else { throw .argument("atom \(i) has a negative neighbour count") }
            edges += count
            guard count == 0 || list.lists[i] != nil else { throw .argument("atom \(i) has neighbours but no list") }
            guard let neighbours = list.lists[i] else { continue }
            for jj in 0..<count {
                let j = Int(neighbours[jj] & list.mask)
                guard j >= 0, j < atoms.totalCount else {
                    throw .argument("atom \(i) lists neighbour \(j), outside the \(atoms.totalCount) atoms passed")
                }
            }
        }
        guard edges <= Self.maximumNeighborsPerAtom * max(1, list.count) else {
            throw Self.tooManyNeighbors(edges: edges, atoms: list.count, cutoff: model.cutoff)
        }
    }


    /// A non-finite energy or virial is an error, never a result (an overflowing E0, weights
    /// that blow up). Forces are checked by the host, which alone knows the atoms' IDs and
    /// what else it added to its force array (`Structure` evaluation, the LAMMPS shim).
    func checkFinite(_ summary: EvaluationSummary) throws(CACEError) {
        guard summary.energy.isFinite else {
            throw .geometry("the energy is not finite (\(summary.energy)): check the model's weights and E0s")
        }
        for (c, w) in summary.virial.enumerated() where !w.isFinite {
            throw .geometry("virial component \(c) is not finite (\(w)): check the model's weights")
        }
    }

    /// Neighbours per atom beyond which a structure is refused before per-edge memory is
    /// allocated: dense matter within a 10 A cutoff has under 1000.
    public static let maximumNeighborsPerAtom = 5000

    package static func tooManyNeighbors(edges: Int, atoms: Int, cutoff: Double) -> CACEError {
        .geometry("\(edges) neighbour pairs within the cutoff (\(cutoff) A) for \(atoms) atoms, more than "
            + "\(maximumNeighborsPerAtom) per atom: the cell is far smaller than the cutoff or atoms overlap "
            + "(are the coordinates in Angstrom?)")
    }
}
