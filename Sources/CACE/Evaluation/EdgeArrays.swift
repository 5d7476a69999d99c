#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The edges of the layered path: geometry, edge scalars and the adjoints each edge collects.
extension Evaluator {
    /// Offsets of the per-edge arrays inside one allocation.
    struct EdgeArrays {
        let count: Int
        let receivers: UnsafeMutablePointer<Int>
        let senders: UnsafeMutablePointer<Int>
        let vectors: UnsafeMutablePointer<Double>       // [e][3]
        let lengths: UnsafeMutablePointer<Double>
        let cutoff: UnsafeMutablePointer<Double>        // f(d)
        let cutoffDerivative: UnsafeMutablePointer<Double>
        let rho: UnsafeMutablePointer<Double>           // [e][n]
        let rhoDerivative: UnsafeMutablePointer<Double>
        let y: UnsafeMutablePointer<Double>             // [e][k]
        let yBar: UnsafeMutablePointer<Double>          // [e][k] adjoint of Y, folded from that of rho (x) Y
        let dBar: UnsafeMutablePointer<Double>          // [e] extra dE/dd (MessageAr)
        /// Edges of the ii-th listed atom: start[ii] ..< start[ii + 1].
        let start: UnsafeMutablePointer<Int>
    }

    /// Collects the edges of all listed owned atoms.
    func buildEdges(_ atoms: AtomsView) throws(CACEError) -> EdgeArrays {
        let m = model
        let nr = m.radialFunctionCount, nk = m.angularCount
        let list = atoms.neighbors
        let x = atoms.positions
        let cutoffSquared = m.cutoff * m.cutoff
        var bound = 0
        for ii in 0..<list.count { bound += Int(list.counts[Int(list.atoms[ii])]) }
        let index = scratch.edgeIndex.reserve(2 * bound + list.count + 1 + 1)
        let perEdge = 3 + 1 + 2 + 2 * nr + nk + nk + 1
        var base = scratch.edges.reserve(perEdge * bound + 1)
        func take(_ n: Int) -> UnsafeMutablePointer<Double> { defer { base += n * bound }; return base }
        let arrays = EdgeArrays(count: 0, receivers: index, senders: index + bound, vectors: take(3), lengths: take(1),
                                cutoff: take(1), cutoffDerivative: take(1), rho: take(nr), rhoDerivative: take(nr),
                                y: take(nk), yBar: take(nk), dBar: take(1), start: index + 2 * bound)
        // Pass 1 (cheap, serial): which pairs are edges.
        var e = 0
        for ii in 0..<list.count {
            arrays.start[ii] = e
            let i = Int(list.atoms[ii])
            guard atoms.species[i] >= 0, let neighbours = list.lists[i] else { continue }
            for jj in 0..<Int(list.counts[i]) {
                let j = Int(neighbours[jj] & list.mask)
                guard atoms.species[j] >= 0 else { continue }
                let r = (x[3 * i] - x[3 * j], x[3 * i + 1] - x[3 * j + 1], x[3 * i + 2] - x[3 * j + 2])
                let d2 = r.0 * r.0 + r.1 * r.1 + r.2 * r.2
                guard d2 < cutoffSquared else { continue }
                guard d2 > 0 else { throw .geometry("atoms \(i) and \(j) are at the same position") }
                arrays.receivers[e] = i
                arrays.senders[e] = j
                arrays.vectors[3 * e] = r.0; arrays.vectors[3 * e + 1] = r.1; arrays.vectors[3 * e + 2] = r.2
                arrays.lengths[e] = d2.squareRoot()
                e += 1
            }
        }
        arrays.start[list.count] = e
        // Pass 2 (parallel): radial, cutoff and angular features of every edge.
        let workers = max(1, min(threadCount, list.count / 16))
        try? parallelChunks(count: list.count, workers: workers) { (_, range) in
            guard let first = range.first, let last = range.last else { return }
            var powers = [Double](repeating: 0, count: 3 * (m.maxL + 1))
            powers.withUnsafeMutableBufferPointer { pw in
                for edge in arrays.start[first]..<arrays.start[last + 1] {
                    let r = (arrays.vectors[3 * edge], arrays.vectors[3 * edge + 1], arrays.vectors[3 * edge + 2])
                    let (f, df) = kernels.edgeFeatures(r, arrays.lengths[edge], rho: arrays.rho + edge * nr,
                                                 rhoDerivative: arrays.rhoDerivative + edge * nr, y: arrays.y + edge * nk,
                                                 powers: pw.baseAddress.unsafelyUnwrapped)
                    arrays.cutoff[edge] = f
                    arrays.cutoffDerivative[edge] = df
                    for q in 0..<nk { arrays.yBar[edge * nk + q] = 0 }
                    arrays.dBar[edge] = 0
                }
            }
        }
        return EdgeArrays(count: e, receivers: arrays.receivers, senders: arrays.senders, vectors: arrays.vectors,
                          lengths: arrays.lengths, cutoff: arrays.cutoff, cutoffDerivative: arrays.cutoffDerivative,
                          rho: arrays.rho, rhoDerivative: arrays.rhoDerivative, y: arrays.y, yBar: arrays.yBar,
                          dBar: arrays.dBar, start: arrays.start)
    }
}
