import CACE

/// The neighbour list of a `ReplicatedDomain`, by cell lists.
extension ReplicatedDomain {
    /// Full neighbour list of the owned atoms over all atoms, by cell lists (linear in N). Bins are
    /// half a cutoff wide (a 5x5x5 block of them holds 58 % fewer candidates than 3x3x3 full
    /// ones), and atoms are sorted by bin, so that each row of bins is contiguous.
    static func neighbors(positions x: [Double], localCount: Int, totalCount: Int, cutoff: Double)
        throws(CACEError) -> ([Int32], [Int32], [Int]) {
        var lo = [Double.infinity, .infinity, .infinity], hi = [-Double.infinity, -.infinity, -.infinity]
        for a in 0..<totalCount {
            for c in 0..<3 { lo[c] = min(lo[c], x[3 * a + c]); hi[c] = max(hi[c], x[3 * a + c]) }
        }
        // Bins at least half a cutoff wide; widened if the box would need too many bins (counted
        // in Double: sparse clusters millions of Angstrom wide would overflow Int).
        var width = cutoff / 2
        func binCounts() -> [Double] { (0..<3).map { max(1, ((hi[$0] - lo[$0]) / width).rounded(.down) + 1) } }
        while binCounts().reduce(1, *) > Double(8 * totalCount + 64) { width *= 2 }
        let bins = binCounts().map { Int($0) }
        let maximumEdges = Evaluator.maximumNeighborsPerAtom * localCount
        func bin(_ a: Int, _ c: Int) -> Int { min(bins[c] - 1, Int((x[3 * a + c] - lo[c]) / width)) }
        let binCount = bins[0] * bins[1] * bins[2]
        var binOf = [Int](repeating: 0, count: totalCount)
        var binStart = [Int](repeating: 0, count: binCount + 1)
        for a in 0..<totalCount {
            binOf[a] = (bin(a, 0) * bins[1] + bin(a, 1)) * bins[2] + bin(a, 2)
            binStart[binOf[a] + 1] += 1
        }
        for b in 0..<binCount { binStart[b + 1] += binStart[b] }
        var fill = binStart
        var sorted = [Int32](repeating: 0, count: totalCount)
        var sortedX = [Double](repeating: 0, count: 3 * totalCount)
        for a in 0..<totalCount {
            let s = fill[binOf[a]]
            fill[binOf[a]] += 1
            sorted[s] = Int32(a)
            for c in 0..<3 { sortedX[3 * s + c] = x[3 * a + c] }
        }
        let cutoffSquared = cutoff * cutoff
        let reach = Int((cutoff / width).rounded(.up))   // 2, or 1 for widened bins
        var counts = [Int32](repeating: 0, count: localCount)
        var indices = [Int32](repeating: 0, count: 64 * localCount + 64)
        var used = 0
        var offsets = [Int](repeating: 0, count: localCount + 1)
        sortedX.withUnsafeBufferPointer { sx in
            sorted.withUnsafeBufferPointer { order in
                for i in 0..<localCount {
                    offsets[i] = used
                    let (b0, b1, b2) = (bin(i, 0), bin(i, 1), bin(i, 2))
                    let xi = (x[3 * i], x[3 * i + 1], x[3 * i + 2])
                    let self32 = Int32(i)
                    for c0 in max(0, b0 - reach)...min(bins[0] - 1, b0 + reach) {
                        for c1 in max(0, b1 - reach)...min(bins[1] - 1, b1 + reach) {
                            // bins b2 - reach ... b2 + reach of a row are contiguous in the sorted order
                            let row = (c0 * bins[1] + c1) * bins[2]
                            let first = binStart[row + max(0, b2 - reach)]
                            let end = binStart[row + min(bins[2] - 1, b2 + reach) + 1]
                            if used + (end - first) > indices.count {
                                indices.append(contentsOf: repeatElement(0, count: max(indices.count, end - first)))
                            }
                            // Every candidate is written and the count advances only for neighbours:
                            // no branch on the distance test, which is taken about one time in four.
                            indices.withUnsafeMutableBufferPointer { out in
                                var n = used
                                for s in first..<end {
                                    let dx = xi.0 - sx[3 * s], dy = xi.1 - sx[3 * s + 1], dz = xi.2 - sx[3 * s + 2]
                                    let d2 = dx * dx + dy * dy + dz * dz
                                    let j = order[s]
                                    out[n] = j
                                    n += (d2 < cutoffSquared ? 1 : 0) & (j != self32 ? 1 : 0)
                                }
                                used = n
                            }
                        }
                    }
                    counts[i] = Int32(used - offsets[i])
                    if used > maximumEdges { break }
                }
            }
        }
        guard used <= maximumEdges else { throw Evaluator.tooManyNeighbors(edges: used, atoms: localCount, cutoff: cutoff) }
        offsets[localCount] = used
        indices.removeLast(indices.count - used)
        return (counts, indices, offsets)
    }
}
