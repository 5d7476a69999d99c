/// The descriptor API: the invariant features B that the read-out sees, and their derivatives,
/// computed by the evaluator's own kernels (so the two cannot drift apart). Linear fitting, the
/// canonical basis and per-atom computes build on it.
public struct Descriptors: Sendable {
    /// Layer-0 features per atom, F0 = M Q C, in upstream order (m Q + q) C + c.
    public var featureCount: Int
    /// The owned atoms described (indices into the domain's atoms), in neighbour-list order;
    /// atoms the model does not handle (element index -1) are left out.
    public var atoms: [Int]
    /// Layer-0 features, [atoms.count][featureCount].
    public var features: [Double]
    /// Edges within the cutoff of the described atoms, with derivatives only: receiver i (a
    /// described atom), sender j, and r_e = x_i - x_j ([E][3]).
    public var edgeReceivers: [Int]
    public var edgeSenders: [Int]
    public var edgeVectors: [Double]
    /// dB_i/dr_e of each edge's receiver, [E][featureCount][3]: the force of a linear read-out
    /// E = sum_i c . B_i is F_i = -sum_(e: receiver i) c . J_e + sum_(e: sender i) c . J_e.
    public var jacobians: [Double]
    /// Models with message passing: the read-out's input, the features of all T + 1 layers
    /// stacked, [atoms.count][stackedFeatureCount] in upstream order ((m Q + q) C + c)(T+1) + t.
    /// Without derivatives (layers t >= 1 depend on the neighbours' edges too).
    public var stackedFeatures: [Double]?
    public var stackedFeatureCount: Int
}

extension Evaluator {
    /// The layer-0 features of the owned atoms of `atoms` and, if `derivatives`, their
    /// Jacobians with respect to every edge vector; for models with message passing also the
    /// stacked read-out features (one full evaluation, through `communicator`).
    public func descriptors(_ atoms: AtomsView, derivatives: Bool,
                            communicator: any DomainCommunicator) throws(CACEError) -> Descriptors {
        try validate(atoms)
        let k = descriptorKernels
        let list = atoms.neighbors
        let f0 = model.radialBasisCount * model.invariantCount * model.channelCount
        let order = FeatureKernels<Double>.invariantMajorOrder(model)   // invariant-major f -> upstream order[f]
        var maxEdges = 1
        for ii in 0..<list.count { maxEdges = max(maxEdges, Int(list.counts[Int(list.atoms[ii])])) }
        var work = makeAtomWork(maxEdges: maxEdges, in: scratch.threads(1)[0], as: Double.self)
        var result = Descriptors(featureCount: f0, atoms: [], features: [], edgeReceivers: [], edgeSenders: [],
                                 edgeVectors: [], jacobians: [], stackedFeatures: nil, stackedFeatureCount: 0)
        for ii in 0..<list.count {
            let i = Int(list.atoms[ii])
            guard atoms.species[i] >= 0 else { continue }
            try atomFeatures(i, atoms, &work, k)
            let row = result.features.count
            result.atoms.append(i)
            result.features.append(contentsOf: repeatElement(0, count: f0))
            for f in 0..<f0 { result.features[row + order[f]] = work.x[f] }
            if derivatives { appendJacobians(of: i, atoms, &work, k, order: order, to: &result) }
        }
        if !model.layers.isEmpty { try addStackedFeatures(atoms, communicator: communicator, to: &result) }
        return result
    }

    /// One adjoint pass per feature f (seed xBar = e_f) through the evaluator's backward kernels.
    private func appendJacobians(of i: Int, _ atoms: AtomsView, _ work: inout AtomWork<Double>,
                                 _ k: FeatureKernels<Double>, order: [Int], to result: inout Descriptors) {
        let f0 = result.featureCount, stride = work.stride
        let realEdges = (0..<work.edgeCount).filter { work.senders[$0] >= 0 }   // padding has no sender
        let first = result.edgeReceivers.count
        for e in realEdges {
            result.edgeReceivers.append(i)
            result.edgeSenders.append(work.senders[e])
            result.edgeVectors += [work.vectors[3 * e], work.vectors[3 * e + 1], work.vectors[3 * e + 2]]
        }
        result.jacobians.append(contentsOf: repeatElement(0, count: realEdges.count * f0 * 3))
        for f in 0..<f0 {
            for q in 0..<k.featureCount { work.xBar[q] = 0 }
            work.xBar[f] = 1
            featureGradients(i, atoms, &work, k)
            for (local, e) in realEdges.enumerated() {
                let base = ((first + local) * f0 + order[f]) * 3
                for c in 0..<3 { result.jacobians[base + c] = work.g[c * stride + e] }
            }
        }
    }

    /// The read-out input of every described atom, from one evaluation of the layered path.
    private func addStackedFeatures(_ atoms: AtomsView, communicator: any DomainCommunicator,
                                    to result: inout Descriptors) throws(CACEError) {
        let width = model.featureCount
        var rowOf = [Int](repeating: -1, count: atoms.localCount)
        for (row, i) in result.atoms.enumerated() { rowOf[i] = row }
        var stacked = [Double](repeating: 0, count: result.atoms.count * width)
        var forces = [Double](repeating: 0, count: 3 * max(1, atoms.totalCount))
        let observer = featureObserver
        defer { featureObserver = observer }
        try stacked.withUnsafeMutableBufferPointer { (rows) throws(CACEError) in
            let base = rows.baseAddress
            featureObserver = { i, x in   // called once per atom; atoms differ between threads
                guard let base, i < rowOf.count, rowOf[i] >= 0 else { return }
                (base + rowOf[i] * width).update(from: x.baseAddress.unsafelyUnwrapped, count: width)
            }
            try forces.withUnsafeMutableBufferPointer { (f) throws(CACEError) in
                _ = try evaluate(atoms, into: EvaluationTargets(forces: f.baseAddress.unsafelyUnwrapped),
                                 communicator: communicator)
            }
        }
        result.stackedFeatures = stacked
        result.stackedFeatureCount = width
    }
}
