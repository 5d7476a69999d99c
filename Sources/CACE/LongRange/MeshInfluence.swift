#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The k-mask and influence function of the mesh on one rank's part of the spectrum: for every
/// kept integer vector n and its opposite -n whose mesh index m = n mod K lies in the part, the
/// spectrum index and the weights
/// G'(m) = s/V exp(-sigma^2 k^2 / 2) / k^2 |b_1(m_1) b_2(m_2) b_3(m_3)|^2
/// and G'(m) (delta_ab + g k_a k_b), g = -2 (sigma^2/2 + 1/k^2) (the strain derivative, as in the
/// direct sum), with k = n . b of the current cell. Points of the spectrum that are not listed
/// carry no weight: the mask of the direct sum, applied in Fourier space.
struct MeshInfluence {
    /// Spectrum index (complex number) of each entry.
    let indices: UnsafeMutablePointer<Int>
    /// [entry][7]: G', then G' (delta_ab + g k_a k_b) in order xx yy zz xy xz yz.
    let weights: UnsafeMutablePointer<Double>
    let count: Int
    /// The mean self-interaction the mesh misses, per unit q^2: c = sum_n s/V G(n) (1 - |b(n)|^2 A(n))
    /// over the whole k-set (A: `BSplines.selfAverages`), then c (delta_ab + g k_a k_b) for the
    /// virial. Adding c q_i^2 per atom removes the mesh energy's systematic bias (its aliasing of each
    /// charge with itself, averaged over positions in a mesh cell); forces do not change.
    let selfCorrection: [Double]

    init(kSet: KSet, geometry: CellGeometry, settings: EwaldSettings, scale: Double, mesh: [Int],
         spectrumLow lo: [Int], spectrumHigh hi: [Int], euler: [[Double]], averages: [[Double]], scratch: MeshScratch) {
        let capacity = 2 * kSet.count
        indices = scratch.influenceIndices.reserve(max(capacity, 1))
        weights = scratch.influenceWeights.reserve(max(7 * capacity, 1))
        let b = geometry.reciprocal, sigma2 = settings.sigma * settings.sigma, prefactor = scale / geometry.volume
        let (nx, ny) = (hi[0] - lo[0] + 1, hi[1] - lo[1] + 1)
        var count = 0
        var correction = [Double](repeating: 0, count: 7)
        for (n1, n2, firstN3, _, length) in kSet.rows {
            for n3 in firstN3..<(firstN3 + length) {
                let kx = Double(n1) * b[0] + Double(n2) * b[3] + Double(n3) * b[6]
                let ky = Double(n1) * b[1] + Double(n2) * b[4] + Double(n3) * b[7]
                let kz = Double(n1) * b[2] + Double(n2) * b[5] + Double(n3) * b[8]
                let k2 = kx * kx + ky * ky + kz * kz
                let c = exp(-sigma2 * k2 / 2) / k2
                let g = -2 * (sigma2 / 2 + 1 / k2)
                do {   // n and -n alike
                    let m1 = Self.wrap(n1, mesh[0]), m2 = Self.wrap(n2, mesh[1]), m3 = Self.wrap(n3, mesh[2])
                    let captured = euler[0][m1] * euler[1][m2] * euler[2][m3] * averages[0][m1] * averages[1][m2] * averages[2][m3]
                    let missing = 2 * prefactor * c * (1 - captured)
                    correction[0] += missing
                    correction[1] += missing * (1 + g * kx * kx); correction[2] += missing * (1 + g * ky * ky)
                    correction[3] += missing * (1 + g * kz * kz); correction[4] += missing * g * kx * ky
                    correction[5] += missing * g * kx * kz; correction[6] += missing * g * ky * kz
                }
                for sign in stride(from: 1, through: -1, by: -2) {
                    let m1 = Self.wrap(n1 * sign, mesh[0]), m2 = Self.wrap(n2 * sign, mesh[1]), m3 = Self.wrap(n3 * sign, mesh[2])
                    guard m1 >= lo[0], m1 <= hi[0], m2 >= lo[1], m2 <= hi[1], m3 >= lo[2], m3 <= hi[2] else { continue }
                    let w = prefactor * c * euler[0][m1] * euler[1][m2] * euler[2][m3]
                    indices[count] = ((m3 - lo[2]) * ny + (m2 - lo[1])) * nx + (m1 - lo[0])
                    let row = weights + 7 * count
                    row[0] = w
                    row[1] = w * (1 + g * kx * kx); row[2] = w * (1 + g * ky * ky); row[3] = w * (1 + g * kz * kz)
                    row[4] = w * g * kx * ky; row[5] = w * g * kx * kz; row[6] = w * g * ky * kz
                    count += 1
                }
            }
        }
        self.count = count
        selfCorrection = correction
    }

    @inline(__always) private static func wrap(_ n: Int, _ k: Int) -> Int { ((n % k) + k) % k }

    /// target = column `column` of the weights times `spectrum` on the listed points, zero elsewhere
    /// (`points` complex numbers).
    func apply(column: Int, to spectrum: UnsafePointer<Double>, into target: UnsafeMutablePointer<Double>, points: Int) {
        target.initialize(repeating: 0, count: 2 * points)
        for e in 0..<count {
            let index = indices[e], w = weights[7 * e + column]
            target[2 * index] = w * spectrum[2 * index]
            target[2 * index + 1] = w * spectrum[2 * index + 1]
        }
    }

    /// The same as `apply(column: 0, ...)` with the spectrum as its own target, through `compact`
    /// (2 `count` values) instead of a second spectrum: the mesh's largest buffer is not doubled
    /// when the original spectrum is not needed again (no per-atom virials).
    func applyInPlace(_ spectrum: UnsafeMutablePointer<Double>, points: Int, compact: UnsafeMutablePointer<Double>) {
        for e in 0..<count {
            let index = indices[e], w = weights[7 * e]
            compact[2 * e] = w * spectrum[2 * index]
            compact[2 * e + 1] = w * spectrum[2 * index + 1]
        }
        spectrum.initialize(repeating: 0, count: 2 * points)
        for e in 0..<count {
            let index = indices[e]
            spectrum[2 * index] = compact[2 * e]
            spectrum[2 * index + 1] = compact[2 * e + 1]
        }
    }

    /// This part's energy sum_m G' |F|^2 and virial sum_m G' (delta_ab + g k_a k_b) |F|^2.
    func energyAndVirial(_ spectrum: UnsafePointer<Double>) -> (Double, [Double]) {
        var sums = [Double](repeating: 0, count: 7)
        for e in 0..<count {
            let index = indices[e]
            let power = spectrum[2 * index] * spectrum[2 * index] + spectrum[2 * index + 1] * spectrum[2 * index + 1]
            for c in 0..<7 { sums[c] += weights[7 * e + c] * power }
        }
        return (sums[0], Array(sums[1...]))
    }
}
