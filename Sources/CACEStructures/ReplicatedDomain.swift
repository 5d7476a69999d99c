import CACE

/// A single domain holding all atoms of a structure plus the periodic images within the
/// cutoff as ghost atoms, with a cell-list neighbour list. It is its own communicator:
/// a ghost's owner is the atom it is an image of.
final class ReplicatedDomain: DomainCommunicator {
    let localCount: Int
    private(set) var totalCount: Int
    private var positions: [Double]
    private var species: [Int32]
    private var owner: [Int]
    /// The cell used for images (nil without periodicity).
    let cell: [Double]?
    private var neighborCounts: [Int32]
    private var neighborIndices: [Int32]
    private var neighborOffsets: [Int]

    init(structure: Structure, species atomSpecies: [Int32], cutoff: Double) throws(CACEError) {
        let n = structure.count
        guard structure.positions.count == 3 * n else { throw .structure("positions do not match the atom count") }
        for (k, v) in structure.positions.enumerated() where !(abs(v) <= Self.maximumCoordinate) {
            throw .geometry("atom \(k / 3) has coordinate \(v): coordinates must be finite and within "
                + "\(Self.maximumCoordinate) A of the origin, where double precision still resolves 1e-7 A")
        }
        localCount = n
        positions = structure.positions
        species = atomSpecies
        owner = Array(0..<n)
        let periodic = [structure.pbc.0, structure.pbc.1, structure.pbc.2]
        if periodic.contains(true) {
            guard let h = structure.cell, h.count == 9 else {
                throw .structure("a periodic structure needs a cell (Lattice=...)")
            }
            if let k = h.firstIndex(where: { !$0.isFinite }) {
                throw .geometry("lattice vector \(k / 3 + 1) of the cell has a non-finite component (\(h[k]))")
            }
            cell = h
            for a in 0..<3 where periodic[a] {
                let length = (h[3 * a] * h[3 * a] + h[3 * a + 1] * h[3 * a + 1] + h[3 * a + 2] * h[3 * a + 2]).squareRoot()
                guard length <= Self.maximumCoordinate else {
                    throw .geometry("periodic lattice vector \(a + 1) is \(length) A long, beyond \(Self.maximumCoordinate) A: "
                        + "make that direction non-periodic (pbc=F) instead")
                }
            }
            try Self.addImages(cell: h, periodic: periodic, cutoff: cutoff, positions: &positions,
                               species: &species, owner: &owner, localCount: n)
        } else {
            cell = nil
        }
        totalCount = owner.count
        (neighborCounts, neighborIndices, neighborOffsets) = try Self.neighbors(positions: positions, localCount: n,
                                                                                 totalCount: owner.count, cutoff: cutoff)
        try refuseOverlappingAtoms()
    }

    /// The evaluator's distance floor, checked here first so that the error names the structure's
    /// atoms (a ghost by the atom it is an image of) rather than indices of this domain.
    private func refuseOverlappingAtoms() throws(CACEError) {
        let floorSquared = Evaluator.minimumDistance * Evaluator.minimumDistance
        for i in 0..<localCount where species[i] >= 0 {
            for e in neighborOffsets[i]..<neighborOffsets[i + 1] where species[Int(neighborIndices[e])] >= 0 {
                let j = Int(neighborIndices[e])
                let r = (positions[3 * i] - positions[3 * j], positions[3 * i + 1] - positions[3 * j + 1],
                         positions[3 * i + 2] - positions[3 * j + 2])
                let d2 = r.0 * r.0 + r.1 * r.1 + r.2 * r.2
                guard d2 < floorSquared else { continue }
                throw Evaluator.tooClose("\(i)", j < localCount ? "\(j)" : "\(owner[j]) (a periodic image)", distance: d2.squareRoot())
            }
        }
    }

    /// The atom that atom `a` (owned or ghost) is an image of.
    func owner(of a: Int) -> Int { owner[a] }

    /// Neighbour pairs of the owned atoms.
    var neighborCount: Int { neighborIndices.count }

    /// Runs `body` with a view of this domain's atoms and neighbour list.
    func withAtomsView<R>(boundary: Boundary, _ body: (AtomsView) throws(CACEError) -> R) throws(CACEError) -> R {
        let ilist = (0..<Int32(localCount)).map { $0 }
        return try positions.withUnsafeBufferPointer { (x) throws(CACEError) -> R in
            try species.withUnsafeBufferPointer { (z) throws(CACEError) -> R in
                try neighborIndices.withUnsafeMutableBufferPointer { (idx) throws(CACEError) -> R in
                    let base = idx.baseAddress
                    let lists: [UnsafeMutablePointer<Int32>?] = (0..<localCount).map { i in
                        base.map { $0 + neighborOffsets[i] }
                    }
                    return try lists.withUnsafeBufferPointer { (l) throws(CACEError) -> R in
                        try ilist.withUnsafeBufferPointer { (il) throws(CACEError) -> R in
                            try neighborCounts.withUnsafeBufferPointer { (nc) throws(CACEError) -> R in
                                let view = NeighborListView(count: localCount, atoms: il.baseAddress.unsafelyUnwrapped,
                                                            counts: nc.baseAddress.unsafelyUnwrapped,
                                                            lists: l.baseAddress.unsafelyUnwrapped, mask: -1)
                                return try body(AtomsView(localCount: localCount, totalCount: totalCount,
                                                          positions: x.baseAddress.unsafelyUnwrapped,
                                                          species: z.baseAddress.unsafelyUnwrapped,
                                                          neighbors: view, boundary: boundary))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds ghost rows into their owners' rows.
    func foldGhostRows(_ rows: inout [Double], width: Int) {
        rows.withUnsafeMutableBufferPointer { reverseExchange($0.baseAddress.unsafelyUnwrapped, width: width) }
    }

    func forwardExchange(_ rows: UnsafeMutablePointer<Double>, width: Int) { copyToImages(rows, width: width) }

    func reverseExchange(_ rows: UnsafeMutablePointer<Double>, width: Int) { addToOwners(rows, width: width) }

    /// Single precision's rows move as they are: no Double copy of every row.
    func forwardExchange(floats rows: UnsafeMutablePointer<Float>, width: Int) -> Bool {
        copyToImages(rows, width: width)
        return true
    }

    func reverseExchange(floats rows: UnsafeMutablePointer<Float>, width: Int) -> Bool {
        addToOwners(rows, width: width)
        return true
    }

    private func copyToImages<T: BinaryFloatingPoint>(_ rows: UnsafeMutablePointer<T>, width: Int) {
        for g in localCount..<totalCount {
            (rows + g * width).update(from: rows + owner[g] * width, count: width)
        }
    }

    private func addToOwners<T: BinaryFloatingPoint>(_ rows: UnsafeMutablePointer<T>, width: Int) {
        for g in localCount..<totalCount {
            let source = rows + g * width, target = rows + owner[g] * width
            for c in 0..<width { target[c] += source[c] }
        }
    }

    func sumOverRanks(_ values: UnsafeMutablePointer<Double>, count: Int) {}
}
