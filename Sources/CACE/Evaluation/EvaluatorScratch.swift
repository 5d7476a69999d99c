/// The buffers one worker thread of the atom-by-atom path reuses.
final class ThreadScratch: @unchecked Sendable {
    let atom = ScratchBuffer()        // per-atom geometry
    let features = ScratchBuffer()    // per-atom features, in the evaluation's precision
    let senders = IndexBuffer()
    let forces = ScratchBuffer()
    let virials = ScratchBuffer()
    let scatter = ScratchBuffer()     // per-worker sender adjoints (message passing)
    let layer = ScratchBuffer()       // per-atom message-passing work, in the evaluation's precision
    let layerIndex = IndexBuffer()
    let canonical = ScratchBuffer()   // canonical power sums and per-edge radial functions (T)
    let canonicalGeometry = ScratchBuffer()
}

/// The buffers an evaluator reuses.
final class EvaluatorScratch {
    private var threadScratch: [ThreadScratch] = []

    /// Scratch for `count` worker threads.
    func threads(_ count: Int) -> [ThreadScratch] {
        while threadScratch.count < count { threadScratch.append(ThreadScratch()) }
        return threadScratch
    }

    let features = ScratchBuffer()    // per-atom features of the layers t < T (A, omega)
    let adjoints = ScratchBuffer()    // their adjoints
    let perAtom = ScratchBuffer()     // head outputs, charges, their adjoints
    let keptForwardState = ScratchBuffer()   // the long-range model's edge sums and first-layer adjoints (T)
    let exchange = ScratchBuffer()    // single precision: rows staged in Double for the host's exchange

    /// Bytes held by each kind of buffer (the threads' buffers summed), for memory reports.
    var usage: [(component: String, bytes: Int)] {
        let perThread = threadScratch.reduce(0) { total, t in
            total + t.atom.bytes + t.features.bytes + t.senders.bytes + t.forces.bytes + t.virials.bytes
                + t.scatter.bytes + t.layer.bytes + t.canonical.bytes + t.canonicalGeometry.bytes
        }
        return [("layer_features", features.bytes), ("layer_adjoints", adjoints.bytes),
                ("exchange_staging", exchange.bytes), ("per_atom_outputs", perAtom.bytes),
                ("kept_forward_state", keptForwardState.bytes),
                ("per_thread_scratch", perThread)]
    }
}
