/// The kept integer vectors n of the periodic long-range term (model-format §4.7): |n_a| <= N_a
/// with N_a = max(1, floor(|a_a| / dl)), 0 < |k|^2 <= k_sq_max for k = n . b of the cell the set
/// is chosen from, and the first non-zero component of n positive (half of k-space). Both
/// methods sum over it; a pinned set keeps these n while the cell (and so each k) changes.
///
/// Stored as rows of consecutive n3 at fixed (n1, n2): the mask is a convex condition on n3, so
/// the kept n3 of one row always form one interval.
struct KSet: Sendable {
    let nMax: [Int]
    /// Rows: (n1, n2, first n3, first k index, count), in the order of the direct sum's tables.
    let rows: [(Int, Int, Int, Int, Int)]
    let count: Int
    /// Largest |n_a| of a kept vector per axis (what a mesh must resolve).
    let largest: [Int]

    /// The most integer vectors whose mask may be tested: about a second of work.
    static let maximumBox = 400_000_000.0

    init(cell h: [Double], settings: EwaldSettings) throws(CACEError) {
        let geometry = try CellGeometry(cell: h)
        var nMax = [0, 0, 0]
        for a in 0..<3 {
            let length = (h[3 * a] * h[3 * a] + h[3 * a + 1] * h[3 * a + 1] + h[3 * a + 2] * h[3 * a + 2]).squareRoot()
            let ratio = length / settings.dl
            guard ratio < 10_000 else {
                throw .geometry("the cell is too large for the long-range term: |a\(a + 1)| = \(length) A needs more than "
                    + "10000 k-vectors along it. Use a smaller periodic box")
            }
            nMax[a] = max(1, Int(ratio))   // upstream truncates
        }
        let box = nMax.reduce(1.0) { $0 * Double(2 * $1 + 1) }
        guard box <= Self.maximumBox else {
            throw .geometry("the long-range k-set of this cell spans \(nMax.map { 2 * $0 + 1 }) candidate k-vectors "
                + "(more than \(Int(Self.maximumBox))): the cell is too large for the long-range term")
        }
        self.nMax = nMax
        let b = geometry.reciprocal
        var rows: [(Int, Int, Int, Int, Int)] = []
        var count = 0
        var largest = [0, 0, 0]
        for n1 in -nMax[0]...nMax[0] {
            for n2 in -nMax[1]...nMax[1] {
                var rowStart = -1, firstN3 = 0
                for n3 in -nMax[2]...nMax[2] {
                    // Half space: the first non-zero index is positive.
                    let first = n1 != 0 ? n1 : (n2 != 0 ? n2 : n3)
                    guard first > 0 else { continue }
                    let kx = Double(n1) * b[0] + Double(n2) * b[3] + Double(n3) * b[6]
                    let ky = Double(n1) * b[1] + Double(n2) * b[4] + Double(n3) * b[7]
                    let kz = Double(n1) * b[2] + Double(n2) * b[5] + Double(n3) * b[8]
                    let k2 = kx * kx + ky * ky + kz * kz
                    guard k2 > 0, k2 <= settings.kSquaredMax else { continue }
                    if rowStart < 0 { rowStart = count; firstN3 = n3 }
                    count += 1
                    largest[2] = max(largest[2], abs(n3))
                }
                if rowStart >= 0 {
                    rows.append((n1, n2, firstN3, rowStart, count - rowStart))
                    largest[0] = max(largest[0], abs(n1))
                    largest[1] = max(largest[1], abs(n2))
                }
            }
        }
        self.rows = rows
        self.count = count
        self.largest = largest
    }
}

/// Volume and reciprocal vectors of a periodic cell (rows a, b, c).
struct CellGeometry {
    /// |det h|: the cell's volume whatever its handedness.
    let volume: Double
    /// Reciprocal vectors b_a (rows), b_a . a_c = 2 pi delta_ac.
    let reciprocal: [Double]

    init(cell h: [Double]) throws(CACEError) {
        guard h.count == 9 else { throw .argument("the cell must have 9 components") }
        // The signed determinant makes b_a . a_c = 2 pi delta_ac for left-handed cells too; the
        // energy's 1/V needs the volume itself.
        let determinant = h[0] * (h[4] * h[8] - h[5] * h[7]) - h[1] * (h[3] * h[8] - h[5] * h[6])
            + h[2] * (h[3] * h[7] - h[4] * h[6])
        guard determinant.isFinite, abs(determinant) > 1e-12 else { throw .geometry("the periodic cell has zero volume") }
        volume = abs(determinant)
        let f = 2 * Double.pi / determinant
        reciprocal = [f * (h[4] * h[8] - h[5] * h[7]), f * (h[5] * h[6] - h[3] * h[8]), f * (h[3] * h[7] - h[4] * h[6]),
                      f * (h[7] * h[2] - h[8] * h[1]), f * (h[8] * h[0] - h[6] * h[2]), f * (h[6] * h[1] - h[7] * h[0]),
                      f * (h[1] * h[5] - h[2] * h[4]), f * (h[2] * h[3] - h[0] * h[5]), f * (h[0] * h[4] - h[1] * h[3])]
    }
}
