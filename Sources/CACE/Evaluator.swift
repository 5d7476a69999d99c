/// Computes energies, forces and virials of a CACE model for the atoms of one domain.
///
/// Models without message passing are evaluated atom by atom: the features of one atom
/// live only while that atom is processed. Models with message passing keep per-atom
/// features of every layer and exchange those of ghost atoms through the communicator
/// between layers (spec §12), so any domain decomposition gives the serial answer.
///
/// An evaluator reuses its buffers between calls; it is not thread-safe.
public final class Evaluator {
    public let model: CACEModel
    /// Add the model's per-element reference energies (E0s) to the energies.
    public var includeAtomicEnergies = false
    /// Worker threads for the atom loop (1 = the calling thread only).
    public var threadCount = 1
    /// Precision of the feature arithmetic and of the periodic Ewald sum's per-(atom, k) terms
    /// (geometry, forces and sums stay double).
    /// `.single` needs a model without message passing.
    public var precision = Precision.double
    /// Record the time of each stage in `lastStageTimes` (small overhead per atom).
    public var measuresStages = false
    public internal(set) var lastStageTimes = StageTimes()
    /// Called with (atom, read-out features) for every evaluated owned atom; the features
    /// are upstream's node_feats flattened as ((m Q + q) C + c)(T+1) + t. For tests; with
    /// several threads it is called concurrently.
    public var featureObserver: ((Int, UnsafeBufferPointer<Double>) -> Void)?

    /// Runs models without message passing through the layered path too (tests compare the two).
    var usesLayeredPath = false

    let scratch = EvaluatorScratch()
    let kernels: FeatureKernels<Double>
    private(set) lazy var singleKernels = FeatureKernels<Float>(model)
    /// Kernels in upstream's layouts for the layered path (those of `kernels` unless the model
    /// has no message passing and `usesLayeredPath` is set).
    private(set) lazy var layeredKernels = kernels.invariantMajor ? FeatureKernels(model, invariantMajor: false) : kernels

    public init(model: CACEModel) {
        self.model = model
        kernels = FeatureKernels(model)
    }

    /// Evaluates the owned atoms of `atoms`; see `EvaluationTargets` for what is written.
    public func evaluate(_ atoms: AtomsView, into targets: EvaluationTargets,
                         communicator: any DomainCommunicator) throws(CACEError) -> EvaluationSummary {
        try validate(atoms)
        if precision == .single, !model.layers.isEmpty {
            throw .argument(Evaluator.singlePrecisionUnavailable(model))
        }
        var summary: EvaluationSummary
        if model.layers.isEmpty && !usesLayeredPath {
            summary = try evaluateAtomByAtom(atoms, into: targets, communicator: communicator)
        } else {
            summary = try evaluateWithMessagePassing(atoms, into: targets, communicator: communicator)
        }
        if includeAtomicEnergies, let e0 = model.atomicEnergies {
            let list = atoms.neighbors
            for ii in 0..<list.count {
                let i = Int(list.atoms[ii])
                let z = Int(atoms.species[i])
                guard z >= 0 else { continue }
                summary.energy += e0[z]
                targets.atomEnergies?[i] += e0[z]
            }
        }
        try checkFinite(summary)
        return summary
    }

    /// A non-finite energy or virial is an error, never a result (an overflowing E0, weights
    /// that blow up). Forces are checked by the host, which alone knows the atoms' IDs and
    /// what else it added to its force array (`Structure` evaluation, the LAMMPS shim).
    private func checkFinite(_ summary: EvaluationSummary) throws(CACEError) {
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

    static func tooManyNeighbors(edges: Int, atoms: Int, cutoff: Double) -> CACEError {
        .geometry("\(edges) neighbour pairs within the cutoff (\(cutoff) A) for \(atoms) atoms, more than "
            + "\(maximumNeighborsPerAtom) per atom: the cell is far smaller than the cutoff or atoms overlap "
            + "(are the coordinates in Angstrom?)")
    }

    /// Why `precision = .single` cannot evaluate `model`.
    public static func singlePrecisionUnavailable(_ model: CACEModel) -> String {
        "precision single is available for models without message passing; this model has "
            + "\(model.layers.count) message-passing layer(s): use precision double"
    }

    /// Checks every index the host passed, so that no loop below can read out of bounds.
    private func validate(_ atoms: AtomsView) throws(CACEError) {
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

    /// Seeds dE/d(head output) of one atom.
    func headSeeds<T: FeatureScalar>(_ seeds: UnsafeMutablePointer<T>, chargeBar: Double) {
        for h in 0..<model.heads.count {
            seeds[h] = T(model.headEnergyWeight[h] + (h == model.chargeHead ? chargeBar : 0))
        }
    }

    /// Potential energy of one atom (without E0 and long range) from its head outputs.
    func shortRangeEnergy<T: FeatureScalar>(_ outputs: UnsafePointer<T>) -> Double {
        var e = 0.0
        for h in 0..<model.heads.count { e += model.headEnergyWeight[h] * Double(outputs[h]) }
        return e
    }

    var ewaldTerm: EwaldTerm? {
        model.ewald.map { EwaldTerm(settings: $0, scale: $0.normFactor * model.ewaldEnergyWeight, threads: threadCount,
                                    precision: precision) }
    }
}

/// The buffers one worker thread of the atom-by-atom path reuses.
final class ThreadScratch: @unchecked Sendable {
    let atom = ScratchBuffer()        // per-atom geometry
    let features = ScratchBuffer()    // per-atom features, in the evaluation's precision
    let senders = IndexBuffer()
    let forces = ScratchBuffer()
    let virials = ScratchBuffer()
    let scatter = ScratchBuffer()     // per-worker sender adjoints (message passing)
}

/// The buffers an evaluator reuses.
final class EvaluatorScratch {
    private var threadScratch: [ThreadScratch] = []

    /// Scratch for `count` worker threads.
    func threads(_ count: Int) -> [ThreadScratch] {
        while threadScratch.count < count { threadScratch.append(ThreadScratch()) }
        return threadScratch
    }

    let edges = ScratchBuffer()       // per-edge arrays
    let edgeIndex = IndexBuffer()     // senders and receivers of edges
    let features = ScratchBuffer()    // per-atom feature arrays of every layer
    let adjoints = ScratchBuffer()    // their adjoints
    let perAtom = ScratchBuffer()     // head outputs, charges, their adjoints
    let decays = ScratchBuffer()      // MessageAr exponentials per edge
}

/// Accumulates the virial and per-atom virials of edge forces.
struct VirialTally {
    var w = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    /// Edge from sender j to receiver i with r = x_i - x_j and gradient g = dE/dr.
    @inline(__always)
    mutating func add(_ r: (Double, Double, Double), _ g: (Double, Double, Double), receiver i: Int, sender j: Int,
                      atomVirials: UnsafeMutablePointer<Double>?) {
        let xx = -r.0 * g.0, yy = -r.1 * g.1, zz = -r.2 * g.2
        let xy = -0.5 * (r.0 * g.1 + r.1 * g.0)
        let xz = -0.5 * (r.0 * g.2 + r.2 * g.0)
        let yz = -0.5 * (r.1 * g.2 + r.2 * g.1)
        w.0 += xx; w.1 += yy; w.2 += zz; w.3 += xy; w.4 += xz; w.5 += yz
        guard let v = atomVirials else { return }
        // Half of the edge's virial to each of its two atoms.
        let vi = v + 6 * i, vj = v + 6 * j
        vi[0] += 0.5 * xx; vi[1] += 0.5 * yy; vi[2] += 0.5 * zz; vi[3] += 0.5 * xy; vi[4] += 0.5 * xz; vi[5] += 0.5 * yz
        vj[0] += 0.5 * xx; vj[1] += 0.5 * yy; vj[2] += 0.5 * zz; vj[3] += 0.5 * xy; vj[4] += 0.5 * xz; vj[5] += 0.5 * yz
    }

    var components: [Double] { [w.0, w.1, w.2, w.3, w.4, w.5] }
}

@inline(__always)
func applyEdgeForce(_ g: (Double, Double, Double), receiver i: Int, sender j: Int, forces: UnsafeMutablePointer<Double>) {
    forces[3 * i] -= g.0; forces[3 * i + 1] -= g.1; forces[3 * i + 2] -= g.2
    forces[3 * j] += g.0; forces[3 * j + 1] += g.1; forces[3 * j + 2] += g.2
}
