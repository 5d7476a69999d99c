/// The MessageAr term's two hot loops (spec §5.2), over runs of M C values.

/// a[x] += sum_e phi_e[x] * s_e[x] for x < count, with `a` held in registers across the edges
/// (one pass over `a` instead of one per edge).
@inline(__always)
func addEdgeProducts<T: FeatureScalar>(_ count: Int, edges: Int, phi: (Int) -> UnsafePointer<T>,
                                       senders: (Int) -> UnsafePointer<T>, into a: UnsafeMutablePointer<T>) {
    typealias V = T.Lanes
    let width = V.scalarCount
    @inline(__always) func ld(_ p: UnsafePointer<T>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) func st(_ v: V, _ p: UnsafeMutablePointer<T>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
    var x = 0
    while x + 4 * width <= count {
        var (a0, a1, a2, a3) = (ld(a + x), ld(a + x + width), ld(a + x + 2 * width), ld(a + x + 3 * width))
        for e in 0..<edges {
            let p = phi(e) + x, s = senders(e) + x
            a0 = multiplyAdd(a0, ld(p), ld(s))
            a1 = multiplyAdd(a1, ld(p + width), ld(s + width))
            a2 = multiplyAdd(a2, ld(p + 2 * width), ld(s + 2 * width))
            a3 = multiplyAdd(a3, ld(p + 3 * width), ld(s + 3 * width))
        }
        st(a0, a + x); st(a1, a + x + width); st(a2, a + x + 2 * width); st(a3, a + x + 3 * width)
        x += 4 * width
    }
    while x + width <= count {
        var a0 = ld(a + x)
        for e in 0..<edges { a0 = multiplyAdd(a0, ld(phi(e) + x), ld(senders(e) + x)) }
        st(a0, a + x)
        x += width
    }
    while x < count {
        var a0 = a[x]
        for e in 0..<edges { a0 += phi(e)[x] * senders(e)[x] }
        a[x] = a0
        x += 1
    }
}

/// The adjoint of one edge's term a += phi (.) s: target[x] += phi[x] g[x], and returns
/// sum_x g[x] s[x] dphi[x] (the edge's dE/dd through phi), in one pass over g.
@inline(__always)
func addEdgeProductAdjoint<T: FeatureScalar>(_ count: Int, g: UnsafePointer<T>, phi: UnsafePointer<T>,
                                             phiDerivative: UnsafePointer<T>, sender s: UnsafePointer<T>,
                                             into target: UnsafeMutablePointer<T>) -> T {
    typealias V = T.Lanes
    let width = V.scalarCount
    @inline(__always) func ld(_ p: UnsafePointer<T>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    // Two partial sums: one would chain every step on the latency of a fused multiply-add.
    var sum0 = V(repeating: 0), sum1 = V(repeating: 0)
    @inline(__always) func step(_ x: Int, _ sum: inout V) {
        let gv = ld(g + x)
        UnsafeMutableRawPointer(target + x).storeBytes(of: multiplyAdd(ld(target + x), gv, ld(phi + x)), as: V.self)
        sum = multiplyAdd(sum, gv * ld(s + x), ld(phiDerivative + x))
    }
    var x = 0
    while x + 2 * width <= count {
        step(x, &sum0)
        step(x + width, &sum1)
        x += 2 * width
    }
    if x + width <= count {
        step(x, &sum0)
        x += width
    }
    let sum = sum0 + sum1
    var tail: T = 0
    while x < count {
        target[x] += g[x] * phi[x]
        tail += g[x] * s[x] * phiDerivative[x]
        x += 1
    }
    return T.horizontalSum(sum) + tail
}
