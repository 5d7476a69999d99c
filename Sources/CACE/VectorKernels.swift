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

/// One vector of T from p (any alignment).
@inline(__always)
func load<T: FeatureScalar>(_ p: UnsafePointer<T>) -> T.Lanes {
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

/// y[i] += sum_r c[r * cStride] * x[r * xStride + i] for i < count, r < rows: a matrix-vector
/// product that keeps four vectors of y in registers while it runs over the rows (four
/// independent sums, so the adds do not wait on each other).
@inline(__always)
func addCombination<T: FeatureScalar>(_ count: Int, rows: Int, _ c: UnsafePointer<T>, cStride: Int,
                                      _ x: UnsafePointer<T>, xStride: Int, into y: UnsafeMutablePointer<T>) {
    let width = T.Lanes.scalarCount
    var i = 0
    while i + 4 * width <= count {
        var a0 = load(y + i), a1 = load(y + i + width), a2 = load(y + i + 2 * width), a3 = load(y + i + 3 * width)
        var cr = c, xr = x + i
        for _ in 0..<rows {
            let s = T.Lanes(repeating: cr.pointee)
            a0 += s * load(xr); a1 += s * load(xr + width); a2 += s * load(xr + 2 * width); a3 += s * load(xr + 3 * width)
            cr += cStride; xr += xStride
        }
        store(a0, y + i); store(a1, y + i + width); store(a2, y + i + 2 * width); store(a3, y + i + 3 * width)
        i += 4 * width
    }
    while i + width <= count {
        var acc = load(y + i)
        var cr = c, xr = x + i
        for _ in 0..<rows {
            acc += T.Lanes(repeating: cr.pointee) * load(xr)
            cr += cStride; xr += xStride
        }
        store(acc, y + i)
        i += width
    }
    while i < count {
        var sum = y[i]
        var cr = c, xr = x + i
        for _ in 0..<rows {
            sum += cr.pointee * xr.pointee
            cr += cStride; xr += xStride
        }
        y[i] = sum
        i += 1
    }
}

/// Stores one vector of T at p (any alignment).
@inline(__always)
func store<T: FeatureScalar>(_ v: T.Lanes, _ p: UnsafeMutablePointer<T>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: T.Lanes.self)
}

/// out[r * outStride] = sum_i x[r * xStride + i] * v[i] for r < rows: four rows at a time,
/// so that each vector of v is loaded once per four rows.
@inline(__always)
func dots<T: FeatureScalar>(_ count: Int, rows: Int, _ x: UnsafePointer<T>, xStride: Int, _ v: UnsafePointer<T>,
                            into out: UnsafeMutablePointer<T>, outStride: Int) {
    let width = T.Lanes.scalarCount
    var r = 0
    while r + 4 <= rows {
        let x0 = x + r * xStride, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride
        var a0 = T.Lanes(), a1 = T.Lanes(), a2 = T.Lanes(), a3 = T.Lanes()
        var i = 0
        while i + width <= count {
            let vv = load(v + i)
            a0 += load(x0 + i) * vv; a1 += load(x1 + i) * vv; a2 += load(x2 + i) * vv; a3 += load(x3 + i) * vv
            i += width
        }
        var s = (a0.sum(), a1.sum(), a2.sum(), a3.sum())
        while i < count {
            s.0 += x0[i] * v[i]; s.1 += x1[i] * v[i]; s.2 += x2[i] * v[i]; s.3 += x3[i] * v[i]
            i += 1
        }
        out[r * outStride] = s.0; out[(r + 1) * outStride] = s.1
        out[(r + 2) * outStride] = s.2; out[(r + 3) * outStride] = s.3
        r += 4
    }
    while r < rows {
        out[r * outStride] = dot(count, x + r * xStride, v)
        r += 1
    }
}
