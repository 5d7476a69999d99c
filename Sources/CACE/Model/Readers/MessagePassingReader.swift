/// Reader of the message-passing section (docs/model-format.md §3, spec §5).
extension ModelFileReader {
    mutating func readMessagePassing(_ s: Sizes, invariantCount q: Int, angularCount nk: Int)
        throws(CACEError) -> (layers: [MessagePassingLayer], norm: Double) {
        let (layerCount, maxL, nm, channels) = (s.layerCount, s.maxL, s.nm, s.channels)
        let mp = try value(meta["message_passing"], "message_passing")
        let layerSpecs = try array(mp["layers"], "message_passing.layers")
        guard layerSpecs.count == layerCount else {
            throw fail("message_passing.layers has \(layerSpecs.count) entries, num_message_passing is \(layerCount)")
        }
        var layers: [MessagePassingLayer] = []
        let perDegreeShape = [nm, channels]
        for (t, spec) in layerSpecs.enumerated() {
            let path = "message_passing.layers[\(t)]"
            if case .object(let members) = spec {
                for key in members.keys where !["M", "Ar", "Bchi"].contains(key) {
                    throw unsupported("message type '\(key)' in '\(path)' (supported: M, Ar, Bchi)")
                }
            } else { throw fail("'\(path)' is not an object") }
            var memory: [Double]? = nil
            if let m = spec["M"], !m.isNull {
                memory = try perDegree(m["memory_coef"], path + ".M.memory_coef", degrees: maxL + 1, shape: perDegreeShape)
            }
            var arPrefactor: [Double]? = nil, arInverse: [Double]? = nil
            if let ar = spec["Ar"], !ar.isNull {
                arPrefactor = try perDegree(ar["prefactor"], path + ".Ar.prefactor", degrees: maxL + 1, shape: perDegreeShape)
                arInverse = try perDegree(ar["invr0"], path + ".Ar.invr0", degrees: maxL + 1, shape: perDegreeShape)
            }
            var bchi: MessagePassingLayer.Bchi? = nil
            if let b = spec["Bchi"], !b.isNull {
                let sharedChannels = try bool(b["shared_channels"], path + ".Bchi.shared_channels")
                let sharedL = try bool(b["shared_l"], path + ".Bchi.shared_l")
                let nl = sharedL ? 1 : maxL + 1, nc = sharedChannels ? 1 : channels
                let network = try self.network(b["hnet"], path + ".Bchi.hnet", inputs: nm * q * channels, outputs: nl * nc)
                var lMatrix: [Double]? = nil
                if !sharedL { lMatrix = try tensor(b["l_matrix"], path + ".Bchi.l_matrix", shape: [maxL + 1, nk]) }
                bchi = .init(network: network, degreeCount: nl, channelCount: nc, lMatrix: lMatrix)
            }
            layers.append(MessagePassingLayer(memory: memory, arPrefactor: arPrefactor, arInverseLength: arInverse, bchi: bchi))
        }
        let messageNorm = layerCount > 0 ? try number(meta["mp_norm_factor"], "mp_norm_factor") : 0
        return (layers, messageNorm)
    }
}
