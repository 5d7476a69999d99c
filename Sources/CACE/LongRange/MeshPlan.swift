/// How the periodic long-range term is evaluated (docs/long-range.md).
public enum LongRangeMethod: String, Sendable, CaseIterable {
    /// The direct sum while atoms x k-vectors is below `LongRangePlan.autoThreshold`, else the mesh.
    case auto
    /// Upstream's sum over k-vectors (bit-compatible with it when not pinned).
    case direct
    /// Smooth particle-mesh Ewald over the same k-set.
    case mesh
}

/// What the long-range term of one periodic cell needs: the k-set and the method, and for the
/// mesh its size and B-spline order. Chosen from a cell (each evaluation's own, or the cell the
/// term was pinned at).
public struct LongRangePlan: Sendable {
    /// `.direct` or `.mesh`: what was chosen.
    public let method: LongRangeMethod
    /// N_a: integer vectors with |n_a| <= N_a are candidates.
    public var kmax: [Int] { kSet.nMax }
    /// Kept k-vectors (half of k-space).
    public var kvectorCount: Int { kSet.count }
    /// Mesh points along a, b, c (mesh only, else [0, 0, 0]).
    public let mesh: [Int]
    /// B-spline order (mesh only, else 0).
    public let order: Int
    /// The relative RMS force error the mesh was sized for (mesh only, else 0).
    public let accuracy: Double
    /// Total atoms the choice was made for.
    public let atomCount: Int
    /// Why this method: "requested", or auto's comparison with its threshold.
    public let reason: String
    let kSet: KSet

    /// auto: the direct sum while atoms x kept k-vectors is at most this. Water (dl = 2 A): 192
    /// atoms x 500 k-vectors = 1e5 (direct, as every reference structure); 1536 atoms x 4120 =
    /// 6.3e6 (mesh). The measured crossover of the two methods' cost is in docs/long-range.md.
    public static let autoThreshold = 1_000_000.0

    /// The default and the range of the requested mesh accuracy. 1e-7 keeps the energy within
    /// 1e-8 of the direct sum on the 192-atom reference frames (1e-6 gave 4-6e-8) for about 20 %
    /// more mesh work (docs/long-range.md).
    public static let defaultAccuracy = 1e-7
    public static let accuracyRange = 1e-12...1e-2

    /// The most mesh points: a brick, two spectra and one brick per extra thread of this size,
    /// about 48 bytes per point (6.4 GB at the limit).
    public static let maximumMeshPoints = 134_217_728

    /// One line for logs: "long range: mesh 48x48x48, order 6, accuracy 1e-05 (auto: ...)".
    public var summary: String {
        switch method {
        case .mesh:
            return "long range: mesh \(mesh.map(String.init).joined(separator: "x")), order \(order), "
                + "accuracy \(accuracy) (\(reason))"
        default:
            return "long range: direct sum over \(kvectorCount) k-vectors (\(reason))"
        }
    }

    /// Chooses the method and, for the mesh, its size and order, for this cell and atom count.
    static func choose(cell: [Double], atomCount: Int, settings: EwaldSettings, method requested: LongRangeMethod,
                       accuracy: Double) throws(CACEError) -> LongRangePlan {
        if requested == .direct {
            // Upstream's check before any k-vector is built (a huge box is refused at once).
            try ReciprocalSum.checkedEstimate(cell: cell, settings: settings)
        }
        let kSet = try KSet(cell: cell, settings: settings)
        let cost = Double(atomCount) * Double(kSet.count)
        var method = requested, reason = "requested"
        if requested == .auto {
            let comparison = cost > autoThreshold ? ">" : "<="
            method = cost > autoThreshold ? .mesh : .direct
            reason = "auto: \(atomCount) atoms x \(kSet.count) k-vectors \(comparison) \(Int(autoThreshold))"
        }
        guard method == .mesh else {
            return LongRangePlan(method: .direct, mesh: [0, 0, 0], order: 0, accuracy: 0, atomCount: atomCount,
                                 reason: reason, kSet: kSet)
        }
        let (mesh, order) = try MeshSize.choose(largest: kSet.largest, atomCount: atomCount, accuracy: accuracy,
                                                kvectorCount: kSet.count)
        return LongRangePlan(method: .mesh, mesh: mesh, order: order, accuracy: accuracy, atomCount: atomCount,
                             reason: reason, kSet: kSet)
    }
}

/// The mesh size and B-spline order for a requested accuracy.
enum MeshSize {
    /// Relative RMS force error of the mesh against the direct sum of the same k-set, modelled as
    /// A_p q^p with q = max_a n_a / (K_a - n_a) (n_a: the largest kept |n_a|): the aliasing of
    /// the highest kept mode by its first image. A_p is calibrated on water_trained
    /// (docs/long-range.md, MeshEwaldTests.testAccuracyTable) with a safety factor.
    static func estimatedError(order p: Int, ratio q: Double) -> Double {
        prefactor(p) * pow(q, Double(p))
    }

    /// A_p: the largest measured error / q^p over the calibration table (ratios K/(2N+1) of 1 to 3,
    /// 192 and 1536 atoms), rounded up. Order 4 is left out: its error grows faster than the model's.
    static func prefactor(_ p: Int) -> Double {
        switch p {
        case ...5: return 0.3
        case 6: return 0.25
        case 7: return 0.2
        case 8: return 0.15
        default: return 0.1
        }
    }

    static let candidateOrders = [5, 6, 7, 8, 10, 12]

    /// The cheapest (mesh, order) whose estimated error is at most `accuracy`, by `cost`.
    static func choose(largest: [Int], atomCount: Int, accuracy: Double, kvectorCount: Int = 0) throws(CACEError) -> ([Int], Int) {
        var best: (mesh: [Int], order: Int, cost: Double)? = nil
        for p in candidateOrders {
            // q with A_p q^p = accuracy, then K_a = n_a (1 + 1/q), at least 2 n_a + 1 and p.
            let q = min(1, pow(accuracy / prefactor(p), 1 / Double(p)))
            let mesh = largest.map { n in smoothSize(max(Int((Double(n) * (1 + 1 / q)).rounded(.up)), 2 * n + 1, p)) }
            let cost = cost(atomCount: atomCount, order: p, mesh: mesh)
            if best == nil || cost < best.unsafelyUnwrapped.cost { best = (mesh, p, cost) }
        }
        guard let best else { throw .argument("no mesh order available") }
        let points = best.mesh.reduce(1.0) { $0 * Double($1) }
        guard points <= Double(LongRangePlan.maximumMeshPoints) else {
            throw .geometry("the long-range term of this cell has \(kvectorCount) k-vectors: the particle-mesh method "
                + "would need a mesh of \(best.mesh.map(String.init).joined(separator: "x")) points (more than "
                + "\(LongRangePlan.maximumMeshPoints), about 6 GB) for accuracy \(accuracy): "
                + "use a smaller box or a larger mesh accuracy")
        }
        return (best.mesh, best.order)
    }

    /// Relative time of one evaluation: the stencil loops run one vector operation per row of
    /// 4 lanes (p^2 rows of ceil(p/4) vectors per atom), the transforms K^3 log2 K^3. The factor
    /// 2.7 between them is measured (perf on 12,288 water atoms, mesh 90^3, p = 12: the stencil
    /// loops and the transforms with their copies took 2.7 % and 2.6 % of the run).
    static func cost(atomCount: Int, order p: Int, mesh: [Int]) -> Double {
        let points = mesh.reduce(1.0) { $0 * Double($1) }
        return 2.7 * Double(atomCount * p * p * ((p + 3) / 4)) + points * log2(max(points, 2))
    }

    /// The smallest n' >= n whose only prime factors are 2, 3 and 5 (fast FFT sizes).
    static func smoothSize(_ n: Int) -> Int {
        var candidate = max(n, 1)
        while true {
            var m = candidate
            for f in [2, 3, 5] { while m % f == 0 { m /= f } }
            if m == 1 { return candidate }
            candidate += 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
