/// The canonical correction stage of one atom (models without message passing whose file says
/// `symmetrizer.self_interaction: false`; canonical-cace.md §5.1, §6): forward, the power sums
/// of `CanonicalTable` over the atom's edges and the corrections added to B; backward, the
/// adjoints of A and of the power sums, then per edge the adjoints of ρ_e and u_e. Forces stay
/// per edge, so the virial and domain decomposition are those of the self-interacting model.
///
/// Layouts are the atom-by-atom path's (invariant-major): A [k][mc], B [q][mc], with mc = M C.
/// The per-edge mixed radial functions, χ included, are Φ_e[s][mc] = Σ_n ρ_e[n] V[zr][z][l_s][n][mc]
/// with V the fused table of `FeatureKernels` (χ W), for the degree l_s of slot s.
struct CanonicalCorrelation<T: FeatureScalar>: Sendable {
    let table: CanonicalTable
    let angularCount: Int
    let radialCount: Int
    let columns: Int          // M C
    let elementCount: Int
    let degreeCount: Int      // L + 1, the fused table's degree axis
    let coefficients: [T]

    init(table: CanonicalTable, angularCount: Int, radialCount: Int, columns: Int, elementCount: Int, degreeCount: Int) {
        (self.table, self.angularCount, self.radialCount, self.columns, self.elementCount, self.degreeCount) =
            (table, angularCount, radialCount, columns, elementCount, degreeCount)
        coefficients = table.corrections.map { T($0.coefficient) }
    }

    var slotCount: Int { table.degrees.count }
    var productCount: Int { table.products.count }
    var signatureCount: Int { table.signatures.count }

    /// Scratch sizes (in T) of one atom with `edgeStride` edge rows, and the Double part.
    func scratchLayout(edgeStride: Int) -> (features: ScratchLayout, pieces: [Int], geometry: ScratchLayout, geometryPieces: [Int]) {
        var t = ScratchLayout()
        let pieces = [t.piece(edgeStride * slotCount * columns), t.piece(productCount * columns),
                      t.piece(signatureCount * columns), t.piece(signatureCount * columns),
                      t.piece(productCount * columns), t.piece(slotCount * columns), t.piece(radialCount)]
        var g = ScratchLayout()
        let geometryPieces = [g.piece(3 * edgeStride), g.piece(3 * (table.maxDegree + 1))]
        return (t, pieces, g, geometryPieces)
    }

    /// The edges of one atom: real edges of sender element z are groups[z]; ρ[n][e] in rows of
    /// `stride`; r_e and d_e in Double.
    struct Edges {
        let receiver: Int
        let groups: [Range<Int>]
        let stride: Int
        let rho: UnsafePointer<T>
        let vectors: UnsafePointer<Double>
        let lengths: UnsafePointer<Double>
    }

    /// Per-thread buffers (see `scratchLayout`).
    struct Work {
        let phi: UnsafeMutablePointer<T>        // [e][slot][mc], kept from forward to backward
        let product: UnsafeMutablePointer<T>    // [product][mc] of one edge
        let powerSums: UnsafeMutablePointer<T>  // [signature][mc]
        let powerSumBar: UnsafeMutablePointer<T>
        let productBar: UnsafeMutablePointer<T> // [product][mc] of one edge
        let phiBar: UnsafeMutablePointer<T>     // [slot][mc] of one edge
        let rhoBar: UnsafeMutablePointer<T>     // [n] of one edge
        let uBar: UnsafeMutablePointer<Double>  // [3][e]
        let powers: UnsafeMutablePointer<Double> // [axis][0 ... maxDegree]
    }

    // MARK: forward

    /// Power sums over the atom's edges, then B += the corrections (B holds the symmetrizer's output).
    func forward(_ edges: Edges, a: UnsafePointer<T>, b: UnsafeMutablePointer<T>, fused: UnsafePointer<T>, _ w: Work) {
        let mc = columns
        w.powerSums.initialize(repeating: 0, count: signatureCount * mc)
        for (z, group) in edges.groups.enumerated() {
            for e in group {
                let phi = w.phi + e * slotCount * mc
                for s in 0..<slotCount {
                    let row = phi + s * mc
                    row.initialize(repeating: 0, count: mc)
                    addCombination(mc, rows: radialCount, edges.rho + e, cStride: edges.stride,
                                   fusedRows(fused, receiver: edges.receiver, sender: z, slot: s), xStride: mc, into: row)
                }
                multiplyProducts(phi, columns: 0..<mc, into: w.product)
                fillPowers(edges, e, w.powers)
                for (s, signature) in table.signatures.enumerated() {
                    addScaled(mc, T(monomial(signature.exponent, w.powers)), w.product + signature.product * mc,
                              into: w.powerSums + s * mc)
                }
            }
        }
        for (n, correction) in table.corrections.enumerated() {
            let r = correction.rows, c = coefficients[n], out = b + correction.feature * mc
            func row(_ i: Int) -> UnsafePointer<T> { rowPointer(r[i], a: a, w) }
            switch r.count {
            case 1: addScaled(mc, c, row(0), into: out)
            case 2: addScaledProduct(mc, c, row(0), row(1), into: out)
            default: addScaledProduct(mc, c, row(0), row(1), row(2), into: out)
            }
        }
    }

    // MARK: backward

    /// aBar += the corrections' share of dB/dA^T bBar, and the power sums' adjoints, for the
    /// columns `range` of mc (a descriptor seed touches one column). Returns whether any power
    /// sum has a non-zero adjoint (if not, the edge step has nothing to do).
    func atomAdjoint(a: UnsafePointer<T>, bBar: UnsafePointer<T>, aBar: UnsafeMutablePointer<T>, columns range: Range<Int>,
                     _ w: Work) -> Bool {
        let mc = columns, lo = range.lowerBound, count = range.count
        for s in 0..<signatureCount { (w.powerSumBar + s * mc + lo).initialize(repeating: 0, count: count) }
        var touched = false
        for (n, correction) in table.corrections.enumerated() {
            let r = correction.rows, c = coefficients[n], g = bBar + correction.feature * mc + lo
            func row(_ i: Int) -> UnsafePointer<T> { rowPointer(r[i], a: a, w) + lo }
            func bar(_ i: Int) -> UnsafeMutablePointer<T> {
                touched = touched || r[i] >= angularCount
                return (r[i] < angularCount ? aBar + r[i] * mc : w.powerSumBar + (r[i] - angularCount) * mc) + lo
            }
            switch r.count {
            case 1:
                addScaled(count, c, g, into: bar(0))
            case 2:
                addScaledProduct(count, c, g, row(1), into: bar(0))
                addScaledProduct(count, c, g, row(0), into: bar(1))
            default:
                addScaledProduct(count, c, g, row(1), row(2), into: bar(0))
                addScaledProduct(count, c, g, row(0), row(2), into: bar(1))
                addScaledProduct(count, c, g, row(0), row(1), into: bar(2))
            }
        }
        return touched
    }

    /// Per edge: rhoBar[n][e] += dE/dρ_e[n] and w.uBar[axis][e] = dE/du_e through the power sums
    /// (their adjoints from `atomAdjoint`, same columns). Needs `w.phi` from `forward`.
    func edgeAdjoint(_ edges: Edges, fused: UnsafePointer<T>, rhoBar: UnsafeMutablePointer<T>, columns range: Range<Int>,
                     _ w: Work) {
        let mc = columns, lo = range.lowerBound, count = range.count, stride = edges.stride
        for (z, group) in edges.groups.enumerated() {
            for e in group {
                let phi = w.phi + e * slotCount * mc
                multiplyProducts(phi, columns: range, into: w.product)
                fillPowers(edges, e, w.powers)
                for j in 0..<productCount { (w.productBar + j * mc + lo).initialize(repeating: 0, count: count) }
                var uBar = (0.0, 0.0, 0.0)
                for (s, signature) in table.signatures.enumerated() {
                    let pBar = w.powerSumBar + s * mc + lo, product = w.product + signature.product * mc + lo
                    let g = Double(dot(count, pBar, product))
                    if g != 0 {
                        let d = monomialGradient(signature.exponent, w.powers)
                        uBar = (uBar.0 + g * d.0, uBar.1 + g * d.1, uBar.2 + g * d.2)
                    }
                    addScaled(count, T(monomial(signature.exponent, w.powers)), pBar, into: w.productBar + signature.product * mc + lo)
                }
                w.uBar[e] = uBar.0; w.uBar[stride + e] = uBar.1; w.uBar[2 * stride + e] = uBar.2
                for s in 0..<slotCount { (w.phiBar + s * mc + lo).initialize(repeating: 0, count: count) }
                for (j, slots) in table.products.enumerated() {
                    let g = w.productBar + j * mc + lo
                    func f(_ i: Int) -> UnsafePointer<T> { UnsafePointer(phi + slots[i] * mc + lo) }
                    func bar(_ i: Int) -> UnsafeMutablePointer<T> { w.phiBar + slots[i] * mc + lo }
                    switch slots.count {
                    case 2:
                        addScaledProduct(count, 1, g, f(1), into: bar(0))
                        addScaledProduct(count, 1, g, f(0), into: bar(1))
                    case 3:
                        addScaledProduct(count, 1, g, f(1), f(2), into: bar(0))
                        addScaledProduct(count, 1, g, f(0), f(2), into: bar(1))
                        addScaledProduct(count, 1, g, f(0), f(1), into: bar(2))
                    default:
                        addScaledProduct(count, 1, g, f(1), f(2), f(3), into: bar(0))
                        addScaledProduct(count, 1, g, f(0), f(2), f(3), into: bar(1))
                        addScaledProduct(count, 1, g, f(0), f(1), f(3), into: bar(2))
                        addScaledProduct(count, 1, g, f(0), f(1), f(2), into: bar(3))
                    }
                }
                // rhoBar[n] += sum_s sum_mc phiBar[s][mc] V[zr][z][l_s][n][mc]
                for s in 0..<slotCount {
                    dots(count, rows: radialCount, fusedRows(fused, receiver: edges.receiver, sender: z, slot: s) + lo,
                         xStride: mc, w.phiBar + s * mc + lo, into: w.rhoBar, outStride: 1)
                    for n in 0..<radialCount { rhoBar[n * stride + e] += w.rhoBar[n] }
                }
            }
        }
    }

    // MARK: helpers

    /// The rows V[zr][z][l_s][0 ..< n_r][mc] of the fused table.
    @inline(__always)
    private func fusedRows(_ fused: UnsafePointer<T>, receiver zr: Int, sender z: Int, slot s: Int) -> UnsafePointer<T> {
        fused + ((zr * elementCount + z) * degreeCount + table.degrees[s]) * radialCount * columns
    }

    @inline(__always)
    private func rowPointer(_ r: Int, a: UnsafePointer<T>, _ w: Work) -> UnsafePointer<T> {
        r < angularCount ? a + r * columns : UnsafePointer(w.powerSums + (r - angularCount) * columns)
    }

    /// product[j][range] = Π of the edge's Φ rows of product j.
    private func multiplyProducts(_ phi: UnsafePointer<T>, columns range: Range<Int>, into product: UnsafeMutablePointer<T>) {
        let mc = columns, lo = range.lowerBound, count = range.count
        for (j, slots) in table.products.enumerated() {
            let out = product + j * mc + lo
            out.initialize(repeating: 0, count: count)
            func f(_ i: Int) -> UnsafePointer<T> { phi + slots[i] * mc + lo }
            switch slots.count {
            case 2: addScaledProduct(count, 1, f(0), f(1), into: out)
            case 3: addScaledProduct(count, 1, f(0), f(1), f(2), into: out)
            default: addScaledProduct(count, 1, f(0), f(1), f(2), f(3), into: out)
            }
        }
    }

    /// powers[axis (maxDegree + 1) + p] = u_axis^p for u = r / (d + 1e-9) (quirk Q1).
    @inline(__always)
    private func fillPowers(_ edges: Edges, _ e: Int, _ powers: UnsafeMutablePointer<Double>) {
        let width = table.maxDegree + 1
        let s = EdgeFormulas.inverseLength(edges.lengths[e])
        for axis in 0..<3 {
            let u = edges.vectors[3 * e + axis] * s
            var p = 1.0
            for power in 0..<width { powers[axis * width + power] = p; p *= u }
        }
    }

    @inline(__always)
    private func monomial(_ v: (Int, Int, Int), _ powers: UnsafePointer<Double>) -> Double {
        let width = table.maxDegree + 1
        return powers[v.0] * powers[width + v.1] * powers[2 * width + v.2]
    }

    @inline(__always)
    private func monomialGradient(_ v: (Int, Int, Int), _ powers: UnsafePointer<Double>) -> (Double, Double, Double) {
        let width = table.maxDegree + 1
        let x = powers[v.0], y = powers[width + v.1], z = powers[2 * width + v.2]
        return (v.0 > 0 ? Double(v.0) * powers[v.0 - 1] * y * z : 0,
                v.1 > 0 ? Double(v.1) * x * powers[width + v.1 - 1] * z : 0,
                v.2 > 0 ? Double(v.2) * x * y * powers[2 * width + v.2 - 1] : 0)
    }
}
