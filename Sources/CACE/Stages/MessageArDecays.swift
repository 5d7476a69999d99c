#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// out[i] = scale * prefactor[i] * exp(-d * inverse[i]): the MessageAr decays of one edge for
/// every (l, m, c), four at a time.
func messageArDecays(_ count: Int, distance d: Double, scale: Double, prefactor: [Double], inverse: [Double],
                     into out: UnsafeMutablePointer<Double>) {
    prefactor.withUnsafeBufferPointer { p in
        inverse.withUnsafeBufferPointer { q in
            let p = p.baseAddress.unsafelyUnwrapped, q = q.baseAddress.unsafelyUnwrapped
            var i = 0
            while i + 4 <= count {
                let pv = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<Double>.self)
                let qv = UnsafeRawPointer(q + i).loadUnaligned(as: SIMD4<Double>.self)
                let value = scale * pv * Double.exponential(-d * qv)
                UnsafeMutableRawPointer(out + i).storeBytes(of: value, as: SIMD4<Double>.self)
                i += 4
            }
            while i < count { out[i] = scale * p[i] * exp(-d * q[i]); i += 1 }
        }
    }
}
