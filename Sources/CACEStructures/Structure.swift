import CACE
import CACEFFTW

/// One atomic configuration: what an extended-XYZ frame holds.
public struct Structure: Sendable {
    public var atomicNumbers: [Int]
    /// [N][3] Cartesian positions, Angstrom, flattened.
    public var positions: [Double]
    /// Rows a, b, c of the cell (9 numbers), or nil for no cell.
    public var cell: [Double]?
    public var pbc: (Bool, Bool, Bool)
    /// Reference energy, forces, virial and config_type of an extended-XYZ frame, if it has them.
    public var labels = StructureLabels()

    public var count: Int { atomicNumbers.count }

    public init(atomicNumbers: [Int], positions: [Double], cell: [Double]?, pbc: (Bool, Bool, Bool)) {
        self.atomicNumbers = atomicNumbers
        self.positions = positions
        self.cell = cell
        self.pbc = pbc
    }

    public var isPeriodic: Bool { pbc.0 || pbc.1 || pbc.2 }
    public var isFullyPeriodic: Bool { pbc.0 && pbc.1 && pbc.2 }

    /// Volume |a . (b x c)| of the cell (positive for left-handed cells too), or nil without a cell.
    public var volume: Double? {
        guard let h = cell else { return nil }
        return abs(h[0] * (h[4] * h[8] - h[5] * h[7]) - h[1] * (h[3] * h[8] - h[5] * h[6]) + h[2] * (h[3] * h[7] - h[4] * h[6]))
    }
}

/// Energy, forces and virial of one structure.
public struct StructureResult: Sendable {
    public var energy: Double
    public var atomEnergies: [Double]
    /// [N][3]
    public var forces: [Double]
    /// 3x3 row-major, W = -dE/d(strain), eV.
    public var virial: [Double]
    /// sigma = -W / V (eV/Angstrom^3, ASE sign), nil without a periodic cell.
    public var stress: [Double]?
    /// Long-range part of the energy.
    public var longRangeEnergy: Double
}

/// A structure's result with the per-atom virials, when asked for.
public struct StructureEvaluation: Sendable {
    public var result: StructureResult
    /// [N][6] per-atom virials W_i in LAMMPS order xx yy zz xy xz yz (eV), the rows of periodic
    /// images folded onto the atoms they image: they sum to the virial. Nil unless asked for.
    public var atomVirials: [Double]?
}

extension Evaluator {
    /// Evaluates a whole structure: builds periodic images and the neighbour list, runs the
    /// model as a single domain, and folds image forces back onto the atoms.
    public func evaluate(_ structure: Structure) throws(CACEError) -> StructureResult {
        try evaluate(structure, atomVirials: false).result
    }

    /// `evaluate(_:)`, and with `atomVirials` also the per-atom virials (ASE's per-atom stresses).
    public func evaluate(_ structure: Structure, atomVirials: Bool) throws(CACEError) -> StructureEvaluation {
        let n = structure.count
        let (domain, boundary) = try domain(for: structure)
        let total = domain.totalCount
        // One domain: the particle-mesh method runs on the serial FFT.
        if meshTransforms == nil { meshTransforms = SerialMeshTransforms() }
        var forces = [Double](repeating: 0, count: 3 * total)
        var virials = [Double](repeating: 0, count: atomVirials ? 6 * total : 0)
        var atomEnergies = [Double](repeating: 0, count: n)
        let summary = try forces.withUnsafeMutableBufferPointer { (f) throws(CACEError) -> EvaluationSummary in
            try virials.withUnsafeMutableBufferPointer { (v) throws(CACEError) -> EvaluationSummary in
                try atomEnergies.withUnsafeMutableBufferPointer { (e) throws(CACEError) -> EvaluationSummary in
                    try domain.withAtomsView(boundary: boundary) { (atoms) throws(CACEError) -> EvaluationSummary in
                        try evaluate(atoms, into: EvaluationTargets(forces: f.baseAddress.unsafelyUnwrapped,
                                                                    atomEnergies: e.baseAddress,
                                                                    atomVirials: atomVirials ? v.baseAddress : nil),
                                     communicator: domain)
                    }
                }
            }
        }
        domain.foldGhostRows(&forces, width: 3)
        for k in 0..<(3 * n) where !forces[k].isFinite {
            throw .geometry("the force on atom \(k / 3) is not finite (\(forces[k])): check the model's weights")
        }
        if atomVirials {
            domain.foldGhostRows(&virials, width: 6)
            for k in 0..<(6 * n) where !virials[k].isFinite {
                throw .geometry("the virial of atom \(k / 6) is not finite (\(virials[k])): check the model's weights")
            }
        }
        let w = summary.virial
        let virial = [w[0], w[3], w[4], w[3], w[1], w[5], w[4], w[5], w[2]]
        var stress: [Double]? = nil
        if structure.isFullyPeriodic, let volume = structure.volume, volume != 0 {
            stress = virial.map { -$0 / volume }
        }
        let result = StructureResult(energy: summary.energy, atomEnergies: atomEnergies, forces: Array(forces[0..<(3 * n)]),
                                     virial: virial, stress: stress, longRangeEnergy: summary.longRangeEnergy)
        return StructureEvaluation(result: result, atomVirials: atomVirials ? Array(virials[0..<(6 * n)]) : nil)
    }
}

extension Evaluator {
    /// The structure's atoms and periodic images as one domain, and its boundary.
    func domain(for structure: Structure) throws(CACEError) -> (ReplicatedDomain, Boundary) {
        let n = structure.count
        guard n > 0 else { throw .structure("the structure has no atoms") }
        var species = [Int32](repeating: 0, count: n)
        for (i, z) in structure.atomicNumbers.enumerated() {
            guard let index = model.elementIndex(atomicNumber: z) else {
                let name = Elements.symbol(of: z) ?? "Z=\(z)"
                throw .argument("element \(name) (atom \(i)) is not in the model (elements: \(model.elementSymbols.joined(separator: " ")))")
            }
            species[i] = Int32(index)
        }
        let domain = try ReplicatedDomain(structure: structure, species: species, cutoff: model.cutoff)
        if structure.isFullyPeriodic, let cell = domain.cell { return (domain, .periodic(cell: cell)) }
        if !structure.isPeriodic { return (domain, .open(tags: nil, atomCount: n)) }
        return (domain, .mixed)
    }

    /// Descriptors of every atom of a structure (`descriptors(_:derivatives:communicator:)`);
    /// an edge's sender is the atom whose periodic image it is, and its vector says which image.
    public func descriptors(_ structure: Structure, derivatives: Bool) throws(CACEError) -> Descriptors {
        let (domain, boundary) = try domain(for: structure)
        var result = try domain.withAtomsView(boundary: boundary) { (atoms) throws(CACEError) -> Descriptors in
            try descriptors(atoms, derivatives: derivatives, communicator: domain)
        }
        result.edgeSenders = result.edgeSenders.map { domain.owner(of: $0) }
        return result
    }

    /// Directed edges within the cutoff per atom of a structure (images included).
    public func averageEdgesPerAtom(_ structure: Structure) throws(CACEError) -> Double {
        let species = [Int32](repeating: 0, count: structure.count)
        let domain = try ReplicatedDomain(structure: structure, species: species, cutoff: model.cutoff)
        return Double(domain.neighborCount) / Double(max(1, structure.count))
    }
}
