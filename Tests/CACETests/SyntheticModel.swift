import Foundation
@testable import CACE
@testable import CACEStructures

/// Builds small CACE model files with random weights for tests that must run without the
/// shared reference data: every option of the model format can be switched on.
struct SyntheticModel {
    var zs = [14]
    var cutoff = 4.0
    var atomBasis = 2
    var radialFunctions = 4
    var radialBasis = 3
    var maxL = 2
    var maxNu = 3
    var messageTypes: [String] = []     // subset of M, Ar, Bchi
    var layers = 0
    var bchiSharedChannels = true
    var bchiSharedL = true
    var radial = "bessel"               // bessel, gaussian, exponential_decay
    var cutoffFunction = "polynomial"   // polynomial, cosine, mollifier
    var directed = true
    var embedReceiver = false
    var ewald = false
    var headBias = true
    var linearHead = true
    var hiddenWidths = [6, 4]           // [] makes the read-out linear in the features
    var atomicEnergies: [Int: Double]? = nil
    var seed: UInt64 = 1

    /// Deterministic uniform numbers in [-scale, scale).
    struct Generator {
        var state: UInt64
        mutating func next(_ scale: Double = 1) -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) / Double(1 << 53) * 2 - 1) * scale
        }
    }

    /// The angular exponents in upstream order (spec §3.7).
    static func exponents(maxL: Int) -> [[Int]] {
        var list: [[Int]] = []
        for l in 0...maxL {
            for lx in stride(from: l, through: 0, by: -1) {
                for ly in stride(from: l - lx, through: 0, by: -1) { list.append([lx, ly, l - lx - ly]) }
            }
        }
        return list
    }

    /// The invariant table of spec §4.
    static func symmetrizerTable(maxL: Int, maxNu: Int) -> [[[Any]]] {
        let exps = exponents(maxL: maxL)
        func index(_ v: [Int]) -> Int { exps.firstIndex(of: v)! }
        func mult(_ v: [Int]) -> Int {
            func f(_ n: Int) -> Int { n <= 1 ? 1 : n * f(n - 1) }
            return f(v[0] + v[1] + v[2]) / (f(v[0]) * f(v[1]) * f(v[2]))
        }
        func ofDegree(_ l: Int) -> [[Int]] { exps.filter { $0.reduce(0, +) == l } }
        func add(_ a: [Int], _ b: [Int]) -> [Int] { [a[0] + b[0], a[1] + b[1], a[2] + b[2]] }
        var table: [[[Any]]] = [[[[0], 1]]]
        if maxNu >= 2 {
            for l in stride(from: 1, through: maxL, by: 1) {
                table.append(ofDegree(l).map { [[index($0), index($0)], mult($0)] })
            }
        }
        if maxNu >= 3 {
            for l1 in stride(from: 1, through: maxL, by: 1) {
                for l2 in stride(from: l1, through: maxL - l1, by: 1) {
                    var terms: [[Any]] = []
                    for v1 in ofDegree(l1) {
                        for v2 in ofDegree(l2) { terms.append([[index(v1), index(v2), index(add(v1, v2))], mult(v1) * mult(v2)]) }
                    }
                    table.append(terms)
                }
            }
        }
        if maxNu >= 4 {
            for l1 in stride(from: 1, through: maxL, by: 1) {
                for l2 in stride(from: l1 + 1, through: maxL, by: 1) {
                    for delta in stride(from: 1, through: maxL - l2, by: 1) {
                        var terms: [[Any]] = []
                        for v1 in ofDegree(l1) {
                            for v2 in ofDegree(l2) {
                                for w in ofDegree(delta) {
                                    terms.append([[index(v1), index(v2), index(add(v1, w)), index(add(v2, w))],
                                                  mult(v1) * mult(v2) * mult(w)])
                                }
                            }
                        }
                        table.append(terms)
                    }
                }
            }
        }
        return table
    }

    /// Returns the bytes of a safetensors model file.
    func fileBytes() -> [UInt8] {
        var rng = Generator(state: seed)
        var tensors: [(String, [Int], [Double])] = []
        func tensor(_ name: String, _ shape: [Int], scale: Double = 1, offset: Double = 0) -> String {
            let count = shape.reduce(1, *)
            tensors.append((name, shape, (0..<count).map { _ in offset + rng.next(scale) }))
            return name
        }
        func constant(_ name: String, _ shape: [Int], _ values: [Double]) -> String {
            tensors.append((name, shape, values)); return name
        }
        let nz = zs.count, c0 = atomBasis, channels = c0 * c0, nr = radialFunctions, nm = radialBasis
        let exps = Self.exponents(maxL: maxL)
        let table = Self.symmetrizerTable(maxL: maxL, maxNu: maxNu)
        let q = table.count
        let features = nm * q * channels * (layers + 1)
        let sender = tensor("representation.node_embedding_sender.embedding_weights", [nz, c0])
        let receiver = embedReceiver ? tensor("representation.node_embedding_receiver.embedding_weights", [nz, c0])
            : constant("representation.node_embedding_receiver.embedding_weights", [nz, c0], tensors.last!.2)
        var radialMeta: [String: Any] = ["type": radial, "n_rbf": nr]
        switch radial {
        case "gaussian":
            radialMeta["tensors"] = [
                "offsets": constant("representation.radial_basis.offsets", [nr], (0..<nr).map { 0.8 + Double($0) * (cutoff - 0.8) / Double(nr - 1) }),
                "widths": constant("representation.radial_basis.widths", [nr], Array(repeating: (cutoff - 0.8) / Double(nr - 1), count: nr))]
        case "exponential_decay":
            radialMeta["tensors"] = [
                "r0": constant("representation.radial_basis.r0", [nr], (1...nr).map { cutoff * Double($0) / Double(nr + 1) }),
                "prefactor": constant("representation.radial_basis.prefactor", [], [1.0])]
        default:
            radialMeta["tensors"] = [
                "bessel_weights": constant("representation.radial_basis.bessel_weights", [nr], (1...nr).map { Double($0) * .pi / cutoff }),
                "prefactor": constant("representation.radial_basis.prefactor", [], [(2 / cutoff).squareRoot()])]
        }
        _ = constant("representation.cutoff_fn.cutoff", [], [cutoff])
        if cutoffFunction == "polynomial" { _ = constant("representation.cutoff_fn.p", [], [6]) }
        if cutoffFunction == "mollifier" { _ = constant("representation.cutoff_fn.eps", [], [1e-7]) }
        let rt = (0...maxL).map { tensor("representation.radial_transform.weights.\($0)", [nr, nm, channels]) }

        var layerMeta: [Any] = []
        for t in 0..<layers {
            var entry: [String: Any] = ["M": NSNull(), "Ar": NSNull(), "Bchi": NSNull()]
            let prefix = "representation.message_passing_list.\(t)"
            if messageTypes.contains("M") {
                entry["M"] = ["memory_coef": (0...maxL).map { tensor("\(prefix).0.memory_coef.\($0)", [nm, channels], scale: 0.3) }]
            }
            if messageTypes.contains("Ar") {
                entry["Ar"] = ["prefactor": (0...maxL).map { tensor("\(prefix).1.prefactor.\($0)", [nm, channels], scale: 0.5, offset: 0.5) },
                               "invr0": (0...maxL).map { tensor("\(prefix).1.invr0.\($0)", [nm, channels], scale: 0.1, offset: 0.3) }]
            }
            if messageTypes.contains("Bchi") {
                let nl = bchiSharedL ? 1 : maxL + 1, nc = bchiSharedChannels ? 1 : channels
                let nIn = nm * q * channels
                var bchi: [String: Any] = [
                    "shared_channels": bchiSharedChannels, "shared_l": bchiSharedL, "nl": nl, "nc": nc, "n_in": nIn,
                    "hnet": [["weight": tensor("\(prefix).2.hnet.0.linear.weight", [nl * nc, nIn], scale: 0.2),
                              "bias": tensor("\(prefix).2.hnet.0.linear.bias", [nl * nc]), "in": nIn, "out": nl * nc,
                              "activation": "identity"]]]
                if !bchiSharedL {
                    var lm = [Double](repeating: 0, count: (maxL + 1) * exps.count)
                    for (k, e) in exps.enumerated() { lm[e.reduce(0, +) * exps.count + k] = 1 }
                    bchi["l_matrix"] = constant("\(prefix).2.l_matrix", [maxL + 1, exps.count], lm)
                } else { bchi["l_matrix"] = NSNull() }
                entry["Bchi"] = bchi
            }
            layerMeta.append(entry)
        }

        func head(_ index: Int, outputKey: String, perAtom: Any, bias: Bool) -> [String: Any] {
            let widths = [features] + hiddenWidths + [1]
            var layers: [Any] = []
            for i in 0..<(widths.count - 1) {
                let w = tensor("output_modules.\(index).outnet.\(i).linear.weight", [widths[i + 1], widths[i]], scale: 1 / Double(widths[i]).squareRoot())
                let b: Any = bias ? tensor("output_modules.\(index).outnet.\(i).linear.bias", [widths[i + 1]], scale: 0.1) as Any : NSNull()
                layers.append(["weight": w, "bias": b, "in": widths[i], "out": widths[i + 1], "activation": i < widths.count - 2 ? "silu" : "identity"])
            }
            var linear: Any = NSNull()
            if linearHead {
                linear = ["weight": tensor("output_modules.\(index).linear_nn.linear.weight", [1, features], scale: 0.05),
                          "bias": bias ? tensor("output_modules.\(index).linear_nn.linear.bias", [1], scale: 0.1) as Any : NSNull(),
                          "in": features, "out": 1, "activation": "identity"]
            }
            return ["module_index": index, "type": "Atomwise", "feature_key": "node_feats", "n_in": features, "n_out": 1,
                    "n_layers": widths.count - 1, "n_hidden": hiddenWidths, "activation": "silu", "bias": bias, "residual": false,
                    "use_batchnorm": false, "add_linear_nn": linearHead, "aggregation_mode": "sum",
                    "output_key": outputKey, "per_atom_output_key": perAtom, "outnet": layers, "linear_nn": linear]
        }
        var heads = [head(0, outputKey: ewald ? "SR_energy" : "CACE_energy", perAtom: "CACE_atom_energy", bias: headBias)]
        var ewaldMeta: Any = NSNull()
        var featureAdd: [Any] = []
        if ewald {
            heads.append(head(1, outputKey: "tot_q", perAtom: "q", bias: false))
            ewaldMeta = ["module_index": 2, "type": "EwaldPotential", "feature_key": "q", "output_key": "ewald_potential",
                         "dl": 2.0, "sigma": 1.0, "exponent": 1, "k_sq_max": pow(2 * Double.pi / 2.0, 2),
                         "norm_factor": 1.0, "remove_self_interaction": false]
            featureAdd = [["module_index": 3, "type": "FeatureAdd", "feature_keys": ["SR_energy", "ewald_potential"],
                           "output_key": "CACE_energy"]]
        }
        var groups: [[Int]] = []
        for l in 0...maxL { groups.append([l * (l + 1) * (l + 2) / 6, (l + 1) * (l + 2) * (l + 3) / 6]) }
        let meta: [String: Any] = [
            "format_version": 1,
            "units": ["energy": "eV", "length": "Angstrom", "forces": "eV/Angstrom", "virial": "eV", "stress": "eV/Angstrom^3"],
            "zs": zs, "cutoff": cutoff, "n_atom_basis": c0, "n_channels": channels,
            "embed_receiver_nodes": embedReceiver, "max_l": maxL, "max_nu": maxNu, "num_message_passing": layers,
            "n_radial_func": nr, "n_radial_basis": nm, "avg_num_neighbors": 10.0, "mp_norm_factor": 1 / 10.0.squareRoot(),
            "radial_basis": radialMeta, "cutoff_fn": ["type": cutoffFunction, "cutoff": cutoff],
            "edge_encoder": ["type": "EdgeEncoder", "directed": directed],
            "node_embedding": ["sender": sender, "receiver": receiver, "shape": [nz, c0]],
            "angular": ["lxlylz": exps, "l_groups": groups],
            "radial_transform": ["weights": rt, "shape": [nr, nm, channels]],
            "symmetrizer": ["n_sym": q, "nu_of_feature": table.map { (($0.first?[0]) as? [Int])?.count ?? 0 }, "table": table],
            "message_passing": ["types": messageTypes, "layers": layerMeta],
            "node_feats_shape": ["n_atoms", nm, q, channels, layers + 1], "n_features": features,
            "heads": heads, "ewald": ewaldMeta, "feature_add": featureAdd,
            "energy_key": "CACE_energy",
            "atomic_energies": atomicEnergies.map { Dictionary(uniqueKeysWithValues: $0.map { (String($0.key), $0.value) }) } ?? NSNull(),
            "source": "synthetic test model",
        ]
        return Self.safetensors(tensors: tensors, metadata: meta)
    }

    static func safetensors(tensors: [(String, [Int], [Double])], metadata: [String: Any]) -> [UInt8] {
        let metaText = String(data: try! JSONSerialization.data(withJSONObject: metadata), encoding: .utf8)!
        var header: [String: Any] = ["__metadata__": ["cace": metaText]]
        var data: [UInt8] = []
        for (name, shape, values) in tensors {
            let start = data.count
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            header[name] = ["dtype": "F64", "shape": shape, "data_offsets": [start, data.count]]
        }
        let headerBytes = Array(try! JSONSerialization.data(withJSONObject: header))
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { bytes.append(contentsOf: $0) }
        return bytes + headerBytes + data
    }

    func model() throws -> CACEModel {
        try CACEModel(container: SafeTensors(bytes: fileBytes(), name: "synthetic"), name: "synthetic")
    }
}
