/// The buffers one worker thread of the atom-by-atom path reuses.
final class ThreadScratch: @unchecked Sendable {
    let atom = ScratchBuffer()        // per-atom geometry
    let features = ScratchBuffer()    // per-atom features, in the evaluation's precision
    let senders = IndexBuffer()
    let forces = ScratchBuffer()
    let virials = ScratchBuffer()
    let scatter = ScratchBuffer()     // per-worker sender adjoints (message passing)
    let decays = ScratchBuffer()      // MessageAr decays of the last layer for one atom
}

/// The buffers an evaluator reuses.
final class EvaluatorScratch {
    private var threadScratch: [ThreadScratch] = []

    /// Scratch for `count` worker threads.
    func threads(_ count: Int) -> [ThreadScratch] {
        while threadScratch.count < count { threadScratch.append(ThreadScratch()) }
        return threadScratch
    }

    let edges = ScratchBuffer()       // per-edge arrays
    let edgeIndex = IndexBuffer()     // senders and receivers of edges
    let features = ScratchBuffer()    // per-atom feature arrays of every layer
    let adjoints = ScratchBuffer()    // their adjoints
    let perAtom = ScratchBuffer()     // head outputs, charges, their adjoints
    let decays = ScratchBuffer()      // MessageAr exponentials per edge
}
