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
        var tooClose = -1   // the first owned atom with a handled neighbour within minimumDistance
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
            // The distance floor rides on this loop, which reads every listed pair anyway: one
            // distance per pair, and the rare failure is found by a branch-free minimum.
            let x = atoms.positions
            var closest = Double.infinity
            let handled = atoms.species[i] >= 0
            for jj in 0..<count {
                let j = Int(neighbours[jj] & list.mask)
                guard j >= 0, j < atoms.totalCount else {
                    throw .argument("atom \(i) lists neighbour \(j), outside the \(atoms.totalCount) atoms passed")
                }
                let d2 = squaredDistance(x, i, j)
                closest = min(closest, atoms.species[j] >= 0 ? d2 : .infinity)
            }
            if handled, closest < Self.minimumDistance * Self.minimumDistance, tooClose < 0 { tooClose = i }
        }
        // a cell far smaller than the cutoff also puts images within the floor: say that first
        guard edges <= Self.maximumNeighborsPerAtom * max(1, list.count) else {
            throw Self.tooManyNeighbors(edges: edges, atoms: list.count, cutoff: model.cutoff)
        }
        if tooClose >= 0, let neighbours = list.lists[tooClose] {
            try refuseClosePair(atoms, atom: tooClose, neighbours: neighbours, count: Int(list.counts[tooClose]),
                                mask: list.mask)
        }
    }


    /// Two atoms the model handles closer than this (Angstrom) are refused: no training set
    /// holds such a pair, so the model's answer there is meaningless (the closest physical pair,
    /// H2, is 0.74 A), and at distance 0 the angular basis is undefined. Atoms of types the
    /// model does not handle (species -1, e.g. another pair style's atoms in LAMMPS) are exempt.
    public static let minimumDistance = 0.1

    @inline(__always)
    private func squaredDistance(_ x: UnsafePointer<Double>, _ i: Int, _ j: Int) -> Double {
        let r = (x[3 * i] - x[3 * j], x[3 * i + 1] - x[3 * j + 1], x[3 * i + 2] - x[3 * j + 2])
        return r.0 * r.0 + r.1 * r.1 + r.2 * r.2
    }

    /// The error for atom `i`, which has a handled neighbour within `minimumDistance`: names both
    /// atoms (host indices: owned, then ghosts) and their distance.
    private func refuseClosePair(_ atoms: AtomsView, atom i: Int, neighbours: UnsafeMutablePointer<Int32>,
                                 count: Int, mask: Int32) throws(CACEError) {
        for jj in 0..<count {
            let j = Int(neighbours[jj] & mask)
            guard atoms.species[j] >= 0 else { continue }
            let d2 = squaredDistance(atoms.positions, i, j)
            if d2 < Self.minimumDistance * Self.minimumDistance { throw Self.tooClose("\(i)", "\(j)", distance: d2.squareRoot()) }
        }
    }

    /// The error for two atoms (named by the caller) within `minimumDistance`.
    package static func tooClose(_ a: String, _ b: String, distance: Double) -> CACEError {
        if distance == 0 { return .geometry("atoms \(a) and \(b) are at the same position") }
        let rounded = (distance * 1e6).rounded() / 1e6   // 0.04, not 0.03999999999999958
        return .geometry("atoms \(a) and \(b) are \(rounded > 0 ? rounded : distance) A apart, closer than the "
            + "\(minimumDistance) A the model accepts (overlapping atoms, or coordinates not in Angstrom?)")
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
