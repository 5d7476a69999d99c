import CACE
import Foundation

/// The fixed representation of a linear CACE model (T = 0) and the model file that holds it
/// with fitted read-out weights (docs/fitting.md).
///
/// * Bessel radial functions w_n = (n+1) pi / r_c, prefactor sqrt(2 / r_c), polynomial cutoff p = 6.
/// * One-hot sender and receiver embeddings (K = number of elements, C = K^2, directed edges):
///   channel c = alpha K + beta holds only neighbours of element alpha around atoms of element
///   beta, so one weight vector acts as per-element coefficients.
/// * A fixed radial transform, the same for every degree and channel: `.identity` (g_m = R_m,
///   M = n) or `.pairSums` (g_m = R_a for a = b, R_a + R_b for a < b, M = n(n+1)/2). Every B
///   feature takes all its factors from one g_m, so with the identity a nu = 2 feature can only
///   express sum_m c_m R_m(r_ij) R_m(r_ik); the pair sums span all symmetric products
///   R_a(r_ij) R_b(r_ik) + R_b(r_ij) R_a(r_ik) (issue 16, "A limit to design around").
/// * The invariant table: upstream's (architecture.md §4), or `.extended`, which adds the
///   l = 0 contractions upstream leaves out: (A_0)^2 for nu = 2 and A_0 A_0 A_0, A_0 sum mult A_v A_v
///   for nu = 3. SW's three-body term (cos theta + 1/3)^2 needs the (A_0)^2 invariant.
/// * Read-out: one Atomwise head with a single identity layer [F -> 1] and a bias; the fitted
///   per-element reference energies go to `atomic_energies`.
public struct LinearCACESpec: Sendable {
    public enum RadialTransform: String, Sendable, CaseIterable { case identity, pairSums = "pairs" }
    public enum InvariantTable: String, Sendable, CaseIterable { case upstream, extended }

    /// One invariant (symmetrizer table entry): its terms, its body order and the degrees l_t of
    /// its factors (for the smoothness prior).
    public struct Invariant: Sendable {
        public var terms: [(indices: [Int], prefactor: Double)]
        public var nu: Int
        public var degrees: [Int]
    }

    public var atomicNumbers: [Int]
    public var cutoff: Double
    public var maxL: Int
    public var maxNu: Int
    public var radialCount: Int
    public var transform: RadialTransform
    public var table: InvariantTable
    /// False: the canonical invariants (sums over pairwise distinct edges), written as
    /// `symmetrizer.self_interaction: false` in a format-version-2 file (model-format §9).
    public var selfInteraction = true

    public init(atomicNumbers: [Int], cutoff: Double, maxL: Int = 2, maxNu: Int = 2, radialCount: Int = 8,
                transform: RadialTransform = .pairSums, table: InvariantTable = .extended) {
        self.atomicNumbers = atomicNumbers
        self.cutoff = cutoff
        self.maxL = maxL
        self.maxNu = maxNu
        self.radialCount = radialCount
        self.transform = transform
        self.table = table
    }

    /// Refuses settings the model format or the fit cannot take, with a one-line message.
    public func validate() throws(FitError) {
        guard !atomicNumbers.isEmpty else { throw .data("no elements: the training data has no atoms") }
        guard atomicNumbers.allSatisfy({ (1...118).contains($0) }), Set(atomicNumbers).count == atomicNumbers.count else {
            throw .argument("elements must be distinct atomic numbers 1-118, got \(atomicNumbers)")
        }
        guard atomicNumbers.count <= 16 else { throw .argument("at most 16 elements (one-hot channels grow as K^2), got \(atomicNumbers.count)") }
        guard cutoff.isFinite, cutoff > 0, cutoff < 100 else { throw .argument("--cutoff must be in (0, 100) Angstrom, got \(cutoff)") }
        guard (0...4).contains(maxL) else { throw .argument("--max-l must be 0-4, got \(maxL)") }
        guard (1...4).contains(maxNu) else { throw .argument("--max-nu must be 1-4, got \(maxNu)") }
        guard (1...64).contains(radialCount) else { throw .argument("--radial must be 1-64, got \(radialCount)") }
        guard featureCount <= 20000 else {
            throw .argument("\(featureCount) features is too many for a dense fit (reduce --radial, --max-l, --max-nu or use --transform identity)")
        }
    }

    public var elementCount: Int { atomicNumbers.count }
    public var channelCount: Int { elementCount * elementCount }
    public var mixedCount: Int { transform == .identity ? radialCount : radialCount * (radialCount + 1) / 2 }

    /// The raw radial functions (a, b) that mixed function m sums (a == b: R_a alone).
    public var mixedPairs: [(Int, Int)] {
        var pairs = (0..<radialCount).map { ($0, $0) }
        if transform == .pairSums {
            for a in 0..<radialCount { for b in (a + 1)..<max(a + 1, radialCount) { pairs.append((a, b)) } }
        }
        return pairs
    }

    /// The angular exponents in upstream order (architecture.md §3.7).
    public var exponents: [[Int]] {
        var list: [[Int]] = []
        for l in 0...maxL {
            for lx in stride(from: l, through: 0, by: -1) {
                for ly in stride(from: l - lx, through: 0, by: -1) { list.append([lx, ly, l - lx - ly]) }
            }
        }
        return list
    }

    /// The symmetrizer table (architecture.md §4, plus the l = 0 entries of `.extended`).
    public var invariants: [Invariant] {
        let exps = exponents
        var indexOf: [[Int]: Int] = [:]
        for (k, e) in exps.enumerated() { indexOf[e] = k }
        func mult(_ v: [Int]) -> Double {
            func f(_ n: Int) -> Double { n <= 1 ? 1 : Double(n) * f(n - 1) }
            return f(v[0] + v[1] + v[2]) / (f(v[0]) * f(v[1]) * f(v[2]))
        }
        func ofDegree(_ l: Int) -> [[Int]] { exps.filter { $0.reduce(0, +) == l } }
        func add(_ a: [Int], _ b: [Int]) -> [Int] { [a[0] + b[0], a[1] + b[1], a[2] + b[2]] }
        let lowest = table == .extended ? 0 : 1
        var list = [Invariant(terms: [([0], 1)], nu: 1, degrees: [0])]
        if maxNu >= 2 {
            for l in stride(from: lowest, through: maxL, by: 1) {
                list.append(Invariant(terms: ofDegree(l).map { ([indexOf[$0]!, indexOf[$0]!], mult($0)) }, nu: 2, degrees: [l, l]))
            }
        }
        if maxNu >= 3 {
            for l1 in stride(from: lowest, through: maxL, by: 1) {
                for l2 in stride(from: l1, through: maxL - l1, by: 1) {
                    var terms: [(indices: [Int], prefactor: Double)] = []
                    for v1 in ofDegree(l1) {
                        for v2 in ofDegree(l2) { terms.append(([indexOf[v1]!, indexOf[v2]!, indexOf[add(v1, v2)]!], mult(v1) * mult(v2))) }
                    }
                    list.append(Invariant(terms: terms, nu: 3, degrees: [l1, l2, l1 + l2]))
                }
            }
        }
        if maxNu >= 4 {
            for l1 in stride(from: 1, through: maxL, by: 1) {
                for l2 in stride(from: l1 + 1, through: maxL, by: 1) {
                    for delta in stride(from: 1, through: maxL - l2, by: 1) {
                        var terms: [(indices: [Int], prefactor: Double)] = []
                        for v1 in ofDegree(l1) {
                            for v2 in ofDegree(l2) {
                                for w in ofDegree(delta) {
                                    terms.append(([indexOf[v1]!, indexOf[v2]!, indexOf[add(v1, w)]!, indexOf[add(v2, w)]!],
                                                  mult(v1) * mult(v2) * mult(w)))
                                }
                            }
                        }
                        list.append(Invariant(terms: terms, nu: 4, degrees: [l1, l2, l1 + delta, l2 + delta]))
                    }
                }
            }
        }
        return list
    }

    /// F = M S C, the read-out width; feature f = (m S + s) C + c (model-format §4.6, T = 0).
    public var featureCount: Int { mixedCount * invariants.count * channelCount }

    /// The receiver element index of feature f (its channel's beta).
    public func receiverElement(ofFeature f: Int) -> Int { (f % channelCount) % elementCount }

    /// Features that are exact linear combinations of others over any data, left out of the fit
    /// (weight 0). Both concern the nu = 1 (two-body) features B_0:
    /// * with pair sums, B_0 of g_m = R_a + R_b is the sum of those of R_a and R_b;
    /// * channel (alpha, beta) and (beta, alpha), alpha != beta, give the same energy, forces and
    ///   virial (each unordered pair is counted once from each end), so only alpha < beta is kept.
    public func redundantFeatures() -> [Bool] {
        let s = invariants.count, c = channelCount, k = elementCount
        return (0..<featureCount).map { f in
            let m = f / (s * c), q = (f / c) % s, ch = f % c
            guard q == 0 else { return false }
            return (transform == .pairSums && m >= radialCount) || ch / k > ch % k
        }
    }

    /// ACEpotentials' algebraic smoothness prior (linear-fit.md §4.2) per feature:
    /// gamma = nu (n/w_n)^p + sum_t (l_t/w_l)^p, with n = the highest raw Bessel index + 1 in
    /// the mixed function. p = 0 gives gamma = 1 (plain ridge on normalised columns).
    public func smoothness(power p: Double, radialScale wn: Double = 1, angularScale wl: Double = 1.5) -> [Double] {
        let invs = invariants, pairs = mixedPairs
        var gamma = [Double](repeating: 1, count: featureCount)
        guard p > 0 else { return gamma }
        let s = invs.count, c = channelCount
        for m in 0..<mixedCount {
            let n = Double(max(pairs[m].0, pairs[m].1) + 1)
            for q in 0..<s {
                var g = Double(invs[q].nu) * pow(n / wn, p)
                for l in invs[q].degrees { g += pow(Double(l) / wl, p) }
                for ch in 0..<c { gamma[(m * s + q) * c + ch] = g }
            }
        }
        return gamma
    }

    /// The model file: the representation, the read-out weights w [F] and bias b, and the
    /// per-element reference energies (atomic number -> E0).
    /// - Parameter committee: members as all coefficients each (features, then E0 per element in
    ///   `atomicNumbers` order); written as the format-version-2 `committee` (model-format §9).
    public func modelFile(weights: [Double], bias: Double, atomicEnergies: [Int: Double], averageNeighbors: Double?,
                          source: String, fitInfo: JSONValue, committee: [[Double]] = []) throws(FitError) -> SafeTensorsWriter {
        try validate()
        let nz = elementCount, c = channelCount, nr = radialCount, nm = mixedCount
        let exps = exponents, invs = invariants, s = invs.count, f = featureCount
        guard weights.count == f else { throw .internal("\(weights.count) weights for \(f) features") }
        var out = SafeTensorsWriter()
        var identity = [Double](repeating: 0, count: nz * nz)
        for z in 0..<nz { identity[z * nz + z] = 1 }
        out.add("representation.node_embedding_sender.embedding_weights", [nz, nz], identity)
        out.add("representation.node_embedding_receiver.embedding_weights", [nz, nz], identity)
        var indexMap = [Double](repeating: -1, count: (atomicNumbers.max() ?? 0) + 1)
        for (i, z) in atomicNumbers.enumerated() { indexMap[z] = Double(i) }
        out.add("representation.node_onehot.index_map", [indexMap.count], indexMap)
        let prefactor = (2 / cutoff).squareRoot()
        out.add("representation.radial_basis.bessel_weights", [nr], (0..<nr).map { Double($0 + 1) * .pi / cutoff })
        out.add("representation.radial_basis.prefactor", [], [prefactor])
        out.add("representation.radial_basis.cutoff", [], [cutoff])
        out.add("representation.cutoff_fn.cutoff", [], [cutoff])
        out.add("representation.cutoff_fn.p", [], [6])
        var rt = [Double](repeating: 0, count: nr * nm * c)
        for (m, (a, b)) in mixedPairs.enumerated() {
            for ch in 0..<c {
                rt[(a * nm + m) * c + ch] = 1
                rt[(b * nm + m) * c + ch] = 1
            }
        }
        var groups: [[Int]] = []
        for l in 0...maxL { groups.append([l * (l + 1) * (l + 2) / 6, (l + 1) * (l + 2) * (l + 3) / 6]) }
        let rtNames = (0...maxL).map { "representation.radial_transform.weights.\($0)" }
        for name in rtNames { out.add(name, [nr, nm, c], rt) }
        out.add("representation.radial_transform.angular_dim_groups", [maxL + 1, 2], groups.flatMap { $0.map(Double.init) })
        out.add("output_modules.0.outnet.0.linear.weight", [1, f], weights)
        out.add("output_modules.0.outnet.0.linear.bias", [1], [bias])

        let tableJSON = JSONValue.array(invs.map { inv in
            .array(inv.terms.map { .array([.ints($0.indices), .number($0.prefactor)]) })
        })
        let layer: JSONValue = .object([
            ("weight", .string("output_modules.0.outnet.0.linear.weight")),
            ("bias", .string("output_modules.0.outnet.0.linear.bias")),
            ("in", .int(f)), ("out", .int(1)), ("activation", .string("identity"))])
        let head: JSONValue = .object([
            ("module_index", .int(0)), ("type", .string("Atomwise")), ("feature_key", .string("node_feats")),
            ("n_in", .int(f)), ("n_out", .int(1)), ("n_layers", .int(1)), ("n_hidden", .array([])),
            ("activation", .string("silu")), ("bias", .bool(true)), ("residual", .bool(false)),
            ("use_batchnorm", .bool(false)), ("add_linear_nn", .bool(false)), ("aggregation_mode", .string("sum")),
            ("output_key", .string("CACE_energy")), ("per_atom_output_key", .string("CACE_atom_energy")),
            ("outnet", .array([layer])), ("linear_nn", .null)])
        var e0: [(String, JSONValue)] = []
        for z in atomicNumbers { if let v = atomicEnergies[z] { e0.append((String(z), .number(v))) } }
        var meta: [(String, JSONValue)] = [
            ("format_version", .int(selfInteraction && committee.isEmpty ? 1 : 2)),
            ("units", .object([("energy", .string("eV")), ("length", .string("Angstrom")), ("forces", .string("eV/Angstrom")),
                               ("virial", .string("eV")), ("stress", .string("eV/Angstrom^3"))])),
            ("zs", .ints(atomicNumbers)), ("cutoff", .number(cutoff)),
            ("n_atom_basis", .int(nz)), ("n_channels", .int(c)), ("embed_receiver_nodes", .bool(true)),
            ("max_l", .int(maxL)), ("max_nu", .int(maxNu)), ("num_message_passing", .int(0)),
            ("n_radial_func", .int(nr)), ("n_radial_basis", .int(nm)),
        ]
        if let averageNeighbors, averageNeighbors > 0 { meta.append(("avg_num_neighbors", .number(averageNeighbors))) }
        meta += [
            ("n_features", .int(f)), ("node_feats_shape", .array([.string("n_atoms"), .int(nm), .int(s), .int(c), .int(1)])),
            ("radial_basis", .object([
                ("type", .string("bessel")), ("n_rbf", .int(nr)), ("cutoff", .number(cutoff)), ("prefactor", .number(prefactor)),
                ("trainable", .bool(false)), ("formula", .string("prefactor * sin(w_n d) / d, w_n = (n+1) pi / cutoff")),
                ("tensors", .object([("bessel_weights", .string("representation.radial_basis.bessel_weights")),
                                     ("prefactor", .string("representation.radial_basis.prefactor"))]))])),
            ("cutoff_fn", .object([("type", .string("polynomial")), ("cutoff", .number(cutoff)), ("p", .number(6))])),
            ("edge_encoder", .object([("type", .string("EdgeEncoder")), ("directed", .bool(true)),
                                      ("channel_index", .string("c = sender * n_atom_basis + receiver"))])),
            ("node_embedding", .object([("sender", .string("representation.node_embedding_sender.embedding_weights")),
                                        ("receiver", .string("representation.node_embedding_receiver.embedding_weights")),
                                        ("shape", .ints([nz, nz]))])),
            ("angular", .object([("lxlylz", .array(exps.map { .ints($0) })), ("l_groups", .array(groups.map { .ints($0) }))])),
            ("radial_transform", .object([("weights", .strings(rtNames)), ("shape", .ints([nr, nm, c]))])),
            ("symmetrizer", .object([("n_sym", .int(s)), ("nu_of_feature", .ints(invs.map { $0.nu })), ("table", tableJSON)]
                                    + (selfInteraction ? [] : [("self_interaction", .bool(false))]))),
            ("message_passing", .object([("types", .array([])), ("layers", .array([]))])),
            ("heads", .array([head])), ("ewald", .null), ("feature_add", .array([])),
            ("energy_key", .string("CACE_energy")),
            ("forces", .object([("energy_key", .string("CACE_energy")), ("forces_key", .string("CACE_forces"))])),
            ("output_keys", .strings(["CACE_energy", "CACE_atom_energy"])),
            ("atomic_energies", e0.isEmpty ? .null : .object(e0)),
            ("atomic_energies_note", .string("per-element reference energies fitted by cace fit (unregularised columns)")),
            ("source", .string(source)),
            ("fit", fitInfo),
        ]
        if !committee.isEmpty {
            guard committee.allSatisfy({ $0.count == f + nz }) else { throw .internal("committee members need \(f + nz) coefficients") }
            out.add("committee.weights", [committee.count, f], committee.flatMap { $0[0..<f] })
            out.add("committee.atomic_energies", [committee.count, nz], committee.flatMap { $0[f...] })
            meta.append(("committee", .object([
                ("members", .int(committee.count)), ("weights", .string("committee.weights")),
                ("atomic_energies", .string("committee.atomic_energies")),
                ("note", .string("member k: E_i = weights[k] . B_i + bias + atomic_energies[k][element]; drawn from the Bayesian posterior of cace fit, calibrated"))])))
        }
        out.metadata = [("cace", JSONValue.object(meta).text)]
        return out
    }
}
