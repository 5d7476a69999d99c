/// One message-passing layer t (spec §5). Absent message types are nil.
struct MessagePassingLayer: Sendable {
    /// NodeMemory coefficients mu[l][m][c].
    let memory: [Double]?
    /// MessageAr prefactors P[l][m][c] and inverse lengths Lambda[l][m][c].
    let arPrefactor: [Double]?
    let arInverseLength: [Double]?
    let bchi: Bchi?

    struct Bchi: Sendable {
        let network: DenseNetwork<Double>
        /// Output reshaped to [nl][nc]; nl = 1 or L+1, nc = 1 or C.
        let degreeCount: Int
        let channelCount: Int
        /// lMatrix[l][k] when nl > 1 (not shared over l).
        let lMatrix: [Double]?

        /// One weight per sender for all (k, c): the default, shared over degrees and channels.
        var isScalar: Bool { degreeCount == 1 && channelCount == 1 }
    }
}

/// An Atomwise read-out head: eps_i = outnet(x_i) (+ linear(x_i)).
struct ReadoutHead: Sendable {
    let network: DenseNetwork<Double>
    let linear: DenseLayer<Double>?
    let outputKey: String
    let perAtomKey: String?
}

/// The latent-charge Ewald term (model-format §4.7).
struct EwaldSettings: Sendable {
    let dl: Double
    let sigma: Double
    let kSquaredMax: Double
    let normFactor: Double
    let removeSelfInteraction: Bool
}

/// A CACE potential loaded from the interchange model file. Immutable and shareable
/// between threads; evaluation state lives in the evaluators.
public struct CACEModel: Sendable {
    /// Atomic numbers; their order defines the element index.
    public let atomicNumbers: [Int]
    /// Neighbour cutoff r_c in Angstrom.
    public let cutoff: Double
    public let embeddingSize: Int          // c0
    public let channelCount: Int           // C = c0^2
    public let maxL: Int
    public let maxNu: Int
    public let radialFunctionCount: Int    // n_r
    public let radialBasisCount: Int       // M
    public let invariantCount: Int         // Q
    public let featureCount: Int           // F = M Q C (T+1)
    public let parameterCount: Int
    public let directedEdges: Bool
    public let embedReceiver: Bool
    let radialBasis: RadialBasis
    let cutoffFunction: CutoffFunction
    let angular: AngularBasis
    /// chi[zs][zr][c]: edge channel weights for a (sender, receiver) element pair.
    let edgeChannels: [Double]
    /// Radial transform W[l][n][m][c].
    let radialTransform: [Double]
    let symmetrizer: Symmetrizer<Double>
    /// False: the invariants are the canonical ones, sums over pairwise distinct edges
    /// (model-format §9, `symmetrizer.self_interaction`); true: upstream's.
    public let selfInteraction: Bool
    /// The file's format_version (1, or 2 when it uses a version-2 field).
    public let formatVersion: Int
    /// Linear read-outs drawn from the posterior of a Bayesian fit (format version 2), or nil.
    public let committee: Committee?
    let layers: [MessagePassingLayer]
    let messageNorm: Double
    let heads: [ReadoutHead]
    /// Weight of each head's sum in the potential energy (from feature_add).
    let headEnergyWeight: [Double]
    let ewald: EwaldSettings?
    let ewaldEnergyWeight: Double
    /// Head whose per-atom output is the latent charge used by the Ewald term.
    let chargeHead: Int?
    /// Per-element reference energies to add, or nil.
    public let atomicEnergies: [Double]?
    public let energyKey: String
    public let source: String

    public var elementCount: Int { atomicNumbers.count }
    public var messagePassingCount: Int { layers.count }
    public var hasLongRange: Bool { ewald != nil }
    var angularCount: Int { angular.count }
    /// Scratch scalars per head for its network's pre-activations.
    var readoutScratchStride: Int { heads.map(\.network.scratchCount).max() ?? 0 }
    /// Doubles per atom in one A feature array (M K C): what ranks exchange per layer.
    public var exchangeWidth: Int { layers.isEmpty ? 0 : radialBasisCount * angular.count * channelCount }

    /// Element index of an atomic number, or nil.
    public func elementIndex(atomicNumber: Int) -> Int? { atomicNumbers.firstIndex(of: atomicNumber) }

    /// Element index of a chemical symbol, or nil.
    public func elementIndex(symbol: String) -> Int? {
        guard let z = Elements.atomicNumber(of: symbol) else { return nil }
        return elementIndex(atomicNumber: z)
    }

    public var elementSymbols: [String] { atomicNumbers.map { Elements.symbol(of: $0) ?? "Z\($0)" } }
}
