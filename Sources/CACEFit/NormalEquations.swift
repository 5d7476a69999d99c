import CACE
import Foundation

/// The normal equations of the weighted, unscaled design matrix over all P columns (features,
/// then E0 per element): G = Psi^T W^2 Psi (upper triangle) and h = Psi^T W^2 y, with what the
/// column scaling needs. Memory is P^2 whatever the number of frames: each frame's block is
/// added and dropped (linear-fit.md §5). Column scaling is diagonal, so scaling G afterwards
/// gives the scaled problem's G to the same relative precision.
struct NormalEquations: Sendable {
    let columns: Int
    var gram: [Double]
    var rhs: [Double]
    /// Per feature: the sum of B_if^2 over the atoms of the feature's receiver element.
    var featureSquares: [Double]
    var elementCounts: [Int]
    var edges = 0
    /// Rows with a non-zero weight.
    var observations = 0
    var configTypes: Set<String> = []
    /// Instead of G and h: the streamed QR of the weighted rows, columns reordered E0s first
    /// (the Bayesian solver's input).
    var triangular: TriangularAccumulator?

    init(features: Int, elements: Int, triangular streamed: Bool = false) {
        columns = features + elements
        gram = Array(repeating: 0, count: streamed ? 0 : columns * columns)
        rhs = Array(repeating: 0, count: streamed ? 0 : columns)
        triangular = streamed ? TriangularAccumulator(columns: columns) : nil
        featureSquares = Array(repeating: 0, count: features)
        elementCounts = Array(repeating: 0, count: elements)
    }

    /// Adds one frame's rows, each weighted by `weights` (a weight of 0 drops the row).
    mutating func add(_ block: FrameBlock, weights w: [Double]) throws(FitError) {
        guard block.columns == columns, w.count == block.rows else {
            throw .internal("a block of \(block.rows) x \(block.columns) with \(w.count) weights for \(columns) columns")
        }
        let m = block.rows, features = featureSquares.count
        if var t = triangular {
            triangular = nil   // no copy of the accumulator while it is updated
            var row = [Double](repeating: 0, count: columns)
            for r in 0..<m where w[r] != 0 {
                for j in 0..<columns {   // E0 columns first
                    let col = j < columns - features ? features + j : j - (columns - features)
                    row[j] = block.design[col * m + r] * w[r]
                }
                try row.withUnsafeBufferPointer { (p) throws(FitError) in try t.add(row: p, target: block.targets[r] * w[r]) }
            }
            triangular = t
        } else {
            var a = block.design
            for col in 0..<columns { for r in 0..<m { a[col * m + r] *= w[r] } }
            let y = zip(block.targets, w).map { $0 * $1 }
            try LAPACK.addGram(&gram, n: columns, a: a, m: m)
            try LAPACK.addTransposedProduct(&rhs, n: columns, a: a, m: m, y: y)
        }
        for f in 0..<featureSquares.count { featureSquares[f] += block.featureSquares[f] }
        for z in 0..<elementCounts.count { elementCounts[z] += block.elementCounts[z] }
        edges += block.edges
        observations += w.filter { $0 != 0 }.count
        configTypes.insert(block.configType)
    }

    mutating func merge(_ other: NormalEquations) throws(FitError) {
        if var t = triangular, let o = other.triangular {
            try t.merge(o)
            triangular = t
        }
        for k in 0..<gram.count { gram[k] += other.gram[k] }
        for k in 0..<rhs.count { rhs[k] += other.rhs[k] }
        for f in 0..<featureSquares.count { featureSquares[f] += other.featureSquares[f] }
        for z in 0..<elementCounts.count { elementCounts[z] += other.elementCounts[z] }
        edges += other.edges
        observations += other.observations
        configTypes.formUnion(other.configTypes)
    }

    /// The scaled system over the `active` columns: G_jk s_j s_k (full symmetric) and h_j s_j.
    func scaled(active: [Int], scale: [Double]) -> (gram: [Double], rhs: [Double]) {
        let n = active.count
        var g = [Double](repeating: 0, count: n * n)
        for (k, ck) in active.enumerated() {
            for (j, cj) in active.enumerated() {
                let (lo, hi) = cj <= ck ? (cj, ck) : (ck, cj)   // the upper triangle holds (lo, hi)
                g[k * n + j] = gram[hi * columns + lo] * scale[cj] * scale[ck]
            }
        }
        return (g, active.map { rhs[$0] * scale[$0] })
    }

    /// Accumulates the frames' normal equations on `threads` threads without keeping their
    /// blocks, except the first `keep` (for the round-trip check). Frame k goes to worker
    /// k mod threads and the workers' sums are merged in order, so the result does not depend
    /// on scheduling. BLAS calls are serialised (OpenBLAS is not assumed reentrant).
    static func accumulate(_ frames: [LabelledFrame], model: CACEModel, spec: LinearCACESpec, threads: Int, keep: Int,
                           triangular: Bool = false,
                           weights: @escaping @Sendable (FrameBlock) -> [Double],
                           progress: (@Sendable (String) -> Void)?, label: String) throws(FitError) -> (NormalEquations, [FrameBlock]) {
        final class Shared: @unchecked Sendable {
            let lock = NSLock(), blas = NSLock()
            var sums: [NormalEquations]
            var kept: [FrameBlock?]
            var error: FitError?
            var done = 0
            init(_ sums: [NormalEquations], keep: Int) { self.sums = sums; kept = Array(repeating: nil, count: keep) }
        }
        let workers = max(1, min(threads, frames.count))
        let empty = NormalEquations(features: spec.featureCount, elements: spec.elementCount, triangular: triangular)
        let keep = min(keep, frames.count)
        let shared = Shared(Array(repeating: empty, count: workers), keep: keep)
        let total = frames.count, step = max(1, total / 10)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let evaluator = Evaluator(model: model)
            var sum = empty
            do throws(FitError) {
                for index in stride(from: worker, to: total, by: workers) {
                    shared.lock.lock()
                    let stop = shared.error != nil
                    shared.lock.unlock()
                    if stop { return }
                    let block = try FrameBlock(frame: frames[index], evaluator: evaluator, spec: spec)
                    shared.blas.lock()
                    defer { shared.blas.unlock() }
                    try sum.add(block, weights: weights(block))
                    shared.lock.lock()
                    if index < keep { shared.kept[index] = block }
                    shared.done += 1
                    let done = shared.done
                    shared.lock.unlock()
                    if let progress, done % step == 0 || done == total { progress("\(label): normal equations of \(done)/\(total) frames") }
                }
            } catch {
                shared.lock.lock()
                if shared.error == nil { shared.error = error }
                shared.lock.unlock()
                return
            }
            shared.lock.lock()
            shared.sums[worker] = sum
            shared.lock.unlock()
        }
        if let error = shared.error { throw error }
        var out = shared.sums[0]
        for w in 1..<workers { try out.merge(shared.sums[w]) }
        if var t = out.triangular {
            try t.flush()
            out.triangular = t
        }
        return (out, shared.kept.compactMap { $0 })
    }
}
