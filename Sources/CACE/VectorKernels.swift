/// Small vector loops written with explicit SIMD: with unsafe pointers the compiler cannot
/// rule out aliasing and keeps these loops scalar. Each element gets exactly the operations of
/// the scalar loop, in the same order, so results do not change. Full 256-bit vectors first,
/// then (for Float) one 128-bit step, then scalars.

/// y[i] += a * x[i]
@inline(__always)
func addScaled<T: FeatureScalar>(_ count: Int, _ a: T, _ x: UnsafePointer<T>, into y: UnsafeMutablePointer<T>) {
    let width = T.Lanes.scalarCount
    let av = T.Lanes(repeating: a)
    var i = 0
    while i + width <= count {
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: T.Lanes.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: T.Lanes.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv + av * xv, as: T.Lanes.self)
        i += width
    }
    if width > 4 && i + 4 <= count {
        let a4 = SIMD4<T>(repeating: a)
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<T>.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<T>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv + a4 * xv, as: SIMD4<T>.self)
        i += 4
    }
    while i < count { y[i] += a * x[i]; i += 1 }
}

/// y[i] += a * x[i] * z[i]
@inline(__always)
func addScaledProduct<T: FeatureScalar>(_ count: Int, _ a: T, _ x: UnsafePointer<T>, _ z: UnsafePointer<T>,
                                        into y: UnsafeMutablePointer<T>) {
    let width = T.Lanes.scalarCount
    let av = T.Lanes(repeating: a)
    var i = 0
    while i + width <= count {
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: T.Lanes.self)
        let zv = UnsafeRawPointer(z + i).loadUnaligned(as: T.Lanes.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: T.Lanes.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv + av * xv * zv, as: T.Lanes.self)
        i += width
    }
    if width > 4 && i + 4 <= count {
        let a4 = SIMD4<T>(repeating: a)
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<T>.self)
        let zv = UnsafeRawPointer(z + i).loadUnaligned(as: SIMD4<T>.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<T>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv + a4 * xv * zv, as: SIMD4<T>.self)
        i += 4
    }
    while i < count { y[i] += a * x[i] * z[i]; i += 1 }
}

/// sum_i x[i] * y[i], accumulated in vector lanes (so in a different order than a scalar loop:
/// the result can differ from it by round-off).
@inline(__always)
func dot<T: FeatureScalar>(_ count: Int, _ x: UnsafePointer<T>, _ y: UnsafePointer<T>) -> T {
    let width = T.Lanes.scalarCount
    var acc = T.Lanes(repeating: 0)
    var i = 0
    while i + width <= count {
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: T.Lanes.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: T.Lanes.self)
        acc += xv * yv
        i += width
    }
    var sum = acc.sum()
    while i < count { sum += x[i] * y[i]; i += 1 }
    return sum
}

@inline(__always)
private func load<T: FeatureScalar>(_ p: UnsafePointer<T>) -> T.Lanes {
    UnsafeRawPointer(p).loadUnaligned(as: T.Lanes.self)
}

/// y[i] += a * x[i] * u[i] * v[i]
@inline(__always)
func addScaledProduct<T: FeatureScalar>(_ count: Int, _ a: T, _ x: UnsafePointer<T>, _ u: UnsafePointer<T>,
                                        _ v: UnsafePointer<T>, into y: UnsafeMutablePointer<T>) {
    let width = T.Lanes.scalarCount
    let av = T.Lanes(repeating: a)
    var i = 0
    while i + width <= count {
        let product = av * load(x + i) * load(u + i) * load(v + i)
        UnsafeMutableRawPointer(y + i).storeBytes(of: load(y + i) + product, as: T.Lanes.self)
        i += width
    }
    while i < count { y[i] += a * x[i] * u[i] * v[i]; i += 1 }
}

/// y[i] += a * x[i] * u[i] * v[i] * w[i]
@inline(__always)
func addScaledProduct<T: FeatureScalar>(_ count: Int, _ a: T, _ x: UnsafePointer<T>, _ u: UnsafePointer<T>,
                                        _ v: UnsafePointer<T>, _ w: UnsafePointer<T>, into y: UnsafeMutablePointer<T>) {
    let width = T.Lanes.scalarCount
    let av = T.Lanes(repeating: a)
    var i = 0
    while i + width <= count {
        let product = av * load(x + i) * load(u + i) * load(v + i) * load(w + i)
        UnsafeMutableRawPointer(y + i).storeBytes(of: load(y + i) + product, as: T.Lanes.self)
        i += width
    }
    while i < count { y[i] += a * x[i] * u[i] * v[i] * w[i]; i += 1 }
}
