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
///
/// Invariants that are a whole ν = 2 or ν = 3 group of upstream's construction (including the
/// l = 0 groups of `cace fit`'s extended table) skip the power sums: the multinomial identities
/// of canonical-cace.md §3.3 reduce their corrections to per-edge products of Φ_l, s_e = |u_e|²
/// and Π_l(e) = Σ_{|v|=l} mult(v) u_e^v A_v (§5.1, §5.2). They are listed in `closedForms`.
struct CanonicalTable: Sendable {
    /// A group evaluated in closed form: ν = 2 with degree (l, l), or ν = 3 with degrees
    /// (l1, l2, l1 + l2); slots index `degrees`, `pi` indexes `piDegrees`.
    struct ClosedForm: Sendable {
        let feature: Int
        let degrees: [Int]      // l of each position
        let slots: [Int]        // Φ slot of each position
        let pi: [Int]           // ν = 3: the Π rows of degrees l1 + l2, l2, l1
    }
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
    let closedForms: [ClosedForm]
    /// Degrees l of the Π_l(e) rows the closed forms use.
    let piDegrees: [Int]

    init(symmetrizer: Symmetrizer<Double>, angular: AngularBasis) {
        let nk = angular.count
        var slotOfDegree: [Int: Int] = [:], degrees: [Int] = []
        var productIndex: [[Int]: Int] = [:], products: [[Int]] = []
        var signatureIndex: [[Int]: Int] = [:], signatures: [(product: Int, exponent: (Int, Int, Int))] = []
        var correctionIndex: [[Int]: Int] = [:], merged: [(key: [Int], coefficient: Double)] = []
        var maxDegree = 0
        var closedForms: [ClosedForm] = [], piDegrees: [Int] = []
        func slot(_ l: Int) -> Int {
            if slotOfDegree[l] == nil { slotOfDegree[l] = degrees.count; degrees.append(l) }
            return slotOfDegree[l]!
        }
        func piRow(_ l: Int) -> Int {
            if let r = piDegrees.firstIndex(of: l) { return r }
            piDegrees.append(l)
            return piDegrees.count - 1
        }

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
            if let ds = Self.closedFormDegrees(of: q, symmetrizer, angular) {
                let pi = ds.count == 3 ? [piRow(ds[2]), piRow(ds[1]), piRow(ds[0])] : []
                closedForms.append(ClosedForm(feature: q, degrees: ds, slots: ds.map(slot), pi: pi))
                maxDegree = max(maxDegree, ds.max() ?? 0)
                continue
            }
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
        // Π_l needs the monomials of every degree up to L.
        self.maxDegree = closedForms.isEmpty ? maxDegree : max(maxDegree, angular.maxL)
        self.closedForms = closedForms
        self.piDegrees = piDegrees
        corrections = merged.filter { $0.coefficient != 0 }.map {
            Correction(feature: $0.key[0], coefficient: $0.coefficient, rows: Array($0.key.dropFirst()))
        }
    }
}

extension CanonicalTable {
    /// The degrees of the positions if invariant q is exactly a ν = 2 group Σ_{|v|=l} mult(v) A_v A_v
    /// or a ν = 3 group Σ_{|v1|=l1,|v2|=l2} mult(v1) mult(v2) A_v1 A_v2 A_{v1+v2} (every ordered
    /// pair, as upstream counts them), else nil. Terms are compared as multisets of sorted
    /// factor indices with summed prefactors, so factor and term order do not matter.
    static func closedFormDegrees(of q: Int, _ sym: Symmetrizer<Double>, _ angular: AngularBasis) -> [Int]? {
        let terms = sym.termStart[q]..<sym.termStart[q + 1]
        guard let first = terms.first else { return nil }
        let nu = sym.order[first]
        guard nu == 2 || nu == 3, terms.allSatisfy({ sym.order[$0] == nu }) else { return nil }
        var kOf: [[Int]: Int] = [:]
        for (k, e) in angular.exponents.enumerated() { kOf[[e.0, e.1, e.2]] = k }
        func ofDegree(_ l: Int) -> [[Int]] { angular.exponents.filter { $0.0 + $0.1 + $0.2 == l }.map { [$0.0, $0.1, $0.2] } }
        func mult(_ v: [Int]) -> Double {
            func f(_ n: Int) -> Double { n <= 1 ? 1 : Double(n) * f(n - 1) }
            return f(v[0] + v[1] + v[2]) / (f(v[0]) * f(v[1]) * f(v[2]))
        }
        var table: [[Int]: Double] = [:]
        for t in terms {
            let (k0, k1, k2, _) = sym.factors[t]
            table[Array([k0, k1, k2].prefix(nu)).sorted(), default: 0] += sym.prefactor[t]
        }
        let (k0, k1, k2, _) = sym.factors[first]
        let ds = [k0, k1, k2].prefix(nu).map { angular.degree[$0] }.sorted()
        var expected: [[Int]: Double] = [:]
        if nu == 2 {
            guard ds[0] == ds[1] else { return nil }
            for v in ofDegree(ds[0]) { expected[[kOf[v]!, kOf[v]!], default: 0] += mult(v) }
        } else {
            guard ds[2] == ds[0] + ds[1], ds[2] <= angular.maxL else { return nil }
            for v1 in ofDegree(ds[0]) {
                for v2 in ofDegree(ds[1]) {
                    guard let k = kOf[[v1[0] + v2[0], v1[1] + v2[1], v1[2] + v2[2]]] else { return nil }
                    expected[[kOf[v1]!, kOf[v2]!, k].sorted(), default: 0] += mult(v1) * mult(v2)
                }
            }
        }
        guard expected.count == table.count else { return nil }
        for (key, p) in expected {
            guard let found = table[key], abs(found - p) <= 1e-12 * abs(p) else { return nil }
        }
        return ds
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
