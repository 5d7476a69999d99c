#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where atoms sit on a brick of the mesh: u_a = K_a b_a . (r - origin) / 2 pi, the p x p x p
/// stencil of points floor(u_a) - p + 1 ... floor(u_a) shifted by a multiple of K_a into the
/// brick, and the B-spline weights on it. Spreading and interpolation both use it; the brick
/// is [z][y][x] with x fastest (cace.h).
struct MeshStencil {
    let order: Int
    /// Rows: d u_a / d r (K_a b_a / 2 pi).
    let toMesh: [Double]
    let mesh: [Int]
    let origin: [Double]
    let low: [Int], high: [Int]
    /// Points per row (x) and per plane (x y) of the brick.
    let rowStride: Int, planeStride: Int

    init(order: Int, mesh: [Int], geometry: CellGeometry, transform: any MeshTransform) {
        self.order = order
        self.mesh = mesh
        var toMesh = [Double](repeating: 0, count: 9)
        for a in 0..<3 { for c in 0..<3 { toMesh[3 * a + c] = Double(mesh[a]) * geometry.reciprocal[3 * a + c] / (2 * Double.pi) } }
        self.toMesh = toMesh
        origin = transform.origin
        low = transform.brickLow
        high = transform.brickHigh
        rowStride = high[0] - low[0] + 1
        planeStride = rowStride * (high[1] - low[1] + 1)
    }

    /// Values per axis in an atom's buffer: the order padded with zeros to the widest row vector
    /// (`MeshRowKernels`).
    static let axisStride = MeshRowKernels.padding

    /// Buffer size for one atom's weights: [axis] values, [axis] derivatives (each `axisStride`,
    /// zero beyond the order), then p work values.
    var bufferCount: Int { 7 * Self.axisStride }

    /// Fills the weights (at buffer + a `axisStride`) and derivatives in u_a (at buffer +
    /// (3 + a) `axisStride`) of the atom at `r`, and returns the brick index of its stencil's
    /// first point. The buffer's padding must be zero (`bufferCount` zeros at first).
    @inline(__always)
    func place(_ r: (Double, Double, Double), atom: Int, into buffer: UnsafeMutablePointer<Double>) throws(CACEError) -> Int {
        let x = r.0 - origin[0], y = r.1 - origin[1], z = r.2 - origin[2]
        var start = 0
        let strides = (1, rowStride, planeStride)
        for a in 0..<3 {
            let u = toMesh[3 * a] * x + toMesh[3 * a + 1] * y + toMesh[3 * a + 2] * z
            guard abs(u) < 1e9 else {
                throw .geometry("atom \(atom) is \(u) mesh points from the mesh origin along axis \(a + 1): "
                    + "its position is far outside the box")
            }
            let below = u.rounded(.down)
            // The stencil's first point, moved by whole periods to the first place in the brick.
            let base = Int(below) - order + 1
            let period = mesh[a]
            let offset = ((base - low[a]) % period + period) % period
            let first = low[a] + offset
            guard first + order - 1 <= high[a] else {
                throw .geometry("an atom moved farther than the mesh's ghost layer: atom \(atom) needs mesh points "
                    + "\(first)...\(first + order - 1) along axis \(a + 1) but this domain's brick holds "
                    + "\(low[a])...\(high[a]) (reneighbour more often or enlarge the host's ghost layer)")
            }
            BSplines.fill(order: order, fraction: u - below, weights: buffer + a * Self.axisStride,
                          derivatives: buffer + (3 + a) * Self.axisStride, work: buffer + 6 * Self.axisStride)
            start += offset * (a == 0 ? strides.0 : (a == 1 ? strides.1 : strides.2))
        }
        return start
    }
}
