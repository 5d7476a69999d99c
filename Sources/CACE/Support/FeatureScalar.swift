#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The floating-point type the per-atom feature arithmetic runs in: `Double` (the default,
/// matches upstream to round-off) or `Float` (precision single: half the memory traffic and
/// twice the SIMD width). Geometry, forces, virials and energy sums always stay `Double`.
protocol FeatureScalar: BinaryFloatingPoint, SIMDScalar, Sendable, Codable {
    /// A 256-bit vector of this scalar: what one AVX register holds.
    associatedtype Lanes: SIMD & EdgeValue where Lanes.Scalar == Self
    static func exponential(_ x: Self) -> Self
    /// e^x of every lane (VectorMath.swift).
    static func exponential(_ x: Lanes) -> Lanes
    /// The sum of a vector's lanes as a tree of adds (`SIMD.sum()` adds lane after lane: a chain
    /// of 7 dependent adds for 8 lanes).
    static func horizontalSum(_ v: Lanes) -> Self
    /// sin and cos of every lane (VectorMath.swift).
    static func sinCos(_ x: Lanes) -> (Lanes, Lanes)
}

extension Double: FeatureScalar {
    typealias Lanes = SIMD4<Double>
    @inline(__always) static func exponential(_ x: Double) -> Double { exp(x) }
    @inline(__always) static func horizontalSum(_ v: SIMD4<Double>) -> Double {
        let half = v.lowHalf + v.highHalf
        return half[0] + half[1]
    }
}

extension Float: FeatureScalar {
    typealias Lanes = SIMD8<Float>
    @inline(__always) static func exponential(_ x: Float) -> Float { expf(x) }
    @inline(__always) static func horizontalSum(_ v: SIMD8<Float>) -> Float {
        let half = v.lowHalf + v.highHalf, quarter = half.lowHalf + half.highHalf
        return quarter[0] + quarter[1]
    }
}

/// The precision of an evaluation's feature arithmetic.
public enum Precision: String, Sendable, CaseIterable {
    case double
    case single
}
