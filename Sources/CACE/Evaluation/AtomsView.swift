/// A borrowed full neighbour list in LAMMPS's layout: `atoms[ii]` is an owned atom i,
/// `counts[i]` and `lists[i]` its neighbours (indices into the owned+ghost atoms).
public struct NeighborListView {
    public var count: Int
    public var atoms: UnsafePointer<Int32>
    public var counts: UnsafePointer<Int32>
    public var lists: UnsafePointer<UnsafeMutablePointer<Int32>?>
    /// Bits of a neighbour entry that hold the index (LAMMPS NEIGHMASK), or -1.
    public var mask: Int32

    public init(count: Int, atoms: UnsafePointer<Int32>, counts: UnsafePointer<Int32>,
                lists: UnsafePointer<UnsafeMutablePointer<Int32>?>, mask: Int32 = -1) {
        self.count = count
        self.atoms = atoms
        self.counts = counts
        self.lists = lists
        self.mask = mask
    }
}

/// How the simulation box is bounded; the long-range term needs it.
public enum Boundary {
    /// Periodic in all three directions; rows of `cell` are the lattice vectors.
    case periodic(cell: [Double])
    /// Open in all directions. `tags[i]` (1-based, owned atoms) index the atoms across all
    /// ranks; nil means the owned atoms are all atoms, in order.
    case open(tags: UnsafePointer<Int64>?, atomCount: Int)
    /// Periodic in some directions only.
    case mixed
}

/// The atoms one domain (MPI rank) sees: owned atoms 0..<localCount, then ghosts.
public struct AtomsView {
    public var localCount: Int
    public var totalCount: Int
    /// [totalCount][3]
    public var positions: UnsafePointer<Double>
    /// [totalCount] element index of the model, or -1 for atoms the model does not handle.
    public var species: UnsafePointer<Int32>
    public var neighbors: NeighborListView
    public var boundary: Boundary

    public init(localCount: Int, totalCount: Int, positions: UnsafePointer<Double>, species: UnsafePointer<Int32>,
                neighbors: NeighborListView, boundary: Boundary) {
        self.localCount = localCount
        self.totalCount = totalCount
        self.positions = positions
        self.species = species
        self.neighbors = neighbors
        self.boundary = boundary
    }
}

/// Collective operations of a domain-decomposed host (an MPI rank in LAMMPS).
public protocol DomainCommunicator {
    /// Copy rows of `width` doubles from owned atoms to their ghost copies.
    func forwardExchange(_ rows: UnsafeMutablePointer<Double>, width: Int)
    /// Add the rows of ghost atoms into their owners' rows.
    func reverseExchange(_ rows: UnsafeMutablePointer<Double>, width: Int)
    /// Sum `count` values over all ranks, in place.
    func sumOverRanks(_ values: UnsafeMutablePointer<Double>, count: Int)
    /// `forwardExchange` of Float rows (precision single), if this domain moves them as they
    /// are; false if it carries only Double rows, and the caller stages them through Double.
    func forwardExchange(floats rows: UnsafeMutablePointer<Float>, width: Int) -> Bool
    /// `reverseExchange` of Float rows, as `forwardExchange(floats:width:)`.
    func reverseExchange(floats rows: UnsafeMutablePointer<Float>, width: Int) -> Bool
}

extension DomainCommunicator {
    /// Hosts carry Double rows (the C ABI's exchanges, MPI buffers of LAMMPS).
    public func forwardExchange(floats rows: UnsafeMutablePointer<Float>, width: Int) -> Bool { false }
    public func reverseExchange(floats rows: UnsafeMutablePointer<Float>, width: Int) -> Bool { false }
}

/// Where results go. Forces and per-atom virials are added (ghost rows included: the host
/// folds them into their owners); per-atom energies are overwritten.
public struct EvaluationTargets {
    /// [totalCount][3]
    public var forces: UnsafeMutablePointer<Double>
    /// [localCount] or nil
    public var atomEnergies: UnsafeMutablePointer<Double>?
    /// [totalCount][6] in LAMMPS order xx yy zz xy xz yz, or nil
    public var atomVirials: UnsafeMutablePointer<Double>?

    public init(forces: UnsafeMutablePointer<Double>, atomEnergies: UnsafeMutablePointer<Double>? = nil,
                atomVirials: UnsafeMutablePointer<Double>? = nil) {
        self.forces = forces
        self.atomEnergies = atomEnergies
        self.atomVirials = atomVirials
    }
}

/// This domain's share of the energy and virial (sum over ranks for the total).
public struct EvaluationSummary: Sendable {
    public var energy: Double = 0
    /// W = -dE/d(strain), LAMMPS order xx yy zz xy xz yz.
    public var virial: [Double] = [0, 0, 0, 0, 0, 0]
    /// Part of the energy from the long-range term.
    public var longRangeEnergy: Double = 0
}
