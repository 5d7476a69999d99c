/// The per-atom loops of the particle mesh, with one SIMD vector per stencil row along x.
///
/// The stencil weight theta(g) = wx(g_x) wy(g_y) wz(g_z) is separable, so a row of p points
/// along x is one vector operation: spreading adds (q wz wy) * wx to the row, and interpolation
/// accumulates rows weighted by wy (and dy) into vectors, planes weighted by wz (and dz), and
/// takes the x-weights and the horizontal sums once per atom. The weight arrays are padded
/// with zeros to the vector width, so lanes beyond p add nothing; the brick must have
/// `padding` readable (and, for spreading, writable) points after its last point.
enum MeshRowKernels {
    /// The widest row vector (the largest supported order).
    static let padding = 16

    /// The row type that holds `order` points: 4, 8, 12 or 16 lanes.
    static func width(order: Int) -> Int { (max(order, 1) + 3) / 4 * 4 }

    /// brick[stencil] += q theta; `weights` holds the x, y, z weights at 0, `padding`, 2 `padding`.
    static func spread(_ q: Double, order: Int, corner: UnsafeMutablePointer<Double>, rowStride: Int,
                       planeStride: Int, weights: UnsafePointer<Double>) {
        switch width(order: order) {
        case 4: spread(SIMD4<Double>.self, q, order, corner, rowStride, planeStride, weights)
        case 8: spread(SIMD8<Double>.self, q, order, corner, rowStride, planeStride, weights)
        case 12: spread(Row12.self, q, order, corner, rowStride, planeStride, weights)
        default: spread(Row16.self, q, order, corner, rowStride, planeStride, weights)
        }
    }

    /// (sum theta f, d/du_a of it) over the stencil; weights at 0, p, 2p (times `padding`),
    /// their derivatives at 3, 4, 5 times `padding`.
    static func interpolate(order: Int, corner: UnsafePointer<Double>, rowStride: Int, planeStride: Int,
                            weights: UnsafePointer<Double>) -> (Double, (Double, Double, Double)) {
        switch width(order: order) {
        case 4: return interpolate(SIMD4<Double>.self, order, corner, rowStride, planeStride, weights)
        case 8: return interpolate(SIMD8<Double>.self, order, corner, rowStride, planeStride, weights)
        case 12: return interpolate(Row12.self, order, corner, rowStride, planeStride, weights)
        default: return interpolate(Row16.self, order, corner, rowStride, planeStride, weights)
        }
    }

    @inline(__always)
    private static func spread<V: MeshRow>(_: V.Type, _ q: Double, _ p: Int, _ corner: UnsafeMutablePointer<Double>,
                                           _ rowStride: Int, _ planeStride: Int, _ weights: UnsafePointer<Double>) {
        let wx = V.load(weights), wy = weights + padding, wz = weights + 2 * padding
        for k in 0..<p {
            let qz = q * wz[k], plane = corner + k * planeStride
            for j in 0..<p {
                let row = plane + j * rowStride
                V.load(row).adding(qz * wy[j], times: wx).store(row)
            }
        }
    }

    @inline(__always)
    private static func interpolate<V: MeshRow>(_: V.Type, _ p: Int, _ corner: UnsafePointer<Double>, _ rowStride: Int,
                                                _ planeStride: Int, _ weights: UnsafePointer<Double>)
        -> (Double, (Double, Double, Double)) {
        let wy = weights + padding, wz = weights + 2 * padding
        let dy = weights + 4 * padding, dz = weights + 5 * padding
        // Per x-lane: value (wy wz), its y-derivative (dy wz) and z-derivative (wy dz).
        var value = V.zero, alongY = V.zero, alongZ = V.zero
        for k in 0..<p {
            var plane = V.zero, planeY = V.zero
            let base = corner + k * planeStride
            for j in 0..<p {
                let row = V.load(base + j * rowStride)
                plane = plane.adding(wy[j], times: row)
                planeY = planeY.adding(dy[j], times: row)
            }
            value = value.adding(wz[k], times: plane)
            alongY = alongY.adding(wz[k], times: planeY)
            alongZ = alongZ.adding(dz[k], times: plane)
        }
        let wx = V.load(weights), dx = V.load(weights + 3 * padding)
        return (value.dot(wx), (value.dot(dx), alongY.dot(wx), alongZ.dot(wx)))
    }
}

/// A stencil row of Double lanes in registers.
protocol MeshRow {
    static var zero: Self { get }
    static func load(_ pointer: UnsafePointer<Double>) -> Self
    func store(_ pointer: UnsafeMutablePointer<Double>)
    /// self + s x
    func adding(_ s: Double, times x: Self) -> Self
    /// sum of self * x over the lanes
    func dot(_ x: Self) -> Double
}

extension SIMD4: MeshRow where Scalar == Double {
    static var zero: Self { Self() }
    @inline(__always) static func load(_ pointer: UnsafePointer<Double>) -> Self {
        UnsafeRawPointer(pointer).loadUnaligned(as: Self.self)
    }
    @inline(__always) func store(_ pointer: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: Self.self)
    }
    @inline(__always) func adding(_ s: Double, times x: Self) -> Self { multiplyAdd(self, Self(repeating: s), x) }
    @inline(__always) func dot(_ x: Self) -> Double { (self * x).sum() }
}

extension SIMD8: MeshRow where Scalar == Double {
    static var zero: Self { Self() }
    @inline(__always) static func load(_ pointer: UnsafePointer<Double>) -> Self {
        UnsafeRawPointer(pointer).loadUnaligned(as: Self.self)
    }
    @inline(__always) func store(_ pointer: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: Self.self)
    }
    @inline(__always) func adding(_ s: Double, times x: Self) -> Self { multiplyAdd(self, Self(repeating: s), x) }
    @inline(__always) func dot(_ x: Self) -> Double { (self * x).sum() }
}

/// 12 lanes: orders 9 to 12.
struct Row12: MeshRow {
    var low: SIMD8<Double>, high: SIMD4<Double>
    static var zero: Self { Self(low: .zero, high: .zero) }
    @inline(__always) static func load(_ pointer: UnsafePointer<Double>) -> Self {
        Self(low: .load(pointer), high: .load(pointer + 8))
    }
    @inline(__always) func store(_ pointer: UnsafeMutablePointer<Double>) { low.store(pointer); high.store(pointer + 8) }
    @inline(__always) func adding(_ s: Double, times x: Self) -> Self {
        Self(low: low.adding(s, times: x.low), high: high.adding(s, times: x.high))
    }
    @inline(__always) func dot(_ x: Self) -> Double { low.dot(x.low) + high.dot(x.high) }
}

/// 16 lanes: orders 13 to 16.
struct Row16: MeshRow {
    var low: SIMD8<Double>, high: SIMD8<Double>
    static var zero: Self { Self(low: .zero, high: .zero) }
    @inline(__always) static func load(_ pointer: UnsafePointer<Double>) -> Self {
        Self(low: .load(pointer), high: .load(pointer + 8))
    }
    @inline(__always) func store(_ pointer: UnsafeMutablePointer<Double>) { low.store(pointer); high.store(pointer + 8) }
    @inline(__always) func adding(_ s: Double, times x: Self) -> Self {
        Self(low: low.adding(s, times: x.low), high: high.adding(s, times: x.high))
    }
    @inline(__always) func dot(_ x: Self) -> Double { low.dot(x.low) + high.dot(x.high) }
}
