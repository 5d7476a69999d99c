/// Small vector loops written with SIMD4 explicitly: with unsafe pointers the compiler cannot
/// rule out aliasing and keeps these loops scalar. Each element gets exactly the operations of
/// the scalar loop, in the same order, so results do not change.

/// y[i] += a * x[i]
@inline(__always)
func addScaled(_ count: Int, _ a: Double, _ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
    let av = SIMD4<Double>(repeating: a)
    var i = 0
    while i + 4 <= count {
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<Double>.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<Double>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv + av * xv, as: SIMD4<Double>.self)
        i += 4
    }
    while i < count { y[i] += a * x[i]; i += 1 }
}

/// y[i] += a * x[i] * z[i]
@inline(__always)
func addScaledProduct(_ count: Int, _ a: Double, _ x: UnsafePointer<Double>, _ z: UnsafePointer<Double>,
                      into y: UnsafeMutablePointer<Double>) {
    let av = SIMD4<Double>(repeating: a)
    var i = 0
    while i + 4 <= count {
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<Double>.self)
        let zv = UnsafeRawPointer(z + i).loadUnaligned(as: SIMD4<Double>.self)
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<Double>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv + av * xv * zv, as: SIMD4<Double>.self)
        i += 4
    }
    while i < count { y[i] += a * x[i] * z[i]; i += 1 }
}
