/// `committee` (format version 2): K linear read-outs that share the representation.
extension ModelFileReader {
    /// Reads the committee, if the file has one. It needs format version 2 and a model whose
    /// energy is one linear read-out (one head, a single identity layer, no linear_nn): the
    /// members replace that layer's weights and the reference energies.
    mutating func readCommittee(version: Int, heads: [ReadoutHead], elementCount: Int) throws(CACEError) -> Committee? {
        guard let spec = meta["committee"], !spec.isNull else { return nil }
        guard version >= 2 else { throw fail("'committee' needs format_version 2 (the file says \(version))") }
        guard heads.count == 1, let head = heads.first, head.linear == nil, head.network.layers.count == 1,
              let layer = head.network.layers.first, layer.activation == .identity, layer.outputs == 1 else {
            throw unsupported("a committee needs a model whose energy is one linear read-out (one head with a single "
                + "identity layer, as `cace fit` writes); this model's read-out is not linear")
        }
        let count = try integer(spec["members"], "committee.members", in: 2...1024)
        let weights = try tensor(spec["weights"], "committee.weights", shape: [count, layer.inputs])
        let energies = try tensor(spec["atomic_energies"], "committee.atomic_energies", shape: [count, elementCount])
        return Committee(count: count, featureCount: layer.inputs, weights: weights, atomicEnergies: energies,
                         bias: layer.bias?.first ?? 0)
    }
}
