/// The canonical (self-interaction-free) invariants of a symmetrizer table, as a list of
/// corrections to the self-interacting ones (canonical-cace.md §2–3, model-format §9).
///
/// A term p A_k1 ... A_kν sums over all ν-tuples of edges, repeats included. Its canonical form
/// keeps pairwise distinct edges only, which Möbius inversion on the set partitions π of the
/// positions {1..ν} writes with per-atom power sums P_b = Σ_e Π_{t∈b} φ_e[k_t]:
///
///     𝒜 = Σ_π μ(π) Π_{b∈π} P_b,     μ(π) = Π_b (−1)^{|b|−1} (|b|−1)!
///
/// (exact, no division, for any number of edges). The partition into singletons is the
/// self-interacting product, which the symmetrizer already computes; every other partition is a
/// correction listed here. Since φ_e[k] = R̃_e[l(k)] u_e^{v(k)} (χ inside R̃), a block's power sum
/// depends only on its *signature*: the degrees l_t of its factors, which fix the product of
/// per-edge mixed radial functions, and the summed exponent V = Σ v_t of u_e. Blocks with one
/// signature share one power sum, and equal corrections of one feature are merged.
struct CanonicalTable: Sendable {
    /// One correction: B[feature] += coefficient · Π rows. Row r < K is A_r, row K + s is the
    /// power sum of signature s.
    struct Correction: Sendable {
        let feature: Int
        let coefficient: Double
        let rows: [Int]
    }

    /// Degrees whose per-edge mixed radial functions the blocks need; slot s holds degrees[s].
    let degrees: [Int]
    /// Each distinct product of per-edge radial functions: the slots it multiplies (2 to 4).
    let products: [[Int]]
    /// Each power sum: its radial product and the exponent V of u_e.
    let signatures: [(product: Int, exponent: (Int, Int, Int))]
    /// The largest |V|: powers of u_e up to it are needed per edge.
    let maxDegree: Int
    let corrections: [Correction]

    init(symmetrizer: Symmetrizer<Double>, angular: AngularBasis) {
        let nk = angular.count
        var slotOfDegree: [Int: Int] = [:], degrees: [Int] = []
        var productIndex: [[Int]: Int] = [:], products: [[Int]] = []
        var signatureIndex: [[Int]: Int] = [:], signatures: [(product: Int, exponent: (Int, Int, Int))] = []
        var correctionIndex: [[Int]: Int] = [:], merged: [(key: [Int], coefficient: Double)] = []
        var maxDegree = 0

        func signature(of factors: [Int]) -> Int {
            var slots: [Int] = []
            var v = (0, 0, 0)
            for k in factors {
                let l = angular.degree[k]
                if slotOfDegree[l] == nil { slotOfDegree[l] = degrees.count; degrees.append(l) }
                slots.append(slotOfDegree[l]!)
                let e = angular.exponents[k]
                v = (v.0 + e.0, v.1 + e.1, v.2 + e.2)
            }
            slots.sort()
            if productIndex[slots] == nil { productIndex[slots] = products.count; products.append(slots) }
            let product = productIndex[slots]!
            let key = [product, v.0, v.1, v.2]
            if let s = signatureIndex[key] { return s }
            signatureIndex[key] = signatures.count
            signatures.append((product, v))
            maxDegree = max(maxDegree, v.0 + v.1 + v.2)
            return signatures.count - 1
        }

        for q in 0..<symmetrizer.featureCount {
            for t in symmetrizer.termStart[q]..<symmetrizer.termStart[q + 1] {
                let (k0, k1, k2, k3) = symmetrizer.factors[t]
                let factors = Array([k0, k1, k2, k3].prefix(symmetrizer.order[t]))
                for partition in SetPartitions.all(factors.count) where partition.count < factors.count {
                    var mu = 1.0
                    var rows: [Int] = []
                    for block in partition {
                        mu *= SetPartitions.mobiusFactor(blockSize: block.count)
                        rows.append(block.count == 1 ? factors[block[0]] : nk + signature(of: block.map { factors[$0] }))
                    }
                    let key = [q] + rows.sorted()
                    let c = symmetrizer.prefactor[t] * mu
                    if let index = correctionIndex[key] {
                        merged[index].coefficient += c
                    } else {
                        correctionIndex[key] = merged.count
                        merged.append((key, c))
                    }
                }
            }
        }
        self.degrees = degrees
        self.products = products
        self.signatures = signatures
        self.maxDegree = maxDegree
        corrections = merged.filter { $0.coefficient != 0 }.map {
            Correction(feature: $0.key[0], coefficient: $0.coefficient, rows: Array($0.key.dropFirst()))
        }
    }
}

/// The set partitions of {0, ..., n−1} (n ≤ 4 here: Bell numbers 1, 2, 5, 15) and the Möbius
/// function of the partition lattice, factor by factor.
enum SetPartitions {
    /// Every partition, as a list of blocks; each block lists its elements in increasing order.
    static func all(_ n: Int) -> [[[Int]]] {
        guard n > 0 else { return [[]] }
        var result: [[[Int]]] = [[[0]]]
        for element in 1..<n {
            var next: [[[Int]]] = []
            for partition in result {
                for b in partition.indices {
                    var joined = partition
                    joined[b].append(element)
                    next.append(joined)
                }
                next.append(partition + [[element]])
            }
            result = next
        }
        return result
    }

    /// (−1)^(m−1) (m−1)!: the factor a block of m elements contributes to μ(0̂, π).
    static func mobiusFactor(blockSize m: Int) -> Double {
        var f = 1.0
        if m > 2 { for i in 2..<m { f *= Double(i) } }
        return m % 2 == 0 ? -f : f
    }
}
