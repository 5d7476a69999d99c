extension CACEModel {
    /// Loads a model file; every inconsistency is a `CACEError` naming the file.
    public init(contentsOf path: String) throws(CACEError) {
        let container = try SafeTensors(contentsOf: path)
        try self.init(container: container, name: path)
    }

    /// Reads every section of the metadata (one reader each, in Model/Readers), then checks the
    /// fields that restate what the tensors fix (Model+Consistency.swift).
    public init(container: SafeTensors, name: String) throws(CACEError) {
        guard let text = container.metadata["cace"] else {
            throw .format("\(name): no 'cace' entry in the safetensors __metadata__ (not a CACE model file)")
        }
        let meta: JSONValue
        do { meta = try JSONParser.parse(Array(text.utf8)) } catch {
            throw .format("\(name): the 'cace' metadata is not valid JSON (\(error.description))")
        }
        var r = ModelFileReader(file: name, meta: meta, tensors: container.tensors)
        let version = try r.readFormatVersion()

        let sizes = try r.readSizes()
        let additions = try r.readFormatAdditions(version: version, sizes)
        let (radialBasis, cutoffFunction) = try r.readRadialBasisAndCutoff(sizes)
        let angular = try r.readAngular(maxL: sizes.maxL)
        let edgeChannels = try r.readEdgeChannels(sizes)
        let radialTransform = try r.readRadialTransform(sizes)
        let (symmetrizer, featureCount) = try r.readSymmetrizer(sizes, angularCount: angular.count)
        let messagePassing = try r.readMessagePassing(sizes, invariantCount: symmetrizer.featureCount,
                                                      angularCount: angular.count)
        let heads = try r.readHeads(featureCount: featureCount)
        let longRange = try r.readLongRange(heads: heads)
        let weights = try r.readEnergyWeights(heads: heads, longRangeKey: longRange.outputKey)
        let atomicEnergies = try r.readAtomicEnergies(sizes)
        let committee = try r.readCommittee(version: version, heads: heads, elementCount: sizes.zs.count)
        var source = ""
        if case .string(let s)? = meta["source"] { source = s }

        atomicNumbers = sizes.zs
        cutoff = sizes.cutoff
        embeddingSize = sizes.c0
        channelCount = sizes.channels
        maxL = sizes.maxL
        maxNu = sizes.maxNu
        radialFunctionCount = sizes.nr
        radialBasisCount = sizes.nm
        invariantCount = symmetrizer.featureCount
        self.featureCount = featureCount
        parameterCount = r.used.reduce(0) { $0 + (container.tensors[$1]?.count ?? 0) }
        directedEdges = edgeChannels.directed
        embedReceiver = sizes.embedReceiver
        self.radialBasis = radialBasis
        self.cutoffFunction = cutoffFunction
        self.angular = angular
        self.edgeChannels = edgeChannels.table
        self.radialTransform = radialTransform
        self.symmetrizer = symmetrizer
        selfInteraction = additions.selfInteraction
        formatVersion = version
        self.committee = committee
        layers = messagePassing.layers
        messageNorm = messagePassing.norm
        self.heads = heads
        headEnergyWeight = weights.heads
        ewald = longRange.settings
        ewaldEnergyWeight = weights.longRange
        chargeHead = longRange.chargeHead
        self.atomicEnergies = atomicEnergies
        energyKey = weights.energyKey
        self.source = source
        try r.checkConsistency(of: self, groups: angular.groups)
    }
}
