/// Small vector loops written with explicit SIMD: with unsafe pointers the compiler cannot
/// rule out aliasing and keeps these loops scalar. Full 256-bit vectors first, then (for Float)
/// one 128-bit step, then scalars. Sums of products use `multiplyAdd`, one rounding per
/// multiply-add where the CPU has fused multiply-add.

/// acc + a * b, fused where the target has FMA (CACE_FMA, set by Package.swift; always on arm64).
@inline(__always)
func multiplyAdd<V: SIMD>(_ acc: V, _ a: V, _ b: V) -> V where V.Scalar: FloatingPoint {
    #if CACE_FMA || arch(arm64)
    acc.addingProduct(a, b)
    #else
    acc + a * b
    #endif
}

/// acc + a * b for scalars, fused like the vector form.
@inline(__always)
func multiplyAdd<T: FloatingPoint>(_ acc: T, _ a: T, _ b: T) -> T {
    #if CACE_FMA || arch(arm64)
    acc.addingProduct(a, b)
    #else
    acc + a * b
    #endif
}

/// y[i] += a * x[i]
@inline(__always)
func addScaled<T: FeatureScalar>(_ count: Int, _ a: T, _ x: UnsafePointer<T>, into y: UnsafeMutablePointer<T>) {
    let width = T.Lanes.scalarCount
    let av = T.Lanes(repeating: a)
    var i = 0
    while i + width <= count {
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: T.Lanes.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: T.Lanes.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: multiplyAdd(yv, av, xv), as: T.Lanes.self)
        i += width
    }
    if width > 4 && i + 4 <= count {
        let a4 = SIMD4<T>(repeating: a)
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<T>.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<T>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: multiplyAdd(yv, a4, xv), as: SIMD4<T>.self)
        i += 4
    }
    while i < count { y[i] = multiplyAdd(y[i], a, x[i]); i += 1 }
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
        UnsafeMutableRawPointer(y + i).storeBytes(of: multiplyAdd(yv, av * xv, zv), as: T.Lanes.self)
        i += width
    }
    if width > 4 && i + 4 <= count {
        let a4 = SIMD4<T>(repeating: a)
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<T>.self)
        let zv = UnsafeRawPointer(z + i).loadUnaligned(as: SIMD4<T>.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<T>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: multiplyAdd(yv, a4 * xv, zv), as: SIMD4<T>.self)
        i += 4
    }
    while i < count { y[i] = multiplyAdd(y[i], a * x[i], z[i]); i += 1 }
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
        acc = multiplyAdd(acc, xv, yv)
        i += width
    }
    var sum = T.horizontalSum(acc)
    while i < count { sum = multiplyAdd(sum, x[i], y[i]); i += 1 }
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
        let product = av * load(x + i) * load(u + i)
        UnsafeMutableRawPointer(y + i).storeBytes(of: multiplyAdd(load(y + i), product, load(v + i)), as: T.Lanes.self)
        i += width
    }
    if width > 4 && i + 4 <= count {   // Float: one 128-bit step before the scalar tail
        func part(_ p: UnsafePointer<T>) -> SIMD4<T> { UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<T>.self) }
        let product = SIMD4<T>(repeating: a) * part(x) * part(u)
        UnsafeMutableRawPointer(y + i).storeBytes(of: multiplyAdd(part(y), product, part(v)), as: SIMD4<T>.self)
        i += 4
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
        let product = av * load(x + i) * load(u + i) * load(v + i)
        UnsafeMutableRawPointer(y + i).storeBytes(of: multiplyAdd(load(y + i), product, load(w + i)), as: T.Lanes.self)
        i += width
    }
    while i < count { y[i] += a * x[i] * u[i] * v[i] * w[i]; i += 1 }
}

/// y[i] += sum_r c[r * cStride] * x[r * xStride + i] for i < count, r < rows: a matrix-vector
/// product that keeps four vectors of y in registers while it runs over the rows, with even and
/// odd rows in separate sums (eight independent multiply-adds, enough to hide their latency).
@inline(__always)
func addCombination<T: FeatureScalar>(_ count: Int, rows: Int, _ c: UnsafePointer<T>, cStride: Int,
                                      _ x: UnsafePointer<T>, xStride: Int, into y: UnsafeMutablePointer<T>) {
    let width = T.Lanes.scalarCount
    var i = 0
    while i + 4 * width <= count {
        var a0 = load(y + i), a1 = load(y + i + width), a2 = load(y + i + 2 * width), a3 = load(y + i + 3 * width)
        var b0 = T.Lanes(), b1 = T.Lanes(), b2 = T.Lanes(), b3 = T.Lanes()
        var cr = c, xr = x + i
        for _ in 0..<(rows / 2) {
            let s = T.Lanes(repeating: cr.pointee), t = T.Lanes(repeating: cr[cStride])
            let xn = xr + xStride
            a0 = multiplyAdd(a0, s, load(xr)); a1 = multiplyAdd(a1, s, load(xr + width))
            a2 = multiplyAdd(a2, s, load(xr + 2 * width)); a3 = multiplyAdd(a3, s, load(xr + 3 * width))
            b0 = multiplyAdd(b0, t, load(xn)); b1 = multiplyAdd(b1, t, load(xn + width))
            b2 = multiplyAdd(b2, t, load(xn + 2 * width)); b3 = multiplyAdd(b3, t, load(xn + 3 * width))
            cr += 2 * cStride; xr += 2 * xStride
        }
        if rows % 2 == 1 {
            let s = T.Lanes(repeating: cr.pointee)
            a0 = multiplyAdd(a0, s, load(xr)); a1 = multiplyAdd(a1, s, load(xr + width))
            a2 = multiplyAdd(a2, s, load(xr + 2 * width)); a3 = multiplyAdd(a3, s, load(xr + 3 * width))
        }
        store(a0 + b0, y + i); store(a1 + b1, y + i + width)
        store(a2 + b2, y + i + 2 * width); store(a3 + b3, y + i + 3 * width)
        i += 4 * width
    }
    while i + width <= count {
        var acc = load(y + i)
        var cr = c, xr = x + i
        for _ in 0..<rows {
            acc = multiplyAdd(acc, T.Lanes(repeating: cr.pointee), load(xr))
            cr += cStride; xr += xStride
        }
        store(acc, y + i)
        i += width
    }
    if width > 4 && i + 4 <= count {   // Float: one 128-bit step before the scalar tail
        var acc = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<T>.self)
        var cr = c, xr = x + i
        for _ in 0..<rows {
            let xv = UnsafeRawPointer(xr).loadUnaligned(as: SIMD4<T>.self)
            acc = multiplyAdd(acc, SIMD4<T>(repeating: cr.pointee), xv)
            cr += cStride; xr += xStride
        }
        UnsafeMutableRawPointer(y + i).storeBytes(of: acc, as: SIMD4<T>.self)
        i += 4
    }
    while i < count {
        var sum = y[i]
        var cr = c, xr = x + i
        for _ in 0..<rows {
            sum = multiplyAdd(sum, cr.pointee, xr.pointee)
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
            a0 = multiplyAdd(a0, load(x0 + i), vv); a1 = multiplyAdd(a1, load(x1 + i), vv)
            a2 = multiplyAdd(a2, load(x2 + i), vv); a3 = multiplyAdd(a3, load(x3 + i), vv)
            i += width
        }
        var s = (T.horizontalSum(a0), T.horizontalSum(a1), T.horizontalSum(a2), T.horizontalSum(a3))
        if width > 4 && i + 4 <= count {   // Float: one 128-bit step before the scalar tail
            let vv = UnsafeRawPointer(v + i).loadUnaligned(as: SIMD4<T>.self)
            func part(_ p: UnsafePointer<T>) -> T {
                (UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<T>.self) * vv).sum()
            }
            s.0 += part(x0); s.1 += part(x1); s.2 += part(x2); s.3 += part(x3)
            i += 4
        }
        while i < count {
            s.0 += x0[i] * v[i]; s.1 += x1[i] * v[i]; s.2 += x2[i] * v[i]; s.3 += x3[i] * v[i]
            i += 1
        }
        out[r * outStride] = s.0; out[(r + 1) * outStride] = s.1
        out[(r + 2) * outStride] = s.2; out[(r + 3) * outStride] = s.3
        r += 4
    }
    if r + 2 <= rows {   // two rows left: two sums
        let x0 = x + r * xStride, x1 = x0 + xStride
        var a0 = T.Lanes(), a1 = T.Lanes()
        var i = 0
        while i + width <= count {
            let vv = load(v + i)
            a0 = multiplyAdd(a0, load(x0 + i), vv); a1 = multiplyAdd(a1, load(x1 + i), vv)
            i += width
        }
        var s = (T.horizontalSum(a0), T.horizontalSum(a1))
        while i < count { s.0 += x0[i] * v[i]; s.1 += x1[i] * v[i]; i += 1 }
        out[r * outStride] = s.0; out[(r + 1) * outStride] = s.1
        r += 2
    }
    if r < rows { out[r * outStride] = dot(count, x + r * xStride, v) }
}

/// `addCombination` for two outputs at once: y0[i] += sum_r c0[r cStride] x[r xStride + i] and
/// y1[i] += sum_r c1[r cStride] x[r xStride + i]. Eight independent sums per step, and each
/// vector of x serves both outputs.
@inline(__always)
func addCombinations<T: FeatureScalar>(_ count: Int, rows: Int, _ c0: UnsafePointer<T>, _ c1: UnsafePointer<T>,
                                       cStride: Int, _ x: UnsafePointer<T>, xStride: Int,
                                       into y0: UnsafeMutablePointer<T>, _ y1: UnsafeMutablePointer<T>) {
    let width = T.Lanes.scalarCount
    var i = 0
    while i + 4 * width <= count {
        var a0 = load(y0 + i), a1 = load(y0 + i + width), a2 = load(y0 + i + 2 * width), a3 = load(y0 + i + 3 * width)
        var b0 = load(y1 + i), b1 = load(y1 + i + width), b2 = load(y1 + i + 2 * width), b3 = load(y1 + i + 3 * width)
        var xr = x + i
        for r in 0..<rows {
            let s = T.Lanes(repeating: c0[r * cStride]), t = T.Lanes(repeating: c1[r * cStride])
            let x0 = load(xr), x1 = load(xr + width), x2 = load(xr + 2 * width), x3 = load(xr + 3 * width)
            a0 = multiplyAdd(a0, s, x0); a1 = multiplyAdd(a1, s, x1)
            a2 = multiplyAdd(a2, s, x2); a3 = multiplyAdd(a3, s, x3)
            b0 = multiplyAdd(b0, t, x0); b1 = multiplyAdd(b1, t, x1)
            b2 = multiplyAdd(b2, t, x2); b3 = multiplyAdd(b3, t, x3)
            xr += xStride
        }
        store(a0, y0 + i); store(a1, y0 + i + width); store(a2, y0 + i + 2 * width); store(a3, y0 + i + 3 * width)
        store(b0, y1 + i); store(b1, y1 + i + width); store(b2, y1 + i + 2 * width); store(b3, y1 + i + 3 * width)
        i += 4 * width
    }
    addCombination(count - i, rows: rows, c0, cStride: cStride, x + i, xStride: xStride, into: y0 + i)
    addCombination(count - i, rows: rows, c1, cStride: cStride, x + i, xStride: xStride, into: y1 + i)
}

/// `dots` for two vectors at once: out0[r outStride] = sum_i x[r xStride + i] v0[i] and
/// out1[r outStride] = sum_i x[r xStride + i] v1[i], four rows at a time (eight sums).
@inline(__always)
func dots<T: FeatureScalar>(_ count: Int, rows: Int, _ x: UnsafePointer<T>, xStride: Int,
                            _ v0: UnsafePointer<T>, _ v1: UnsafePointer<T>,
                            into out0: UnsafeMutablePointer<T>, _ out1: UnsafeMutablePointer<T>, outStride: Int) {
    let width = T.Lanes.scalarCount
    var r = 0
    while r + 4 <= rows {
        let x0 = x + r * xStride, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride
        var a0 = T.Lanes(), a1 = T.Lanes(), a2 = T.Lanes(), a3 = T.Lanes()
        var b0 = T.Lanes(), b1 = T.Lanes(), b2 = T.Lanes(), b3 = T.Lanes()
        var i = 0
        while i + width <= count {
            let u = load(v0 + i), v = load(v1 + i)
            let y0 = load(x0 + i), y1 = load(x1 + i), y2 = load(x2 + i), y3 = load(x3 + i)
            a0 = multiplyAdd(a0, y0, u); a1 = multiplyAdd(a1, y1, u)
            a2 = multiplyAdd(a2, y2, u); a3 = multiplyAdd(a3, y3, u)
            b0 = multiplyAdd(b0, y0, v); b1 = multiplyAdd(b1, y1, v)
            b2 = multiplyAdd(b2, y2, v); b3 = multiplyAdd(b3, y3, v)
            i += width
        }
        var s = (T.horizontalSum(a0), T.horizontalSum(a1), T.horizontalSum(a2), T.horizontalSum(a3))
        var t = (T.horizontalSum(b0), T.horizontalSum(b1), T.horizontalSum(b2), T.horizontalSum(b3))
        while i < count {
            s.0 += x0[i] * v0[i]; s.1 += x1[i] * v0[i]; s.2 += x2[i] * v0[i]; s.3 += x3[i] * v0[i]
            t.0 += x0[i] * v1[i]; t.1 += x1[i] * v1[i]; t.2 += x2[i] * v1[i]; t.3 += x3[i] * v1[i]
            i += 1
        }
        out0[r * outStride] = s.0; out0[(r + 1) * outStride] = s.1
        out0[(r + 2) * outStride] = s.2; out0[(r + 3) * outStride] = s.3
        out1[r * outStride] = t.0; out1[(r + 1) * outStride] = t.1
        out1[(r + 2) * outStride] = t.2; out1[(r + 3) * outStride] = t.3
        r += 4
    }
    if r + 2 <= rows {   // two rows left: four sums
        let x0 = x + r * xStride, x1 = x0 + xStride
        var a0 = T.Lanes(), a1 = T.Lanes(), b0 = T.Lanes(), b1 = T.Lanes()
        var i = 0
        while i + width <= count {
            let u = load(v0 + i), v = load(v1 + i), y0 = load(x0 + i), y1 = load(x1 + i)
            a0 = multiplyAdd(a0, y0, u); a1 = multiplyAdd(a1, y1, u)
            b0 = multiplyAdd(b0, y0, v); b1 = multiplyAdd(b1, y1, v)
            i += width
        }
        var s = (T.horizontalSum(a0), T.horizontalSum(a1)), t = (T.horizontalSum(b0), T.horizontalSum(b1))
        while i < count {
            s.0 += x0[i] * v0[i]; s.1 += x1[i] * v0[i]
            t.0 += x0[i] * v1[i]; t.1 += x1[i] * v1[i]
            i += 1
        }
        out0[r * outStride] = s.0; out0[(r + 1) * outStride] = s.1
        out1[r * outStride] = t.0; out1[(r + 1) * outStride] = t.1
        r += 2
    }
    if r < rows {
        out0[r * outStride] = dot(count, x + r * xStride, v0)
        out1[r * outStride] = dot(count, x + r * xStride, v1)
    }
}
