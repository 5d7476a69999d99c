/// Reads and validates the metadata and tensors of a model file (docs/model-format.md).
struct ModelFileReader {
    let file: String
    let meta: JSONValue
    let tensors: [String: Tensor]
    var used: Set<String> = []

    func fail(_ what: String) -> CACEError { .format("\(file): \(what)") }
    func unsupported(_ what: String) -> CACEError { .unsupported("\(file): \(what)") }

    func value(_ v: JSONValue?, _ path: String) throws(CACEError) -> JSONValue {
        guard let v else { throw fail("metadata field '\(path)' is missing") }
        guard !v.isNull else { throw fail("metadata field '\(path)' is null") }
        return v
    }

    func number(_ v: JSONValue?, _ path: String) throws(CACEError) -> Double {
        guard case .number(let x) = try value(v, path), x.isFinite else {
            throw fail("metadata field '\(path)' is not a finite number")
        }
        return x
    }

    func integer(_ v: JSONValue?, _ path: String, in range: ClosedRange<Int>) throws(CACEError) -> Int {
        let x = try number(v, path)
        guard x == x.rounded(), x >= Double(range.lowerBound), x <= Double(range.upperBound) else {
            throw fail("metadata field '\(path)' = \(x) is not an integer in \(range)")
        }
        return Int(x)
    }

    func bool(_ v: JSONValue?, _ path: String) throws(CACEError) -> Bool {
        guard case .bool(let b) = try value(v, path) else { throw fail("metadata field '\(path)' is not a boolean") }
        return b
    }

    func string(_ v: JSONValue?, _ path: String) throws(CACEError) -> String {
        guard case .string(let s) = try value(v, path) else { throw fail("metadata field '\(path)' is not a string") }
        return s
    }

    func array(_ v: JSONValue?, _ path: String) throws(CACEError) -> [JSONValue] {
        guard case .array(let a) = try value(v, path) else { throw fail("metadata field '\(path)' is not a list") }
        return a
    }

    /// The tensor named by a metadata string, checked against the expected shape.
    mutating func tensor(_ v: JSONValue?, _ path: String, shape: [Int]) throws(CACEError) -> [Double] {
        let name = try string(v, path)
        guard let t = tensors[name] else { throw fail("tensor '\(name)' (named by '\(path)') is missing") }
        guard t.shape == shape || (shape == [] && t.shape == [1]) else {
            throw fail("tensor '\(name)' has shape \(t.shape), expected \(shape)")
        }
        for x in t.values where !x.isFinite { throw fail("tensor '\(name)' holds a non-finite value") }
        used.insert(name)
        return t.values
    }

    mutating func scalar(_ v: JSONValue?, _ path: String) throws(CACEError) -> Double {
        try tensor(v, path, shape: [])[0]
    }

    /// A dense layer {"weight","bias"|null,"in","out","activation"}.
    mutating func denseLayer(_ v: JSONValue?, _ path: String, inputs: Int?) throws(CACEError) -> DenseLayer<Double> {
        let spec = try value(v, path)
        let nIn = try integer(spec["in"], path + ".in", in: 1...10_000_000)
        let nOut = try integer(spec["out"], path + ".out", in: 1...10_000_000)
        if let inputs, inputs != nIn { throw fail("'\(path)' takes \(nIn) inputs, expected \(inputs)") }
        let weight = try tensor(spec["weight"], path + ".weight", shape: [nOut, nIn])
        var bias: [Double]? = nil
        if let b = spec["bias"], !b.isNull { bias = try tensor(b, path + ".bias", shape: [nOut]) }
        let activation: Activation
        switch try string(spec["activation"], path + ".activation") {
        case "silu": activation = .silu
        case "identity": activation = .identity
        case let other: throw unsupported("activation '\(other)' in '\(path)' (only silu and identity)")
        }
        return DenseLayer(inputs: nIn, outputs: nOut, weight: weight, bias: bias, activation: activation)
    }

    mutating func network(_ v: JSONValue?, _ path: String, inputs: Int, outputs: Int) throws(CACEError) -> DenseNetwork<Double> {
        let specs = try array(v, path)
        guard !specs.isEmpty else { throw fail("'\(path)' has no layers") }
        var layers: [DenseLayer<Double>] = []
        var width = inputs
        for (i, spec) in specs.enumerated() {
            let layer = try denseLayer(spec, "\(path)[\(i)]", inputs: width)
            width = layer.outputs
            layers.append(layer)
        }
        guard width == outputs else { throw fail("'\(path)' has \(width) outputs, expected \(outputs)") }
        return DenseNetwork(layers: layers)
    }

    /// A per-degree list of [M][C] tensors, concatenated as [l][m][c].
    mutating func perDegree(_ v: JSONValue?, _ path: String, degrees: Int, shape: [Int]) throws(CACEError) -> [Double] {
        let names = try array(v, path)
        guard names.count == degrees else { throw fail("'\(path)' lists \(names.count) tensors, expected \(degrees)") }
        var out: [Double] = []
        for (l, name) in names.enumerated() { out += try tensor(name, "\(path)[\(l)]", shape: shape) }
        return out
    }
}

extension CACEModel {
    /// Loads a model file; every inconsistency is a `CACEError` naming the file.
    public init(contentsOf path: String) throws(CACEError) {
        let container = try SafeTensors(contentsOf: path)
        try self.init(container: container, name: path)
    }

    public init(container: SafeTensors, name: String) throws(CACEError) {
        guard let text = container.metadata["cace"] else {
            throw .format("\(name): no 'cace' entry in the safetensors __metadata__ (not a CACE model file)")
        }
        let meta: JSONValue
        do { meta = try JSONParser.parse(Array(text.utf8)) } catch {
            throw .format("\(name): the 'cace' metadata is not valid JSON (\(error.description))")
        }
        var r = ModelFileReader(file: name, meta: meta, tensors: container.tensors)

        let version = try r.integer(meta["format_version"], "format_version", in: 0...1000)
        guard version == 1 else { throw r.unsupported("format_version \(version) (this build reads version 1)") }

        // Elements and sizes.
        let zs = try r.array(meta["zs"], "zs").enumerated().map { (i, v) throws(CACEError) in
            try r.integer(v, "zs[\(i)]", in: 1...118)
        }
        guard !zs.isEmpty, Set(zs).count == zs.count else { throw r.fail("'zs' is empty or repeats an element") }
        let nz = zs.count
        let cutoff = try r.number(meta["cutoff"], "cutoff")
        guard cutoff > 0, cutoff < 100 else { throw r.fail("cutoff \(cutoff) is not in (0, 100) Angstrom") }
        let c0 = try r.integer(meta["n_atom_basis"], "n_atom_basis", in: 1...64)
        let channels = try r.integer(meta["n_channels"], "n_channels", in: 1...4096)
        guard channels == c0 * c0 else { throw r.fail("n_channels \(channels) is not n_atom_basis^2 = \(c0 * c0)") }
        let maxL = try r.integer(meta["max_l"], "max_l", in: 0...8)
        let maxNu = try r.integer(meta["max_nu"], "max_nu", in: 1...4)
        let layerCount = try r.integer(meta["num_message_passing"], "num_message_passing", in: 0...16)
        let nr = try r.integer(meta["n_radial_func"], "n_radial_func", in: 1...256)
        let nm = try r.integer(meta["n_radial_basis"], "n_radial_basis", in: 1...1024)
        let embedReceiver = try r.bool(meta["embed_receiver_nodes"], "embed_receiver_nodes")

        // Radial basis and cutoff function.
        let rb = try r.value(meta["radial_basis"], "radial_basis")
        let rbType = try r.string(rb["type"], "radial_basis.type")
        let rbTensors = try r.value(rb["tensors"], "radial_basis.tensors")
        let radialBasis: RadialBasis
        switch rbType {
        case "bessel":
            radialBasis = .bessel(
                frequencies: try r.tensor(rbTensors["bessel_weights"], "radial_basis.tensors.bessel_weights", shape: [nr]),
                prefactor: try r.scalar(rbTensors["prefactor"], "radial_basis.tensors.prefactor"))
        case "gaussian", "gaussian_centered":
            let widths = try r.tensor(rbTensors["widths"], "radial_basis.tensors.widths", shape: [nr])
            var offsets = [Double](repeating: 0, count: nr)
            if let o = rbTensors["offsets"], !o.isNull {
                offsets = try r.tensor(o, "radial_basis.tensors.offsets", shape: [nr])
            }
            guard widths.allSatisfy({ $0 != 0 }) else { throw r.fail("a Gaussian radial width is zero") }
            radialBasis = .gaussian(offsets: offsets, widths: widths)
        case "exponential_decay":
            let r0Name = try r.string(rbTensors["r0"], "radial_basis.tensors.r0")
            let r0Shape = container.tensors[r0Name]?.shape == [] ? [] : [nr]
            let r0 = try r.tensor(rbTensors["r0"], "radial_basis.tensors.r0", shape: r0Shape)
            guard r0.count == nr, r0.allSatisfy({ $0 != 0 }) else { throw r.fail("exponential-decay r0 has a zero or the wrong count") }
            radialBasis = .exponentialDecay(r0: r0, prefactor: try r.scalar(rbTensors["prefactor"], "radial_basis.tensors.prefactor"))
        default:
            throw r.unsupported("radial basis '\(rbType)' (supported: bessel, gaussian, gaussian_centered, exponential_decay)")
        }
        let cf = try r.value(meta["cutoff_fn"], "cutoff_fn")
        let cfType = try r.string(cf["type"], "cutoff_fn.type")
        let tensorCutoff = try r.scalar(.string("representation.cutoff_fn.cutoff"), "cutoff_fn.cutoff")
        let cutoffFunction: CutoffFunction
        switch cfType {
        case "polynomial":
            cutoffFunction = .polynomial(cutoff: tensorCutoff, p: try r.scalar(.string("representation.cutoff_fn.p"), "cutoff_fn.p"))
        case "cosine":
            cutoffFunction = .cosine(cutoff: tensorCutoff)
        case "mollifier":
            cutoffFunction = .mollifier(cutoff: tensorCutoff, eps: try r.scalar(.string("representation.cutoff_fn.eps"), "cutoff_fn.eps"))
        default:
            throw r.unsupported("cutoff function '\(cfType)' (supported: polynomial, cosine, mollifier)")
        }
        guard tensorCutoff > 0, abs(tensorCutoff - cutoff) <= 1e-5 * cutoff else {
            throw r.fail("cutoff_fn cutoff \(tensorCutoff) disagrees with cutoff \(cutoff)")
        }

        // Angular monomials.
        let angularMeta = try r.value(meta["angular"], "angular")
        let lxlylz = try r.array(angularMeta["lxlylz"], "angular.lxlylz")
        let expectedK = (maxL + 1) * (maxL + 2) * (maxL + 3) / 6
        guard lxlylz.count == expectedK else { throw r.fail("angular.lxlylz has \(lxlylz.count) entries, expected \(expectedK)") }
        var exponents: [(Int, Int, Int)] = []
        var degree: [Int] = []
        for (k, v) in lxlylz.enumerated() {
            let e = try r.array(v, "angular.lxlylz[\(k)]")
            guard e.count == 3 else { throw r.fail("angular.lxlylz[\(k)] is not a triple") }
            let a = try r.integer(e[0], "angular.lxlylz[\(k)]", in: 0...maxL)
            let b = try r.integer(e[1], "angular.lxlylz[\(k)]", in: 0...maxL)
            let c = try r.integer(e[2], "angular.lxlylz[\(k)]", in: 0...maxL)
            exponents.append((a, b, c))
            degree.append(a + b + c)
        }
        var groups: [Range<Int>] = []
        for l in 0...maxL {
            let lo = l * (l + 1) * (l + 2) / 6, hi = (l + 1) * (l + 2) * (l + 3) / 6
            guard degree[lo..<hi].allSatisfy({ $0 == l }) else {
                throw r.fail("angular.lxlylz is not ordered by degree (block l=\(l))")
            }
            groups.append(lo..<hi)
        }
        let angular = AngularBasis(maxL: maxL, exponents: exponents, degree: degree, groups: groups)
        let nk = expectedK

        // Embeddings -> edge channel table.
        let embedding = try r.value(meta["node_embedding"], "node_embedding")
        let sender = try r.tensor(embedding["sender"], "node_embedding.sender", shape: [nz, c0])
        let receiver = try r.tensor(embedding["receiver"], "node_embedding.receiver", shape: [nz, c0])
        let edgeEncoder = try r.value(meta["edge_encoder"], "edge_encoder")
        let encoderType = try r.string(edgeEncoder["type"], "edge_encoder.type")
        guard encoderType == "EdgeEncoder" else { throw r.unsupported("edge encoder '\(encoderType)'") }
        let directed = try r.bool(edgeEncoder["directed"], "edge_encoder.directed")
        // A small file must not make us allocate a huge table (118 elements x 4096 channels).
        guard nz * nz * channels <= 1 << 22 else {
            throw r.unsupported("\(nz) elements x \(channels) channels is too large a model")
        }
        var edgeChannels = [Double](repeating: 0, count: nz * nz * channels)
        for zs in 0..<nz {
            for zr in 0..<nz {
                for alpha in 0..<c0 {
                    for beta in 0..<c0 {
                        var a = sender[zs * c0 + alpha], b = receiver[zr * c0 + beta]
                        if !directed {
                            // Element-wise min/max of the two embedding vectors (quirk Q7).
                            a = min(sender[zs * c0 + alpha], receiver[zr * c0 + alpha])
                            b = max(sender[zs * c0 + beta], receiver[zr * c0 + beta])
                        }
                        edgeChannels[(zs * nz + zr) * channels + alpha * c0 + beta] = a * b
                    }
                }
            }
        }

        // Radial transform W[l][n][m][c].
        let rt = try r.value(meta["radial_transform"], "radial_transform")
        let radialTransform = try r.perDegree(rt["weights"], "radial_transform.weights", degrees: maxL + 1,
                                              shape: [nr, nm, channels])

        // Symmetrizer table.
        let sym = try r.value(meta["symmetrizer"], "symmetrizer")
        let q = try r.integer(sym["n_sym"], "symmetrizer.n_sym", in: 1...10_000)
        let table = try r.array(sym["table"], "symmetrizer.table")
        guard table.count == q else { throw r.fail("symmetrizer.table has \(table.count) features, n_sym is \(q)") }
        var termStart = [0]
        var factors: [(Int, Int, Int, Int)] = []
        var order: [Int] = []
        var prefactor: [Double] = []
        for (feature, terms) in table.enumerated() {
            for (t, term) in try r.array(terms, "symmetrizer.table[\(feature)]").enumerated() {
                let path = "symmetrizer.table[\(feature)][\(t)]"
                let pair = try r.array(term, path)
                guard pair.count == 2 else { throw r.fail("'\(path)' is not [indices, prefactor]") }
                let indices = try r.array(pair[0], path).map { v throws(CACEError) in try r.integer(v, path, in: 0...(nk - 1)) }
                guard (1...4).contains(indices.count) else { throw r.unsupported("'\(path)' has body order \(indices.count) (1 to 4 supported)") }
                let padded = indices + [Int](repeating: -1, count: 4 - indices.count)
                factors.append((padded[0], padded[1], padded[2], padded[3]))
                order.append(indices.count)
                prefactor.append(try r.number(pair[1], path))
            }
            termStart.append(factors.count)
        }
        let symmetrizer = Symmetrizer(featureCount: q, termStart: termStart, factors: factors, order: order, prefactor: prefactor)
        let featureCount = nm * q * channels * (layerCount + 1)
        let declaredFeatures = try r.integer(meta["n_features"], "n_features", in: 1...100_000_000)
        guard declaredFeatures == featureCount else {
            throw r.fail("n_features \(declaredFeatures) is not n_radial_basis*n_sym*n_channels*(T+1) = \(featureCount)")
        }

        // Message passing.
        let mp = try r.value(meta["message_passing"], "message_passing")
        let layerSpecs = try r.array(mp["layers"], "message_passing.layers")
        guard layerSpecs.count == layerCount else {
            throw r.fail("message_passing.layers has \(layerSpecs.count) entries, num_message_passing is \(layerCount)")
        }
        var layers: [MessagePassingLayer] = []
        let perDegreeShape = [nm, channels]
        for (t, spec) in layerSpecs.enumerated() {
            let path = "message_passing.layers[\(t)]"
            if case .object(let members) = spec {
                for key in members.keys where !["M", "Ar", "Bchi"].contains(key) {
                    throw r.unsupported("message type '\(key)' in '\(path)' (supported: M, Ar, Bchi)")
                }
            } else { throw r.fail("'\(path)' is not an object") }
            var memory: [Double]? = nil
            if let m = spec["M"], !m.isNull {
                memory = try r.perDegree(m["memory_coef"], path + ".M.memory_coef", degrees: maxL + 1, shape: perDegreeShape)
            }
            var arPrefactor: [Double]? = nil, arInverse: [Double]? = nil
            if let ar = spec["Ar"], !ar.isNull {
                arPrefactor = try r.perDegree(ar["prefactor"], path + ".Ar.prefactor", degrees: maxL + 1, shape: perDegreeShape)
                arInverse = try r.perDegree(ar["invr0"], path + ".Ar.invr0", degrees: maxL + 1, shape: perDegreeShape)
            }
            var bchi: MessagePassingLayer.Bchi? = nil
            if let b = spec["Bchi"], !b.isNull {
                let sharedChannels = try r.bool(b["shared_channels"], path + ".Bchi.shared_channels")
                let sharedL = try r.bool(b["shared_l"], path + ".Bchi.shared_l")
                let nl = sharedL ? 1 : maxL + 1, nc = sharedChannels ? 1 : channels
                let network = try r.network(b["hnet"], path + ".Bchi.hnet", inputs: nm * q * channels, outputs: nl * nc)
                var lMatrix: [Double]? = nil
                if !sharedL { lMatrix = try r.tensor(b["l_matrix"], path + ".Bchi.l_matrix", shape: [maxL + 1, nk]) }
                bchi = .init(network: network, degreeCount: nl, channelCount: nc, lMatrix: lMatrix)
            }
            layers.append(MessagePassingLayer(memory: memory, arPrefactor: arPrefactor, arInverseLength: arInverse, bchi: bchi))
        }
        let messageNorm = layerCount > 0 ? try r.number(meta["mp_norm_factor"], "mp_norm_factor") : 0

        // Read-out heads.
        var heads: [ReadoutHead] = []
        for (h, spec) in try r.array(meta["heads"], "heads").enumerated() {
            let path = "heads[\(h)]"
            let type = try r.string(spec["type"], path + ".type")
            guard type == "Atomwise" else { throw r.unsupported("head type '\(type)' in '\(path)'") }
            let featureKey = try r.string(spec["feature_key"], path + ".feature_key")
            guard featureKey == "node_feats" else { throw r.unsupported("'\(path)' reads feature '\(featureKey)' (only node_feats)") }
            if let residual = spec["residual"], residual == .bool(true) { throw r.unsupported("'\(path)' uses residual blocks") }
            if let bn = spec["use_batchnorm"], bn == .bool(true) { throw r.unsupported("'\(path)' uses batch normalisation") }
            if let mode = spec["aggregation_mode"], mode != .string("sum") { throw r.unsupported("'\(path)' aggregation is not 'sum'") }
            let nOut = try r.integer(spec["n_out"], path + ".n_out", in: 1...1_000_000)
            guard nOut == 1 else { throw r.unsupported("'\(path)' has n_out \(nOut) (only 1)") }
            let network = try r.network(spec["outnet"], path + ".outnet", inputs: featureCount, outputs: 1)
            var linear: DenseLayer<Double>? = nil
            if let l = spec["linear_nn"], !l.isNull {
                linear = try r.denseLayer(l, path + ".linear_nn", inputs: featureCount)
                guard linear?.outputs == 1 else { throw r.fail("'\(path).linear_nn' does not have one output") }
            }
            var perAtomKey: String? = nil
            if let p = spec["per_atom_output_key"], !p.isNull { perAtomKey = try r.string(p, path + ".per_atom_output_key") }
            heads.append(ReadoutHead(network: network, linear: linear,
                                     outputKey: try r.string(spec["output_key"], path + ".output_key"), perAtomKey: perAtomKey))
        }
        guard !heads.isEmpty else { throw r.fail("the model has no read-out head") }

        // Long-range term.
        var ewald: EwaldSettings? = nil
        var ewaldKey: String? = nil
        var chargeHead: Int? = nil
        if let e = meta["ewald"], !e.isNull {
            let exponent = try r.integer(e["exponent"], "ewald.exponent", in: 0...100)
            guard exponent == 1 else { throw r.unsupported("Ewald exponent \(exponent) (only 1)") }
            let featureKey = try r.string(e["feature_key"], "ewald.feature_key")
            guard let head = heads.firstIndex(where: { $0.perAtomKey == featureKey }) else {
                throw r.fail("no head has per_atom_output_key '\(featureKey)' needed by the Ewald term")
            }
            chargeHead = head
            ewaldKey = try r.string(e["output_key"], "ewald.output_key")
            let dl = try r.number(e["dl"], "ewald.dl"), sigma = try r.number(e["sigma"], "ewald.sigma")
            let kmax = try r.number(e["k_sq_max"], "ewald.k_sq_max")
            guard dl > 0, sigma > 0, kmax > 0 else { throw r.fail("ewald dl, sigma and k_sq_max must be positive") }
            ewald = EwaldSettings(dl: dl, sigma: sigma, kSquaredMax: kmax,
                                  normFactor: try r.number(e["norm_factor"], "ewald.norm_factor"),
                                  removeSelfInteraction: try r.bool(e["remove_self_interaction"], "ewald.remove_self_interaction"))
        }

        // Which outputs make the potential energy: resolve energy_key through feature_add.
        let energyKey = try r.string(meta["energy_key"], "energy_key")
        var sums: [String: [String]] = [:]
        if let fa = meta["feature_add"], !fa.isNull {
            for (i, spec) in try r.array(fa, "feature_add").enumerated() {
                let keys = try r.array(spec["feature_keys"], "feature_add[\(i)].feature_keys").map { v throws(CACEError) in
                    try r.string(v, "feature_add[\(i)].feature_keys")
                }
                sums[try r.string(spec["output_key"], "feature_add[\(i)].output_key")] = keys
            }
        }
        var headWeight = [Double](repeating: 0, count: heads.count)
        var ewaldWeight = 0.0
        func resolve(_ key: String, depth: Int) throws(CACEError) {
            guard depth < 32 else { throw r.fail("feature_add outputs form a cycle at '\(key)'") }
            if let parts = sums[key] {
                for part in parts { try resolve(part, depth: depth + 1) }
            } else if let h = heads.firstIndex(where: { $0.outputKey == key }) {
                headWeight[h] += 1
            } else if key == ewaldKey {
                ewaldWeight += 1
            } else {
                throw r.fail("energy output '\(key)' is produced by no head, Ewald term or feature_add")
            }
        }
        try resolve(energyKey, depth: 0)

        // Reference energies.
        var atomicEnergies: [Double]? = nil
        if let ae = meta["atomic_energies"], !ae.isNull {
            guard case .object(let members) = ae else { throw r.fail("atomic_energies is not an object") }
            var e0 = [Double](repeating: 0, count: nz)
            for (key, v) in members {
                guard let z = Int(key), let index = zs.firstIndex(of: z) else {
                    throw r.fail("atomic_energies key '\(key)' is not an atomic number of the model")
                }
                e0[index] = try r.number(v, "atomic_energies.\(key)")
            }
            atomicEnergies = e0
        }

        var source = ""
        if case .string(let s)? = meta["source"] { source = s }

        self.atomicNumbers = zs
        self.cutoff = cutoff
        self.embeddingSize = c0
        self.channelCount = channels
        self.maxL = maxL
        self.maxNu = maxNu
        self.radialFunctionCount = nr
        self.radialBasisCount = nm
        self.invariantCount = q
        self.featureCount = featureCount
        self.parameterCount = r.used.reduce(0) { $0 + (container.tensors[$1]?.count ?? 0) }
        self.directedEdges = directed
        self.embedReceiver = embedReceiver
        self.radialBasis = radialBasis
        self.cutoffFunction = cutoffFunction
        self.angular = angular
        self.edgeChannels = edgeChannels
        self.radialTransform = radialTransform
        self.symmetrizer = symmetrizer
        self.layers = layers
        self.messageNorm = messageNorm
        self.heads = heads
        self.headEnergyWeight = headWeight
        self.ewald = ewald
        self.ewaldEnergyWeight = ewaldWeight
        self.chargeHead = chargeHead
        self.atomicEnergies = atomicEnergies
        self.energyKey = energyKey
        self.source = source
        try r.checkConsistency(of: self, groups: groups)
    }
}
