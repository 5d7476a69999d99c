/// A single domain holding all atoms of a structure plus the periodic images within the
/// cutoff as ghost atoms, with a cell-list neighbour list. It is its own communicator:
/// a ghost's owner is the atom it is an image of.
final class ReplicatedDomain: DomainCommunicator {
    let localCount: Int
    private(set) var totalCount: Int
    private var positions: [Double]
    private var species: [Int32]
    private var owner: [Int]
    /// The cell used for images (nil without periodicity).
    let cell: [Double]?
    private var neighborCounts: [Int32]
    private var neighborIndices: [Int32]
    private var neighborOffsets: [Int]

    init(structure: Structure, species atomSpecies: [Int32], cutoff: Double) throws(CACEError) {
        let n = structure.count
        guard structure.positions.count == 3 * n else { throw .structure("positions do not match the atom count") }
        for (k, v) in structure.positions.enumerated() where !(abs(v) <= Self.maximumCoordinate) {
            throw .geometry("atom \(k / 3) has coordinate \(v): coordinates must be finite and within "
                + "\(Self.maximumCoordinate) A of the origin, where double precision still resolves 1e-7 A")
        }
        localCount = n
        positions = structure.positions
        species = atomSpecies
        owner = Array(0..<n)
        let periodic = [structure.pbc.0, structure.pbc.1, structure.pbc.2]
        if periodic.contains(true) {
            guard let h = structure.cell, h.count == 9, h.allSatisfy({ $0.isFinite }) else {
                throw .structure("a periodic structure needs a cell (Lattice=...)")
            }
            cell = h
            for a in 0..<3 where periodic[a] {
                let length = (h[3 * a] * h[3 * a] + h[3 * a + 1] * h[3 * a + 1] + h[3 * a + 2] * h[3 * a + 2]).squareRoot()
                guard length <= Self.maximumCoordinate else {
                    throw .geometry("periodic lattice vector \(a + 1) is \(length) A long, beyond \(Self.maximumCoordinate) A: "
                        + "make that direction non-periodic (pbc=F) instead")
                }
            }
            try Self.addImages(cell: h, periodic: periodic, cutoff: cutoff, positions: &positions,
                               species: &species, owner: &owner, localCount: n)
        } else {
            cell = nil
        }
        totalCount = owner.count
        (neighborCounts, neighborIndices, neighborOffsets) = try Self.neighbors(positions: positions, localCount: n,
                                                                                 totalCount: owner.count, cutoff: cutoff)
    }

    /// Largest |coordinate| and lattice-vector length accepted, in Angstrom.
    static let maximumCoordinate = 1e9

    /// Periodic images are refused beyond this many per atom (a cell far smaller than the
    /// cutoff); a 1-atom fcc cell with a 6 A cutoff needs about 700.
    static let maximumImagesPerAtom = 20_000

    /// Wraps the atoms into the cell along periodic directions and appends every image that
    /// can be within `cutoff` of an atom in the cell.
    private static func addImages(cell h: [Double], periodic: [Bool], cutoff: Double, positions: inout [Double],
                                  species: inout [Int32], owner: inout [Int], localCount n: Int) throws(CACEError) {
        let volume = h[0] * (h[4] * h[8] - h[5] * h[7]) - h[1] * (h[3] * h[8] - h[5] * h[6]) + h[2] * (h[3] * h[7] - h[4] * h[6])
        var lengthProduct = 1.0
        for a in 0..<3 {
            let squared: Double = h[3 * a] * h[3 * a] + h[3 * a + 1] * h[3 * a + 1] + h[3 * a + 2] * h[3 * a + 2]
            lengthProduct *= squared.squareRoot()
        }
        guard abs(volume) > 1e-12 * lengthProduct else {
            throw .structure("the cell has zero volume (its lattice vectors are linearly dependent)")
        }
        // Rows of the inverse transpose: fractional coordinate s_a = x . inv[a].
        let inv: [Double] = [
            (h[4] * h[8] - h[5] * h[7]) / volume, (h[5] * h[6] - h[3] * h[8]) / volume, (h[3] * h[7] - h[4] * h[6]) / volume,
            (h[7] * h[2] - h[8] * h[1]) / volume, (h[8] * h[0] - h[6] * h[2]) / volume, (h[6] * h[1] - h[7] * h[0]) / volume,
            (h[1] * h[5] - h[2] * h[4]) / volume, (h[2] * h[3] - h[0] * h[5]) / volume, (h[0] * h[4] - h[1] * h[3]) / volume,
        ]
        var reach = [0, 0, 0]
        var margin = [0.0, 0.0, 0.0]
        var imagesPerAtom = 1.0   // (2 margin + 1) per periodic direction: the volume the images fill, in cells
        for a in 0..<3 where periodic[a] {
            // Spacing of lattice planes a is 1/|inv[a]|; images out to cutoff past the cell are needed.
            let norm = (inv[3 * a] * inv[3 * a] + inv[3 * a + 1] * inv[3 * a + 1] + inv[3 * a + 2] * inv[3 * a + 2]).squareRoot()
            margin[a] = cutoff * norm
            imagesPerAtom *= 2 * margin[a] + 1
        }
        guard imagesPerAtom <= Double(maximumImagesPerAtom) else {
            throw .geometry("the cell is far smaller than the cutoff (\(cutoff) A): each atom would need about "
                + "\(Int(imagesPerAtom.rounded())) periodic images (limit \(maximumImagesPerAtom)). Check the Lattice "
                + "(units are Angstrom), or repeat the cell")
        }
        for a in 0..<3 where periodic[a] { reach[a] = Int(margin[a].rounded(.up)) }
        var fractional = [Double](repeating: 0, count: 3 * n)
        for i in 0..<n {
            for a in 0..<3 {
                var s = positions[3 * i] * inv[3 * a] + positions[3 * i + 1] * inv[3 * a + 1] + positions[3 * i + 2] * inv[3 * a + 2]
                if periodic[a] {
                    let shift = s.rounded(.down)
                    s -= shift
                    if s >= 1 { s -= 1 }
                    for c in 0..<3 { positions[3 * i + c] -= shift * h[3 * a + c] }
                }
                fractional[3 * i + a] = s
            }
        }
        let estimate = Double(n) * imagesPerAtom
        guard estimate <= 2e8 else { throw .geometry("the structure needs too many periodic images (about \(Int(estimate)))") }
        for s0 in -reach[0]...reach[0] {
            for s1 in -reach[1]...reach[1] {
                for s2 in -reach[2]...reach[2] where s0 != 0 || s1 != 0 || s2 != 0 {
                    let shift = [Double(s0), Double(s1), Double(s2)]
                    let offset = (0..<3).map { c in shift[0] * h[c] + shift[1] * h[3 + c] + shift[2] * h[6 + c] }
                    for i in 0..<n {
                        var keep = true
                        for a in 0..<3 where periodic[a] {
                            let s = fractional[3 * i + a] + shift[a]
                            if s < -margin[a] || s > 1 + margin[a] { keep = false; break }
                        }
                        guard keep else { continue }
                        let image = (positions[3 * i] + offset[0], positions[3 * i + 1] + offset[1], positions[3 * i + 2] + offset[2])
                        positions.append(image.0); positions.append(image.1); positions.append(image.2)
                        species.append(species[i])
                        owner.append(i)
                    }
                }
            }
        }
    }

    /// Full neighbour list of the owned atoms over all atoms, by cell lists (linear in N). Bins are
    /// half a cutoff wide (a 5x5x5 block of them holds 58 % fewer candidates than 3x3x3 full
    /// ones), and atoms are sorted by bin, so that each row of bins is contiguous.
    private static func neighbors(positions x: [Double], localCount: Int, totalCount: Int, cutoff: Double)
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

    /// Neighbour pairs of the owned atoms.
    var neighborCount: Int { neighborIndices.count }

    /// Runs `body` with a view of this domain's atoms and neighbour list.
    func withAtomsView<R>(boundary: Boundary, _ body: (AtomsView) throws(CACEError) -> R) throws(CACEError) -> R {
        let ilist = (0..<Int32(localCount)).map { $0 }
        return try positions.withUnsafeBufferPointer { (x) throws(CACEError) -> R in
            try species.withUnsafeBufferPointer { (z) throws(CACEError) -> R in
                try neighborIndices.withUnsafeMutableBufferPointer { (idx) throws(CACEError) -> R in
                    let base = idx.baseAddress
                    let lists: [UnsafeMutablePointer<Int32>?] = (0..<localCount).map { i in
                        base.map { $0 + neighborOffsets[i] }
                    }
                    return try lists.withUnsafeBufferPointer { (l) throws(CACEError) -> R in
                        try ilist.withUnsafeBufferPointer { (il) throws(CACEError) -> R in
                            try neighborCounts.withUnsafeBufferPointer { (nc) throws(CACEError) -> R in
                                let view = NeighborListView(count: localCount, atoms: il.baseAddress.unsafelyUnwrapped,
                                                            counts: nc.baseAddress.unsafelyUnwrapped,
                                                            lists: l.baseAddress.unsafelyUnwrapped, mask: -1)
                                return try body(AtomsView(localCount: localCount, totalCount: totalCount,
                                                          positions: x.baseAddress.unsafelyUnwrapped,
                                                          species: z.baseAddress.unsafelyUnwrapped,
                                                          neighbors: view, boundary: boundary))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds ghost rows into their owners' rows.
    func foldGhostRows(_ rows: inout [Double], width: Int) {
        rows.withUnsafeMutableBufferPointer { reverseExchange($0.baseAddress.unsafelyUnwrapped, width: width) }
    }

    func forwardExchange(_ rows: UnsafeMutablePointer<Double>, width: Int) {
        for g in localCount..<totalCount {
            let source = rows + owner[g] * width, target = rows + g * width
            for c in 0..<width { target[c] = source[c] }
        }
    }

    func reverseExchange(_ rows: UnsafeMutablePointer<Double>, width: Int) {
        for g in localCount..<totalCount {
            let source = rows + g * width, target = rows + owner[g] * width
            for c in 0..<width { target[c] += source[c] }
        }
    }

    func sumOverRanks(_ values: UnsafeMutablePointer<Double>, count: Int) {}
}
