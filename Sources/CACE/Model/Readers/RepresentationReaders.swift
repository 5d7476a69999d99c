/// Readers of the representation's metadata sections (docs/model-format.md §3, §4.1–4.4):
/// sizes, radial basis and cutoff, angular monomials, embeddings, radial transform, symmetrizer.
extension ModelFileReader {
    /// The sizes every other section is checked against.
    struct Sizes {
        let zs: [Int]
        let cutoff: Double
        let c0, channels, maxL, maxNu, layerCount, nr, nm: Int
        let embedReceiver: Bool
        var nz: Int { zs.count }
    }

    /// Bound on the per-atom, per-layer A features (8 MB per atom in Double); the reference
    /// models need 160 to 2160, upstream's largest settings (max_l 4, 16 channels, 12 radial
    /// functions) 6720.
    static let maximumAPerAtom = 1 << 20

    mutating func readSizes() throws(CACEError) -> Sizes {
        let zs = try array(meta["zs"], "zs").enumerated().map { (i, v) throws(CACEError) in
            try integer(v, "zs[\(i)]", in: 1...118)
        }
        guard !zs.isEmpty, Set(zs).count == zs.count else { throw fail("'zs' is empty or repeats an element") }
        let cutoff = try number(meta["cutoff"], "cutoff")
        guard cutoff > 0, cutoff < 100 else { throw fail("cutoff \(cutoff) is not in (0, 100) Angstrom") }
        let c0 = try integer(meta["n_atom_basis"], "n_atom_basis", in: 1...64)
        let channels = try integer(meta["n_channels"], "n_channels", in: 1...4096)
        guard channels == c0 * c0 else { throw fail("n_channels \(channels) is not n_atom_basis^2 = \(c0 * c0)") }
        let maxL = try integer(meta["max_l"], "max_l", in: 0...8)
        let maxNu = try integer(meta["max_nu"], "max_nu", in: 1...4)
        let layerCount = try integer(meta["num_message_passing"], "num_message_passing", in: 0...16)
        let nr = try integer(meta["n_radial_func"], "n_radial_func", in: 1...256)
        let nm = try integer(meta["n_radial_basis"], "n_radial_basis", in: 1...1024)
        let embedReceiver = try bool(meta["embed_receiver_nodes"], "embed_receiver_nodes")
        // Every atom (owned and ghost) holds n_radial_basis x angular terms x n_channels values of
        // A per layer, which no tensor of that size backs: bound it before anything is allocated.
        let angularCount = (maxL + 1) * (maxL + 2) * (maxL + 3) / 6
        let perAtom = nm * angularCount * channels
        guard perAtom <= Self.maximumAPerAtom else {
            throw unsupported("n_radial_basis \(nm) x \(angularCount) angular terms (max_l \(maxL)) "
                + "x n_channels \(channels) = \(perAtom) values per atom and layer, more than the \(Self.maximumAPerAtom) "
                + "this library allocates per atom (published CACE models need under 10,000)")
        }
        return Sizes(zs: zs, cutoff: cutoff, c0: c0, channels: channels, maxL: maxL, maxNu: maxNu,
                     layerCount: layerCount, nr: nr, nm: nm, embedReceiver: embedReceiver)
    }

    mutating func readRadialBasisAndCutoff(_ s: Sizes) throws(CACEError) -> (RadialBasis, CutoffFunction) {
        let (nr, cutoff) = (s.nr, s.cutoff)
        let rb = try value(meta["radial_basis"], "radial_basis")
        let rbType = try string(rb["type"], "radial_basis.type")
        let rbTensors = try value(rb["tensors"], "radial_basis.tensors")
        let radialBasis: RadialBasis
        switch rbType {
        case "bessel":
            radialBasis = .bessel(
                frequencies: try tensor(rbTensors["bessel_weights"], "radial_basis.tensors.bessel_weights", shape: [nr]),
                prefactor: try scalar(rbTensors["prefactor"], "radial_basis.tensors.prefactor"))
        case "gaussian", "gaussian_centered":
            let widths = try tensor(rbTensors["widths"], "radial_basis.tensors.widths", shape: [nr])
            var offsets = [Double](repeating: 0, count: nr)
            if let o = rbTensors["offsets"], !o.isNull {
                offsets = try tensor(o, "radial_basis.tensors.offsets", shape: [nr])
            }
            guard widths.allSatisfy({ $0 != 0 }) else { throw fail("a Gaussian radial width is zero") }
            radialBasis = .gaussian(offsets: offsets, widths: widths)
        case "exponential_decay":
            let r0Name = try string(rbTensors["r0"], "radial_basis.tensors.r0")
            let r0Shape = tensors[r0Name]?.shape == [] ? [] : [nr]
            let r0 = try tensor(rbTensors["r0"], "radial_basis.tensors.r0", shape: r0Shape)
            guard r0.count == nr, r0.allSatisfy({ $0 != 0 }) else { throw fail("exponential-decay r0 has a zero or the wrong count") }
            radialBasis = .exponentialDecay(r0: r0, prefactor: try scalar(rbTensors["prefactor"], "radial_basis.tensors.prefactor"))
        default:
            throw unsupported("radial basis '\(rbType)' (supported: bessel, gaussian, gaussian_centered, exponential_decay)")
        }
        let cf = try value(meta["cutoff_fn"], "cutoff_fn")
        let cfType = try string(cf["type"], "cutoff_fn.type")
        let tensorCutoff = try scalar(.string("representation.cutoff_fn.cutoff"), "cutoff_fn.cutoff")
        let cutoffFunction: CutoffFunction
        switch cfType {
        case "polynomial":
            cutoffFunction = .polynomial(cutoff: tensorCutoff, p: try scalar(.string("representation.cutoff_fn.p"), "cutoff_fn.p"))
        case "cosine":
            cutoffFunction = .cosine(cutoff: tensorCutoff)
        case "mollifier":
            cutoffFunction = .mollifier(cutoff: tensorCutoff, eps: try scalar(.string("representation.cutoff_fn.eps"), "cutoff_fn.eps"))
        default:
            throw unsupported("cutoff function '\(cfType)' (supported: polynomial, cosine, mollifier)")
        }
        guard tensorCutoff > 0, abs(tensorCutoff - cutoff) <= 1e-5 * cutoff else {
            throw fail("cutoff_fn cutoff \(tensorCutoff) disagrees with cutoff \(cutoff)")
        }
        return (radialBasis, cutoffFunction)
    }

    mutating func readAngular(maxL: Int) throws(CACEError) -> AngularBasis {
        let angularMeta = try value(meta["angular"], "angular")
        let lxlylz = try array(angularMeta["lxlylz"], "angular.lxlylz")
        let expectedK = (maxL + 1) * (maxL + 2) * (maxL + 3) / 6
        guard lxlylz.count == expectedK else { throw fail("angular.lxlylz has \(lxlylz.count) entries, expected \(expectedK)") }
        var exponents: [(Int, Int, Int)] = []
        var degree: [Int] = []
        for (k, v) in lxlylz.enumerated() {
            let e = try array(v, "angular.lxlylz[\(k)]")
            guard e.count == 3 else { throw fail("angular.lxlylz[\(k)] is not a triple") }
            let a = try integer(e[0], "angular.lxlylz[\(k)]", in: 0...maxL)
            let b = try integer(e[1], "angular.lxlylz[\(k)]", in: 0...maxL)
            let c = try integer(e[2], "angular.lxlylz[\(k)]", in: 0...maxL)
            exponents.append((a, b, c))
            degree.append(a + b + c)
        }
        var groups: [Range<Int>] = []
        for l in 0...maxL {
            let lo = l * (l + 1) * (l + 2) / 6, hi = (l + 1) * (l + 2) * (l + 3) / 6
            guard degree[lo..<hi].allSatisfy({ $0 == l }) else {
                throw fail("angular.lxlylz is not ordered by degree (block l=\(l))")
            }
            groups.append(lo..<hi)
        }
        let angular = AngularBasis(maxL: maxL, exponents: exponents, degree: degree, groups: groups)
        return angular
    }

    /// chi[zs][zr][c] from the sender and receiver embeddings and the edge encoder.
    mutating func readEdgeChannels(_ s: Sizes) throws(CACEError) -> (table: [Double], directed: Bool) {
        let (nz, c0, channels) = (s.nz, s.c0, s.channels)
        let embedding = try value(meta["node_embedding"], "node_embedding")
        let sender = try tensor(embedding["sender"], "node_embedding.sender", shape: [nz, c0])
        let receiver = try tensor(embedding["receiver"], "node_embedding.receiver", shape: [nz, c0])
        let edgeEncoder = try value(meta["edge_encoder"], "edge_encoder")
        let encoderType = try string(edgeEncoder["type"], "edge_encoder.type")
        guard encoderType == "EdgeEncoder" else { throw unsupported("edge encoder '\(encoderType)'") }
        let directed = try bool(edgeEncoder["directed"], "edge_encoder.directed")
        // A small file must not make us allocate a huge table (118 elements x 4096 channels).
        guard nz * nz * channels <= 1 << 22 else {
            throw unsupported("\(nz) elements x \(channels) channels is too large a model")
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
        return (edgeChannels, directed)
    }

    /// W[l][n][m][c].
    mutating func readRadialTransform(_ s: Sizes) throws(CACEError) -> [Double] {
        let (maxL, nr, nm, channels) = (s.maxL, s.nr, s.nm, s.channels)
        let rt = try value(meta["radial_transform"], "radial_transform")
        return try perDegree(rt["weights"], "radial_transform.weights", degrees: maxL + 1,
                                              shape: [nr, nm, channels])
    }

    /// The explicit invariant table, and the read-out width it implies (checked against n_features).
    mutating func readSymmetrizer(_ s: Sizes, angularCount nk: Int) throws(CACEError) -> (Symmetrizer<Double>, featureCount: Int) {
        let (nm, channels, layerCount) = (s.nm, s.channels, s.layerCount)
        let sym = try value(meta["symmetrizer"], "symmetrizer")
        let q = try integer(sym["n_sym"], "symmetrizer.n_sym", in: 1...10_000)
        let table = try array(sym["table"], "symmetrizer.table")
        guard table.count == q else { throw fail("symmetrizer.table has \(table.count) features, n_sym is \(q)") }
        var termStart = [0]
        var factors: [(Int, Int, Int, Int)] = []
        var order: [Int] = []
        var prefactor: [Double] = []
        for (feature, terms) in table.enumerated() {
            for (t, term) in try array(terms, "symmetrizer.table[\(feature)]").enumerated() {
                let path = "symmetrizer.table[\(feature)][\(t)]"
                let pair = try array(term, path)
                guard pair.count == 2 else { throw fail("'\(path)' is not [indices, prefactor]") }
                let indices = try array(pair[0], path).map { v throws(CACEError) in try integer(v, path, in: 0...(nk - 1)) }
                guard (1...4).contains(indices.count) else { throw unsupported("'\(path)' has body order \(indices.count) (1 to 4 supported)") }
                let padded = indices + [Int](repeating: -1, count: 4 - indices.count)
                factors.append((padded[0], padded[1], padded[2], padded[3]))
                order.append(indices.count)
                prefactor.append(try number(pair[1], path))
            }
            termStart.append(factors.count)
        }
        let symmetrizer = Symmetrizer(featureCount: q, termStart: termStart, factors: factors, order: order, prefactor: prefactor)
        let featureCount = nm * q * channels * (layerCount + 1)
        let declaredFeatures = try integer(meta["n_features"], "n_features", in: 1...(1 << 22))
        guard declaredFeatures == featureCount else {
            throw fail("n_features \(declaredFeatures) is not n_radial_basis*n_sym*n_channels*(T+1) = \(featureCount)")
        }
        return (symmetrizer, featureCount)
    }
}
