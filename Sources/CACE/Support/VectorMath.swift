/// sin and cos of every lane of a vector at once, for the Bessel radial basis of a batch of
/// edges. Cody–Waite reduction by pi/2 and minimax polynomials on [-pi/4, pi/4] (the fdlibm
/// kernels for Double, Cephes' for Float): within about one ulp for the arguments radial
/// bases produce (|x| < 1e5). Written for the concrete vector types: their operators map to
/// vector instructions, where the generic SIMD defaults can end up as per-lane loops.

extension Double {
    @inline(__always)
    static func sinCos(_ x: SIMD4<Double>) -> (SIMD4<Double>, SIMD4<Double>) {
        typealias V = SIMD4<Double>
        // Round to nearest by adding and subtracting 1.5 * 2^52 (no round instruction in SSE2).
        let magic = V(repeating: 6755399441055744.0)
        let q = (x * 0.636619772367581343076 + magic) - magic
        let r = ((x - q * 1.57079632673412561417e+00) - q * 6.07710050630396597660e-11) - q * 2.02226624879595063154e-21
        let z = r * r
        var ps = V(repeating: 1.58969099521155010221e-10)
        ps = ps * z - 2.50507602534068634195e-08
        ps = ps * z + 2.75573137070700676789e-06
        ps = ps * z - 1.98412698298579493134e-04
        ps = ps * z + 8.33333333332248946124e-03
        ps = ps * z - 1.66666666666666324348e-01
        let s = r + r * z * ps
        var pc = V(repeating: -1.13596475577881948265e-11)
        pc = pc * z + 2.08757232129817482790e-09
        pc = pc * z - 2.75573143513906633035e-07
        pc = pc * z + 2.48015872894767294178e-05
        pc = pc * z - 1.38888888888741095749e-03
        pc = pc * z + 4.16666666666666019037e-02
        let c = (1 - 0.5 * z) + z * z * pc
        // q mod 4 (floor(q / 4) is q / 4 - 0.375 rounded to nearest: no ties for integer q).
        let quadrant = q - 4 * ((q * 0.25 - 0.375 + magic) - magic)
        let swap = (quadrant .== 1) .| (quadrant .== 3)
        var sine = s, cosine = c
        sine.replace(with: c, where: swap)
        cosine.replace(with: s, where: swap)
        sine.replace(with: -sine, where: quadrant .>= 2)
        cosine.replace(with: -cosine, where: (quadrant .== 1) .| (quadrant .== 2))
        return (sine, cosine)
    }
}

extension Float {
    @inline(__always)
    static func sinCos(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        typealias V = SIMD8<Float>
        let magic = V(repeating: 12582912.0)   // 1.5 * 2^23
        let q = (x * 0.636619772 + magic) - magic
        let r = ((x - q * 1.5703125) - q * 4.837512969970703125e-4) - q * 7.54978995489188216e-8
        let z = r * r
        var ps = V(repeating: -1.9515295891e-4)
        ps = ps * z + 8.3321608736e-3
        ps = ps * z - 1.6666654611e-1
        let s = r + r * z * ps
        var pc = V(repeating: 2.443315711809948e-5)
        pc = pc * z - 1.388731625493765e-3
        pc = pc * z + 4.166664568298827e-2
        let c = (1 - 0.5 * z) + z * z * pc
        let quadrant = q - 4 * ((q * 0.25 - 0.375 + magic) - magic)
        let swap = (quadrant .== 1) .| (quadrant .== 3)
        var sine = s, cosine = c
        sine.replace(with: c, where: swap)
        cosine.replace(with: s, where: swap)
        sine.replace(with: -sine, where: quadrant .>= 2)
        cosine.replace(with: -cosine, where: (quadrant .== 1) .| (quadrant .== 2))
        return (sine, cosine)
    }
}

extension Double {
    /// e^x of every lane: x = k ln2 + r with |r| <= ln2 / 2 (ln2 in two parts), a degree-13
    /// Taylor polynomial for e^r, and 2^k built in the exponent bits. Within about one ulp;
    /// arguments below -708 give e^-708 (about 3e-308) instead of a subnormal or zero.
    @inline(__always)
    static func exponential(_ x: SIMD4<Double>) -> SIMD4<Double> {
        typealias V = SIMD4<Double>
        var y = x
        y.replace(with: V(repeating: -708), where: x .< -708)
        y.replace(with: V(repeating: 709), where: x .> 709)
        let magic = V(repeating: 6755399441055744.0)           // 1.5 * 2^52: round to nearest
        let shifted = y * 1.4426950408889634074 + magic
        let k = shifted - magic
        let r = (y - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10
        var p = V(repeating: 1.0 / 6227020800.0)                // 1/13!, then Horner down to 1 (fused)
        p = multiplyAdd(V(repeating: 1.0 / 479001600.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 39916800.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 3628800.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 362880.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 40320.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 5040.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 720.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 120.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 24.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 6.0), p, r)
        p = multiplyAdd(V(repeating: 0.5), p, r)
        p = multiplyAdd(V(repeating: 1.0), p, r)
        p = multiplyAdd(V(repeating: 1.0), p, r)
        // k sits in the low bits of `shifted`; 2^k has exponent field k + 1023.
        let kBits = unsafeBitCast(shifted, to: SIMD4<Int64>.self) &- unsafeBitCast(magic, to: SIMD4<Int64>.self)
        let scale = unsafeBitCast((kBits &+ 1023) &<< 52, to: SIMD4<Double>.self)
        return p * scale
    }
}

extension Float {
    /// e^x of every lane, as the Double version: x = k ln2 + r with |r| <= ln2 / 2, a degree-7
    /// Taylor polynomial for e^r (error below 2e-8 relative, under Float's half ulp), 2^k in the
    /// exponent bits; arguments below -87 give e^-87 instead of a subnormal or zero.
    @inline(__always)
    static func exponential(_ x: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        var y = x
        y.replace(with: V(repeating: -87), where: x .< -87)
        y.replace(with: V(repeating: 88), where: x .> 88)
        let magic = V(repeating: 12582912.0)                    // 1.5 * 2^23: round to nearest
        let shifted = y * 1.44269504 + magic
        let k = shifted - magic
        let r = (y - k * 0.693359375) - k * -2.12194440e-4
        var p = V(repeating: 1.0 / 5040.0)                      // 1/7!, then Horner down to 1 (fused)
        p = multiplyAdd(V(repeating: 1.0 / 720.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 120.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 24.0), p, r)
        p = multiplyAdd(V(repeating: 1.0 / 6.0), p, r)
        p = multiplyAdd(V(repeating: 0.5), p, r)
        p = multiplyAdd(V(repeating: 1.0), p, r)
        p = multiplyAdd(V(repeating: 1.0), p, r)
        let kBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((kBits &+ 127) &<< 23, to: SIMD8<Float>.self)
        return p * scale
    }
}
