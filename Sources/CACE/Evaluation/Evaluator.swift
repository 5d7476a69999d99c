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
    /// With message passing, the per-atom features of the layers are stored in that precision
    /// too (exchanged between ranks as Double rows).
    public var precision = Precision.double
    /// Record the time of each stage in `lastStageTimes` (small overhead per atom).
    public var measuresStages = false
    public internal(set) var lastStageTimes = StageTimes()
    /// Bytes of the buffers this evaluator keeps between calls, by component (after the last call).
    public var scratchUsage: [(component: String, bytes: Int)] { scratch.usage }
    /// Called with (atom, read-out features) for every evaluated owned atom; the features
    /// are upstream's node_feats flattened as ((m Q + q) C + c)(T+1) + t. For tests; with
    /// several threads it is called concurrently.
    public var featureObserver: ((Int, UnsafeBufferPointer<Double>) -> Void)?

    /// Runs models without message passing through the layered path too (tests compare the two).
    var usesLayeredPath = false
    /// Atoms per block of the atom-by-atom path (Evaluator+AtomBlocks.swift); tests vary it.
    var atomBlockRowsSetting = 8

    /// The periodic long-range method and the mesh's accuracy (`setLongRange`), the plan pinned
    /// by `pinLongRange` (nil: each evaluation chooses from its own cell), and the plan of the last
    /// periodic evaluation (which method ran, and why). Evaluator+LongRange.swift.
    public internal(set) var longRangeMethod = LongRangeMethod.auto
    public internal(set) var meshAccuracy = LongRangePlan.defaultAccuracy
    public internal(set) var pinnedLongRange: LongRangePlan? = nil
    public internal(set) var lastLongRangePlan: LongRangePlan? = nil
    /// The FFT of the particle-mesh method: a serial one (CACEFFTW) or the host's distributed mesh.
    /// A mesh plan without one is an error.
    public var meshTransforms: (any MeshTransformProvider)? = nil
    let meshScratch = MeshScratch()

    let scratch = EvaluatorScratch()
    let kernels: FeatureKernels<Double>
    private(set) lazy var singleKernels = FeatureKernels<Float>(model)
    /// The kernels of the descriptor API's layer-0 features.
    var descriptorKernels: FeatureKernels<Double> { kernels }

    public init(model: CACEModel) {
        self.model = model
        kernels = FeatureKernels(model)
        BLAS.prepare()
    }

    /// Evaluates the owned atoms of `atoms`; see `EvaluationTargets` for what is written.
    public func evaluate(_ atoms: AtomsView, into targets: EvaluationTargets,
                         communicator: any DomainCommunicator) throws(CACEError) -> EvaluationSummary {
        try validate(atoms)
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
}
