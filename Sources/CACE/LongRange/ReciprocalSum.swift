#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The reciprocal-space sum of the periodic Ewald term,
/// E = (1/V) sum_k c_k |S(k)|^2 with S(k) = sum_i q_i exp(i k.r_i), c_k = 2 exp(-sigma^2 k^2/2) / k^2,
/// over upstream's k set (model-format §4.7). The kept k vectors are stored as rows of
/// consecutive n3 at fixed (n1, n2), so that exp(i k.r) of one atom is a row phase times a
/// contiguous table, and every per-atom loop over k runs on contiguous arrays.
struct ReciprocalSum {
    /// |det h|: the cell's volume whatever its handedness.
    let volume: Double
    /// Reciprocal vectors b_a (rows), b_a . a_c = 2 pi delta_ac.
    let b: [Double]
    let nMax: [Int]
    /// Rows: (n1, n2, first n3, first k index, count).
    let rows: [(Int, Int, Int, Int, Int)]
    let count: Int
    /// Per k, padded to a multiple of 8 with zeros: c_k, c_k k_a, and c_k (delta_ab + g k_a k_b)
    /// with g = 2 d ln c_k / d(k^2), the strain derivative of c_k / V (virial).
    let weight, weightX, weightY, weightZ: [Double]
    let virialXX, virialYY, virialZZ, virialXY, virialXZ, virialYZ: [Double]

    /// Upstream's k-set of this cell (the direct method, unpinned).
    init(cell h: [Double], settings: EwaldSettings) throws(CACEError) {
        try Self.checkedEstimate(cell: h, settings: settings)
        try self.init(cell: h, settings: settings, kSet: try KSet(cell: h, settings: settings))
    }

    /// Refuses, before any k-vector is built, a cell whose direct sum would need too many.
    static func checkedEstimate(cell h: [Double], settings: EwaldSettings) throws(CACEError) {
        let geometry = try CellGeometry(cell: h)
        var nMax = [0, 0, 0]
        for a in 0..<3 {
            let length = (h[3 * a] * h[3 * a] + h[3 * a + 1] * h[3 * a + 1] + h[3 * a + 2] * h[3 * a + 2]).squareRoot()
            nMax[a] = max(1, Int(min(length / settings.dl, 10_000)))
        }
        try checkEstimate(nMax: nMax, volume: geometry.volume, kSquaredMax: settings.kSquaredMax)
    }

    /// Refuses, before any k-vector is built, a cell whose direct sum would need too many.
    static func checkEstimate(nMax: [Int], volume: Double, kSquaredMax: Double) throws(CACEError) {
        let estimate = estimatedCount(nMax: nMax, volume: volume, kSquaredMax: kSquaredMax)
        guard estimate <= Double(maximumCount) else {
            throw .geometry("the direct Ewald sum would need about \(Int(estimate)) k-vectors for this cell "
                + "(volume \(volume) A^3; the limit is \(maximumCount), about 1 GB): its cost grows with the volume. "
                + "Use the particle-mesh method (long range mesh or auto) or a smaller periodic box")
        }
    }

    /// The sum over the integer vectors of `kSet` with the k-vectors of this cell (a pinned set
    /// keeps its n while the cell changes; c_k and the virial weights follow the cell).
    init(cell h: [Double], settings: EwaldSettings, kSet: KSet) throws(CACEError) {
        let geometry = try CellGeometry(cell: h)
        volume = geometry.volume
        b = geometry.reciprocal
        nMax = kSet.nMax
        guard kSet.count <= Self.maximumCount else {
            throw .geometry("the direct Ewald sum would need \(kSet.count) k-vectors for this cell (the limit is "
                + "\(Self.maximumCount), about 1 GB): use the particle-mesh method (long range mesh or auto)")
        }
        let sigma2 = settings.sigma * settings.sigma
        var columns: [[Double]] = Array(repeating: [], count: 10)
        for c in 0..<10 { columns[c].reserveCapacity(kSet.count + 8) }
        for (n1, n2, firstN3, _, length) in kSet.rows {
            for n3 in firstN3..<(firstN3 + length) {
                let kx = Double(n1) * b[0] + Double(n2) * b[3] + Double(n3) * b[6]
                let ky = Double(n1) * b[1] + Double(n2) * b[4] + Double(n3) * b[7]
                let kz = Double(n1) * b[2] + Double(n2) * b[5] + Double(n3) * b[8]
                let k2 = kx * kx + ky * ky + kz * kz
                let c = 2 * exp(-sigma2 * k2 / 2) / k2
                let g = -2 * (sigma2 / 2 + 1 / k2)
                let values = [c, c * kx, c * ky, c * kz, c * (1 + g * kx * kx), c * (1 + g * ky * ky),
                              c * (1 + g * kz * kz), c * g * kx * ky, c * g * kx * kz, c * g * ky * kz]
                for (column, value) in values.enumerated() { columns[column].append(value) }
            }
        }
        rows = kSet.rows
        count = kSet.count
        let padded = (count + 7) / 8 * 8   // whole vectors of Double and of Float
        for c in 0..<10 { columns[c] += [Double](repeating: 0, count: padded - count) }
        (weight, weightX, weightY, weightZ) = (columns[0], columns[1], columns[2], columns[3])
        (virialXX, virialYY, virialZZ) = (columns[4], columns[5], columns[6])
        (virialXY, virialXZ, virialYZ) = (columns[7], columns[8], columns[9])
    }

    var paddedCount: Int { weight.count }

    /// The most k-vectors a cell may need: their tables take about 300 bytes each.
    static let maximumCount = 2_000_000

    /// Kept k-vectors, estimated before any is built: half the lattice points in the sphere
    /// |k|^2 <= k_max^2 (reciprocal cell volume (2 pi)^3 / V), at most half the n-box.
    static func estimatedCount(nMax: [Int], volume: Double, kSquaredMax: Double) -> Double {
        let box = nMax.reduce(1.0) { $0 * Double(2 * $1 + 1) } / 2
        let sphere = volume * kSquaredMax * kSquaredMax.squareRoot() / (12 * Double.pi * Double.pi)
        return min(box, sphere)
    }

    /// The weights in the precision T, as rows of `paddedCount`: for the projection
    /// Re(conj(S) e^{ik.r}) c_k and the six virial columns (7 rows), for the cross term
    /// Im(conj(S) e^{ik.r}) the three force columns (3 rows).
    func weightRows<T: FeatureScalar>(as: T.Type) -> (projection: [T], cross: [T]) {
        let projection = [weight, virialXX, virialYY, virialZZ, virialXY, virialXZ, virialYZ]
        let cross = [weightX, weightY, weightZ]
        return (projection.flatMap { $0.map { T($0) } }, cross.flatMap { $0.map { T($0) } })
    }

    /// Work space of one thread: phase tables and exp(i k.r) of one atom, in the precision T.
    final class AtomPhases<T: FeatureScalar> {
        let cosine: UnsafeMutablePointer<T>, sine: UnsafeMutablePointer<T>
        let table: UnsafeMutablePointer<Double>   // [axis][n][cos, sin]
        let lastCosine: UnsafeMutablePointer<T>, lastSine: UnsafeMutablePointer<T>   // axis 3 in T, by n
        let stride: Int

        init(_ grid: ReciprocalSum) {
            // One vector of slack after each array: `phases` stores and loads whole vectors.
            let slack = T.Lanes.scalarCount
            cosine = .allocate(capacity: grid.paddedCount + slack)
            cosine.initialize(repeating: 0, count: grid.paddedCount + slack)
            sine = .allocate(capacity: grid.paddedCount + slack)
            sine.initialize(repeating: 0, count: grid.paddedCount + slack)
            stride = 2 * (grid.nMax.max() ?? 1) + 1
            table = .allocate(capacity: 6 * stride)
            lastCosine = .allocate(capacity: stride + slack); lastCosine.initialize(repeating: 0, count: stride + slack)
            lastSine = .allocate(capacity: stride + slack); lastSine.initialize(repeating: 0, count: stride + slack)
        }

        deinit { cosine.deallocate(); sine.deallocate(); table.deallocate(); lastCosine.deallocate(); lastSine.deallocate() }
    }

    /// Fills cos and sin of k.r for every kept k. The angles and the per-axis tables are
    /// computed in Double (k.r reaches a few hundred radians in large boxes); only the last
    /// product, row phase times axis-3 phase, runs in T.
    func phases<T>(of r: (Double, Double, Double), into p: AtomPhases<T>) {
        for a in 0..<3 {
            let angle = b[3 * a] * r.0 + b[3 * a + 1] * r.1 + b[3 * a + 2] * r.2
            let (c1, s1) = (cos(angle), sin(angle))
            let center = p.table + 2 * (a * p.stride + nMax[a])
            center[0] = 1; center[1] = 0
            var (c, s) = (1.0, 0.0)
            for n in 1..<(nMax[a] + 1) {
                (c, s) = (c * c1 - s * s1, s * c1 + c * s1)
                center[2 * n] = c; center[2 * n + 1] = s
                center[-2 * n] = c; center[-2 * n + 1] = -s
            }
        }
        let t1 = p.table + 2 * nMax[0], t2 = p.table + 2 * (p.stride + nMax[1]), t3 = p.table + 2 * (2 * p.stride + nMax[2])
        let c3 = p.lastCosine + nMax[2], s3 = p.lastSine + nMax[2]
        for n in -nMax[2]...nMax[2] { c3[n] = T(t3[2 * n]); s3[n] = T(t3[2 * n + 1]) }
        for (n1, n2, n3, start, length) in rows {
            let (c1, s1, c2, s2) = (t1[2 * n1], t1[2 * n1 + 1], t2[2 * n2], t2[2 * n2 + 1])
            let (c12, s12) = (T(c1 * c2 - s1 * s2), T(s1 * c2 + c1 * s2))
            let rowCosine = p.cosine + start, rowSine = p.sine + start, c = c3 + n3, s = s3 + n3
            // Whole vectors: a row's last store runs past its end into the next row, which is
            // written after it (rows are in order), or into the padding of the last row.
            let (c12v, s12v) = (T.Lanes(repeating: c12), T.Lanes(repeating: s12))
            var q = 0
            while q < length {
                let cv = load(c + q), sv = load(s + q)
                store(c12v * cv - s12v * sv, rowCosine + q)
                store(multiplyAdd(s12v * cv, c12v, sv), rowSine + q)
                q += T.Lanes.scalarCount
            }
        }
        for k in count..<paddedCount { p.cosine[k] = 0; p.sine[k] = 0 }
    }
}
