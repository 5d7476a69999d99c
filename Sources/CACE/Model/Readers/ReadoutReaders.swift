/// Readers of the read-out sections: heads, the long-range term, which outputs make the energy,
/// and the reference energies (docs/model-format.md §3, §4.6–4.8, §5).
extension ModelFileReader {
    mutating func readHeads(featureCount: Int) throws(CACEError) -> [ReadoutHead] {
        var heads: [ReadoutHead] = []
        for (h, spec) in try array(meta["heads"], "heads").enumerated() {
            let path = "heads[\(h)]"
            let type = try string(spec["type"], path + ".type")
            guard type == "Atomwise" else { throw unsupported("head type '\(type)' in '\(path)'") }
            let featureKey = try string(spec["feature_key"], path + ".feature_key")
            guard featureKey == "node_feats" else { throw unsupported("'\(path)' reads feature '\(featureKey)' (only node_feats)") }
            if let residual = spec["residual"], residual == .bool(true) { throw unsupported("'\(path)' uses residual blocks") }
            if let bn = spec["use_batchnorm"], bn == .bool(true) { throw unsupported("'\(path)' uses batch normalisation") }
            if let mode = spec["aggregation_mode"], mode != .string("sum") { throw unsupported("'\(path)' aggregation is not 'sum'") }
            let nOut = try integer(spec["n_out"], path + ".n_out", in: 1...1_000_000)
            guard nOut == 1 else { throw unsupported("'\(path)' has n_out \(nOut) (only 1)") }
            let network = try self.network(spec["outnet"], path + ".outnet", inputs: featureCount, outputs: 1)
            var linear: DenseLayer<Double>? = nil
            if let l = spec["linear_nn"], !l.isNull {
                linear = try denseLayer(l, path + ".linear_nn", inputs: featureCount)
                guard linear?.outputs == 1 else { throw fail("'\(path).linear_nn' does not have one output") }
            }
            var perAtomKey: String? = nil
            if let p = spec["per_atom_output_key"], !p.isNull { perAtomKey = try string(p, path + ".per_atom_output_key") }
            heads.append(ReadoutHead(network: network, linear: linear,
                                     outputKey: try string(spec["output_key"], path + ".output_key"), perAtomKey: perAtomKey))
        }
        guard !heads.isEmpty else { throw fail("the model has no read-out head") }
        return heads
    }

    /// The Ewald settings, the output key of its energy, and the head whose per-atom output is the charge.
    mutating func readLongRange(heads: [ReadoutHead]) throws(CACEError)
        -> (settings: EwaldSettings?, outputKey: String?, chargeHead: Int?) {
        var ewald: EwaldSettings? = nil
        var ewaldKey: String? = nil
        var chargeHead: Int? = nil
        if let e = meta["ewald"], !e.isNull {
            let exponent = try integer(e["exponent"], "ewald.exponent", in: 0...100)
            guard exponent == 1 else { throw unsupported("Ewald exponent \(exponent) (only 1)") }
            let featureKey = try string(e["feature_key"], "ewald.feature_key")
            guard let head = heads.firstIndex(where: { $0.perAtomKey == featureKey }) else {
                throw fail("no head has per_atom_output_key '\(featureKey)' needed by the Ewald term")
            }
            chargeHead = head
            ewaldKey = try string(e["output_key"], "ewald.output_key")
            let dl = try number(e["dl"], "ewald.dl"), sigma = try number(e["sigma"], "ewald.sigma")
            let kmax = try number(e["k_sq_max"], "ewald.k_sq_max")
            guard dl > 0, sigma > 0, kmax > 0 else { throw fail("ewald dl, sigma and k_sq_max must be positive") }
            ewald = EwaldSettings(dl: dl, sigma: sigma, kSquaredMax: kmax,
                                  normFactor: try number(e["norm_factor"], "ewald.norm_factor"),
                                  removeSelfInteraction: try bool(e["remove_self_interaction"], "ewald.remove_self_interaction"))
        }
        return (ewald, ewaldKey, chargeHead)
    }

    /// The weight of each head and of the long-range term in the potential energy: energy_key
    /// resolved through feature_add.
    mutating func readEnergyWeights(heads: [ReadoutHead], longRangeKey ewaldKey: String?)
        throws(CACEError) -> (energyKey: String, heads: [Double], longRange: Double) {
        let energyKey = try string(meta["energy_key"], "energy_key")
        var sums: [String: [String]] = [:]
        if let fa = meta["feature_add"], !fa.isNull {
            for (i, spec) in try array(fa, "feature_add").enumerated() {
                let keys = try array(spec["feature_keys"], "feature_add[\(i)].feature_keys").map { v throws(CACEError) in
                    try string(v, "feature_add[\(i)].feature_keys")
                }
                sums[try string(spec["output_key"], "feature_add[\(i)].output_key")] = keys
            }
        }
        var headWeight = [Double](repeating: 0, count: heads.count)
        var ewaldWeight = 0.0
        func resolve(_ key: String, depth: Int) throws(CACEError) {
            guard depth < 32 else { throw fail("feature_add outputs form a cycle at '\(key)'") }
            if let parts = sums[key] {
                for part in parts { try resolve(part, depth: depth + 1) }
            } else if let h = heads.firstIndex(where: { $0.outputKey == key }) {
                headWeight[h] += 1
            } else if key == ewaldKey {
                ewaldWeight += 1
            } else {
                throw fail("energy output '\(key)' is produced by no head, Ewald term or feature_add")
            }
        }
        try resolve(energyKey, depth: 0)
        return (energyKey, headWeight, ewaldWeight)
    }

    mutating func readAtomicEnergies(_ s: Sizes) throws(CACEError) -> [Double]? {
        let (zs, nz) = (s.zs, s.nz)
        var atomicEnergies: [Double]? = nil
        if let ae = meta["atomic_energies"], !ae.isNull {
            guard case .object(let members) = ae else { throw fail("atomic_energies is not an object") }
            var e0 = [Double](repeating: 0, count: nz)
            for (key, v) in members {
                guard let z = Int(key), let index = zs.firstIndex(of: z) else {
                    throw fail("atomic_energies key '\(key)' is not an atomic number of the model")
                }
                e0[index] = try number(v, "atomic_energies.\(key)")
            }
            atomicEnergies = e0
        }
        return atomicEnergies
    }
}
