/// Checks of the metadata fields that restate what the tensors and other fields already fix
/// (sizes, cutoffs, activations, units): a file whose parts disagree is refused rather than
/// silently read one way (docs/model-format.md, "Consistency"). Each field is optional; when
/// present it must agree with the model that was built.
extension ModelFileReader {
    func checkConsistency(of model: CACEModel, groups: [Range<Int>]) throws(CACEError) {
        try checkUnits()
        try checkCutoffsAndBasis(model)
        try checkShapes(model, groups: groups)
        try checkSymmetrizer(model)
        try checkMessagePassing(model)
        try checkHeads(model)
        if let forces = present(meta["forces"]), let key = present(forces["energy_key"]) {
            let expected = try string(meta["energy_key"], "energy_key")
            guard try string(key, "forces.energy_key") == expected else {
                throw fail("forces.energy_key differs from energy_key '\(expected)': forces and energy would come from different outputs")
            }
        }
    }

    /// A field that is present and not null.
    private func present(_ v: JSONValue?) -> JSONValue? {
        guard let v, !v.isNull else { return nil }
        return v
    }

    /// Fails unless an optional numeric field equals `expected` to a relative 1e-6: exporters may
    /// write values rounded to float32 (a cutoff of 3.9 as 3.9000000953674316).
    private func expectNumber(_ v: JSONValue?, _ path: String, equal expected: Double, what: String) throws(CACEError) {
        guard let v else { return }
        let x = try number(v, path)   // null is refused here: the field says nothing usable
        guard abs(x - expected) <= 1e-6 * max(1, abs(expected)) else {
            throw fail("metadata field '\(path)' = \(x) disagrees with \(what) (\(expected))")
        }
    }

    private func expectIntegers(_ v: JSONValue?, _ path: String, equal expected: [Int]) throws(CACEError) {
        guard let v else { return }
        let values = try array(v, path)
        var found: [Int] = []
        for (i, x) in values.enumerated() { found.append(try integer(x, "\(path)[\(i)]", in: Int.min / 2...Int.max / 2)) }
        guard found == expected else { throw fail("metadata field '\(path)' = \(found) disagrees with the tensors (\(expected))") }
    }

    /// The model's quantities are in eV and Angstrom; any other declared unit is refused.
    private func checkUnits() throws(CACEError) {
        guard let units = present(meta["units"]) else { return }
        let expected = [("energy", "eV"), ("length", "Angstrom"), ("forces", "eV/Angstrom"), ("virial", "eV"),
                        ("stress", "eV/Angstrom^3")]
        for (key, unit) in expected {
            guard let v = units[key] else { continue }
            let declared = try string(v, "units.\(key)")
            guard declared == unit else {
                throw unsupported("units.\(key) is '\(declared)'; pair_style cace works in eV and Angstrom (LAMMPS units metal), so the model must be exported in \(unit)")
            }
        }
    }

    private func checkCutoffsAndBasis(_ model: CACEModel) throws(CACEError) {
        let rb = meta["radial_basis"]
        try expectNumber(rb?["cutoff"], "radial_basis.cutoff", equal: model.cutoff, what: "the cutoff")
        try expectNumber(rb?["n_rbf"], "radial_basis.n_rbf", equal: Double(model.radialFunctionCount),
                         what: "n_radial_func")
        switch model.radialBasis {
        case .bessel(_, let prefactor), .exponentialDecay(_, let prefactor):
            try expectNumber(rb?["prefactor"], "radial_basis.prefactor", equal: prefactor, what: "the prefactor tensor")
        case .gaussian:
            break
        }
        let cf = meta["cutoff_fn"]
        switch model.cutoffFunction {
        case .polynomial(let c, let p):
            try expectNumber(cf?["cutoff"], "cutoff_fn.cutoff", equal: c, what: "the cutoff tensor")
            try expectNumber(cf?["p"], "cutoff_fn.p", equal: p, what: "the exponent tensor representation.cutoff_fn.p")
        case .cosine(let c):
            try expectNumber(cf?["cutoff"], "cutoff_fn.cutoff", equal: c, what: "the cutoff tensor")
        case .mollifier(let c, let eps):
            try expectNumber(cf?["cutoff"], "cutoff_fn.cutoff", equal: c, what: "the cutoff tensor")
            try expectNumber(cf?["eps"], "cutoff_fn.eps", equal: eps, what: "the tensor representation.cutoff_fn.eps")
        }
        if let avg = meta["avg_num_neighbors"] {
            let n = try number(avg, "avg_num_neighbors")
            guard n > 0 else { throw fail("avg_num_neighbors = \(n) must be positive") }
            if !model.layers.isEmpty {
                try expectNumber(meta["mp_norm_factor"], "mp_norm_factor", equal: 1 / n.squareRoot(),
                                 what: "1/sqrt(avg_num_neighbors)")
            }
        }
    }

    private func checkShapes(_ model: CACEModel, groups: [Range<Int>]) throws(CACEError) {
        let (nr, nm, c) = (model.radialFunctionCount, model.radialBasisCount, model.channelCount)
        try expectIntegers(meta["radial_transform"]?["shape"], "radial_transform.shape", equal: [nr, nm, c])
        try expectIntegers(meta["node_embedding"]?["shape"], "node_embedding.shape",
                           equal: [model.elementCount, model.embeddingSize])
        if let declared = meta["angular"]?["l_groups"] {
            let list = try array(declared, "angular.l_groups")
            guard list.count == groups.count else {
                throw fail("angular.l_groups has \(list.count) entries, expected max_l + 1 = \(groups.count)")
            }
            for (l, range) in groups.enumerated() {
                try expectIntegers(list[l], "angular.l_groups[\(l)]", equal: [range.lowerBound, range.upperBound])
            }
        }
        if let shape = present(meta["node_feats_shape"]) {
            let list = try array(shape, "node_feats_shape")
            guard list.count == 5 else { throw fail("node_feats_shape has \(list.count) entries, expected 5") }
            try expectIntegers(.array(Array(list.dropFirst())), "node_feats_shape[1...]",
                               equal: [nm, model.invariantCount, c, model.layers.count + 1])
        }
    }

    private func checkSymmetrizer(_ model: CACEModel) throws(CACEError) {
        let s = model.symmetrizer
        for feature in 0..<s.featureCount {
            let orders = Set(s.order[s.termStart[feature]..<s.termStart[feature + 1]])
            guard orders.count <= 1 else { throw fail("symmetrizer.table[\(feature)] mixes body orders \(orders.sorted())") }
            if let nu = orders.first, nu > model.maxNu {
                throw fail("symmetrizer.table[\(feature)] has body order \(nu), above max_nu = \(model.maxNu)")
            }
        }
        guard let declared = present(meta["symmetrizer"]?["nu_of_feature"]),
              case .array(let list) = declared, !list.isEmpty else { return }
        let expected = (0..<s.featureCount).map { s.termStart[$0] < s.termStart[$0 + 1] ? s.order[s.termStart[$0]] : 0 }
        try expectIntegers(declared, "symmetrizer.nu_of_feature", equal: expected)
    }

    private func checkMessagePassing(_ model: CACEModel) throws(CACEError) {
        guard case .array(let specs)? = meta["message_passing"]?["layers"] else { return }
        for (t, layer) in model.layers.enumerated() where t < specs.count {
            guard let bchi = layer.bchi, let spec = present(specs[t]["Bchi"]) else { continue }
            let path = "message_passing.layers[\(t)].Bchi"
            try expectNumber(spec["n_in"], path + ".n_in", equal: Double(bchi.network.layers[0].inputs),
                             what: "the input width of its hnet")
            try expectNumber(spec["nl"], path + ".nl", equal: Double(bchi.degreeCount), what: "shared_l")
            try expectNumber(spec["nc"], path + ".nc", equal: Double(bchi.channelCount), what: "shared_channels")
        }
    }

    private func checkHeads(_ model: CACEModel) throws(CACEError) {
        guard case .array(let specs)? = meta["heads"] else { return }
        for (h, head) in model.heads.enumerated() where h < specs.count {
            let spec = specs[h], path = "heads[\(h)]"
            let layers = head.network.layers
            try expectNumber(spec["n_in"], path + ".n_in", equal: Double(layers[0].inputs), what: "the read-out input width")
            try expectNumber(spec["n_layers"], path + ".n_layers", equal: Double(layers.count), what: "the layers in outnet")
            try expectIntegers(spec["n_hidden"], path + ".n_hidden", equal: layers.dropLast().map(\.outputs))
            if let declared = spec["activation"], layers.count > 1 {
                let name = try string(declared, path + ".activation")
                for (i, layer) in layers.dropLast().enumerated() where layer.activation.name != name {
                    throw fail("'\(path).activation' is '\(name)' but outnet[\(i)] uses '\(layer.activation.name)'")
                }
            }
            if let declared = spec["bias"] {
                let hasBias = try bool(declared, path + ".bias")
                let all = layers + (head.linear.map { [$0] } ?? [])
                guard all.allSatisfy({ ($0.bias != nil) == hasBias }) else {
                    throw fail("'\(path).bias' is \(hasBias) but its layers \(hasBias ? "lack" : "have") bias tensors")
                }
            }
            if let declared = spec["add_linear_nn"] {
                guard try bool(declared, path + ".add_linear_nn") == (head.linear != nil) else {
                    throw fail("'\(path).add_linear_nn' disagrees with its linear_nn entry")
                }
            }
        }
    }
}
