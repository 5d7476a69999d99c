/// The canonical correction stage of one atom (models without message passing whose file says
/// `symmetrizer.self_interaction: false`; canonical-cace.md §5, §6): forward, B += the
/// corrections of `CanonicalTable`; backward, the adjoints of A, of ρ_e and of u_e. Forces stay
/// per edge, so the virial and the domain decomposition are those of the self-interacting model.
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
    /// Flattened table (no arrays of arrays in the loops): the slots of each product (up to 4,
    /// -1 unused), each signature's product and exponent, each correction's rows (up to 3).
    let productSlots: [(Int, Int, Int, Int)]
    let productOrder: [Int]
    let signatureProduct: [Int]
    let signatureExponent: [(Int, Int, Int)]
    let correctionRows: [(Int, Int, Int)]
    let correctionOrder: [Int]
    let correctionFeature: [Int]
    /// Closed forms: feature, degrees (l1, l2, l3 or l, l, -1), slots, Π rows (ν = 3).
    let forms: [(feature: Int, l: (Int, Int, Int), slot: (Int, Int, Int), pi: (Int, Int, Int))]
    /// Each Π row's degree, first monomial index and monomial count.
    let piBlocks: [(degree: Int, start: Int, count: Int)]
    /// mult(v) of every monomial k.
    let multinomial: [Double]
    let exponents: [(Int, Int, Int)]

    init(table: CanonicalTable, angular: AngularBasis, radialCount: Int, columns: Int, elementCount: Int) {
        (self.table, self.angularCount, self.radialCount, self.columns, self.elementCount, self.degreeCount) =
            (table, angular.count, radialCount, columns, elementCount, angular.maxL + 1)
        coefficients = table.corrections.map { T($0.coefficient) }
        productSlots = table.products.map { s in (s[0], s[1], s.count > 2 ? s[2] : -1, s.count > 3 ? s[3] : -1) }
        productOrder = table.products.map(\.count)
        signatureProduct = table.signatures.map(\.product)
        signatureExponent = table.signatures.map(\.exponent)
        correctionRows = table.corrections.map { c in (c.rows[0], c.rows.count > 1 ? c.rows[1] : -1, c.rows.count > 2 ? c.rows[2] : -1) }
        correctionOrder = table.corrections.map(\.rows.count)
        correctionFeature = table.corrections.map(\.feature)
        forms = table.closedForms.map { f in
            f.degrees.count == 2
                ? (f.feature, (f.degrees[0], f.degrees[1], -1), (f.slots[0], f.slots[1], -1), (-1, -1, -1))
                : (f.feature, (f.degrees[0], f.degrees[1], f.degrees[2]), (f.slots[0], f.slots[1], f.slots[2]),
                   (f.pi[0], f.pi[1], f.pi[2]))
        }
        piBlocks = table.piDegrees.map { l in (l, angular.groups[l].lowerBound, angular.groups[l].count) }
        exponents = angular.exponents
        multinomial = angular.exponents.map { e in
            func f(_ n: Int) -> Double { n <= 1 ? 1 : Double(n) * f(n - 1) }
            return f(e.0 + e.1 + e.2) / (f(e.0) * f(e.1) * f(e.2))
        }
    }

    var slotCount: Int { table.degrees.count }
    var productCount: Int { table.products.count }
    var signatureCount: Int { table.signatures.count }
    var piCount: Int { table.piDegrees.count }

    /// Scratch pieces in T for one atom with `edgeStride` edge rows, and in Double.
    func scratchLayout(edgeStride: Int) -> (features: ScratchLayout, pieces: [Int], geometry: ScratchLayout, geometryPieces: [Int]) {
        var t = ScratchLayout()
        let mc = columns
        let pieces = [t.piece(edgeStride * slotCount * mc), t.piece(productCount * mc), t.piece(signatureCount * mc),
                      t.piece(signatureCount * mc), t.piece(productCount * mc), t.piece(slotCount * mc),
                      t.piece(max(radialCount, angularCount)), t.piece(piCount * mc), t.piece(edgeStride * piCount * mc),
                      t.piece(radialCount * edgeStride), t.piece(angularCount * edgeStride)]
        var g = ScratchLayout()
        let geometryPieces = [g.piece(3 * edgeStride), g.piece(3 * (table.maxDegree + 1)), g.piece(angularCount)]
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
        let small: UnsafeMutablePointer<T>      // [max(n_r, K)] of one edge
        let pi: UnsafeMutablePointer<T>         // [Π row][mc] of one edge
        let piBar: UnsafeMutablePointer<T>      // [e][Π row][mc]: summed into Ā after the edge loop
        let rhoBar: UnsafeMutablePointer<T>     // [n][e]: dE/dρ through the corrections
        let uBar: UnsafeMutablePointer<Double>  // [3][e]: dE/du through the corrections
        let powers: UnsafeMutablePointer<Double> // [axis][0 ... maxDegree]
        let monomials: UnsafeMutablePointer<Double> // [k]: mult(v_k) u^v_k of one edge
        let monomialsByEdge: UnsafeMutablePointer<T> // [k][e]: the same for every edge
    }

    // MARK: forward

    /// B += the corrections of one atom (B holds the symmetrizer's output, A the atom's A).
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
                let sq = fillPowers(edges, e, w)
                if !forms.isEmpty {
                    piRows(a: a, columns: 0..<mc, w)
                    for f in forms { closedFormForward(f, phi: phi, s: sq, b: b, w) }
                }
                if signatureCount > 0 {
                    multiplyProducts(phi, columns: 0..<mc, into: w.product)
                    for s in 0..<signatureCount {
                        addScaled(mc, T(monomial(signatureExponent[s], w.powers)), w.product + signatureProduct[s] * mc,
                                  into: w.powerSums + s * mc)
                    }
                }
            }
        }
        for n in 0..<coefficients.count {
            let r = correctionRows[n], c = coefficients[n], out = b + correctionFeature[n] * mc
            switch correctionOrder[n] {
            case 1: addScaled(mc, c, row(r.0, a, w), into: out)
            case 2: addScaledProduct(mc, c, row(r.0, a, w), row(r.1, a, w), into: out)
            default: addScaledProduct(mc, c, row(r.0, a, w), row(r.1, a, w), row(r.2, a, w), into: out)
            }
        }
    }

    /// ν = 2 (5.1): −Σ_e Φ_l² s^l. ν = 3 (5.2): −Φ1Φ2Π_{l3} − s^{l1}Φ1Φ3Π_{l2} − s^{l2}Φ2Φ3Π_{l1} + 2 s^{l3}Φ1Φ2Φ3.
    @inline(__always)
    private func closedFormForward(_ f: (feature: Int, l: (Int, Int, Int), slot: (Int, Int, Int), pi: (Int, Int, Int)),
                                   phi: UnsafePointer<T>, s: Double, b: UnsafeMutablePointer<T>, _ w: Work) {
        let mc = columns, out = b + f.feature * mc
        let p1 = phi + f.slot.0 * mc, p2 = phi + f.slot.1 * mc
        if f.l.2 < 0 {
            addScaledProduct(mc, T(-power(s, f.l.0)), p1, p2, into: out)
            return
        }
        let c: (T, T, T) = (T(-power(s, f.l.0)), T(-power(s, f.l.1)), T(2 * power(s, f.l.2)))
        let p3: UnsafePointer<T> = phi + f.slot.2 * mc
        let pi1: UnsafePointer<T> = UnsafePointer(w.pi + f.pi.2 * mc)
        let pi2: UnsafePointer<T> = UnsafePointer(w.pi + f.pi.1 * mc)
        let pi3: UnsafePointer<T> = UnsafePointer(w.pi + f.pi.0 * mc)
        CanonicalClosedForms.tripleForward(mc, c, p1, p2, p3, pi1, pi2, pi3, into: out)
    }

    // MARK: backward

    /// The corrections' share of Ā (into `aBar`, before the radial-transform adjoint), and per
    /// edge their share of dE/dρ and dE/du (into `w.rhoBar`, `w.uBar`; see `addEdgeAdjoints`),
    /// for the columns `range` of mc (a descriptor seed touches one). Returns false when the
    /// seed reaches no correction. Needs `w.phi` from `forward`.
    func backward(_ edges: Edges, a: UnsafePointer<T>, bBar: UnsafePointer<T>, aBar: UnsafeMutablePointer<T>,
                  fused: UnsafePointer<T>, columns range: Range<Int>, _ w: Work) -> Bool {
        let mc = columns, lo = range.lowerBound, count = range.count
        func seeded(_ q: Int) -> Bool { (0..<count).contains { bBar[q * mc + lo + $0] != 0 } }
        // Atom step: the power sums' adjoints.
        var anyPowerSum = false
        for s in 0..<signatureCount { (w.powerSumBar + s * mc + lo).initialize(repeating: 0, count: count) }
        for n in 0..<coefficients.count where seeded(correctionFeature[n]) {
            let r = correctionRows[n], c = coefficients[n], g = bBar + correctionFeature[n] * mc + lo
            func x(_ i: Int) -> UnsafePointer<T> { row(i, a, w) + lo }
            func bar(_ i: Int) -> UnsafeMutablePointer<T> {
                (i < angularCount ? aBar + i * mc : w.powerSumBar + (i - angularCount) * mc) + lo
            }
            anyPowerSum = anyPowerSum || r.0 >= angularCount || r.1 >= angularCount || r.2 >= angularCount
            switch correctionOrder[n] {
            case 1:
                addScaled(count, c, g, into: bar(r.0))
            case 2:
                addScaledProduct(count, c, g, x(r.1), into: bar(r.0))
                addScaledProduct(count, c, g, x(r.0), into: bar(r.1))
            default:
                addScaledProduct(count, c, g, x(r.1), x(r.2), into: bar(r.0))
                addScaledProduct(count, c, g, x(r.0), x(r.2), into: bar(r.1))
                addScaledProduct(count, c, g, x(r.0), x(r.1), into: bar(r.2))
            }
        }
        let activeForms = forms.filter { seeded($0.feature) }
        guard anyPowerSum || !activeForms.isEmpty else { return false }
        let stride = edges.stride
        for e in 0..<stride { for n in 0..<radialCount { w.rhoBar[n * stride + e] = 0 } }
        w.uBar.initialize(repeating: 0, count: 3 * stride)
        // Edge step.
        for (z, group) in edges.groups.enumerated() {
            for e in group {
                let phi = w.phi + e * slotCount * mc
                let sq = fillPowers(edges, e, w)
                for s in 0..<slotCount { (w.phiBar + s * mc + lo).initialize(repeating: 0, count: count) }
                var uBar = (0.0, 0.0, 0.0)
                if !activeForms.isEmpty {
                    piRows(a: a, columns: range, w)
                    let piBarEdge = w.piBar + e * piCount * mc
                    for p in 0..<piCount { (piBarEdge + p * mc + lo).initialize(repeating: 0, count: count) }
                    var sBar = 0.0
                    for f in activeForms {
                        sBar += closedFormBackward(f, phi: phi, s: sq, g: bBar + f.feature * mc + lo, piBar: piBarEdge,
                                                   columns: range, w)
                    }
                    // s = u . u
                    let inverse = EdgeFormulas.inverseLength(edges.lengths[e])
                    let u = (edges.vectors[3 * e] * inverse, edges.vectors[3 * e + 1] * inverse, edges.vectors[3 * e + 2] * inverse)
                    uBar = (2 * sBar * u.0, 2 * sBar * u.1, 2 * sBar * u.2)
                    // Π_l(e) = Σ_k mult(v_k) u^v_k A_k: dE/du through the monomials now; Ā after the loop.
                    for k in 0..<angularCount { w.monomialsByEdge[k * stride + e] = T(w.monomials[k]) }
                    for (p, block) in piBlocks.enumerated() {
                        let piBar = piBarEdge + p * mc + lo
                        dots(count, rows: block.count, a + block.start * mc + lo, xStride: mc, piBar, into: w.small, outStride: 1)
                        for j in 0..<block.count {
                            let k = block.start + j, g = multinomial[k] * Double(w.small[j])
                            let d = monomialGradient(exponents[k], w.powers)
                            uBar = (uBar.0 + g * d.0, uBar.1 + g * d.1, uBar.2 + g * d.2)
                        }
                    }
                }
                if anyPowerSum {
                    multiplyProducts(phi, columns: range, into: w.product)
                    for j in 0..<productCount { (w.productBar + j * mc + lo).initialize(repeating: 0, count: count) }
                    for s in 0..<signatureCount {
                        let pBar = w.powerSumBar + s * mc + lo, product = w.product + signatureProduct[s] * mc + lo
                        let g = Double(dot(count, pBar, product))
                        if g != 0 {
                            let d = monomialGradient(signatureExponent[s], w.powers)
                            uBar = (uBar.0 + g * d.0, uBar.1 + g * d.1, uBar.2 + g * d.2)
                        }
                        addScaled(count, T(monomial(signatureExponent[s], w.powers)), pBar,
                                  into: w.productBar + signatureProduct[s] * mc + lo)
                    }
                    for j in 0..<productCount {
                        let g = w.productBar + j * mc + lo, sl = productSlots[j]
                        func f(_ s: Int) -> UnsafePointer<T> { UnsafePointer(phi + s * mc + lo) }
                        func bar(_ s: Int) -> UnsafeMutablePointer<T> { w.phiBar + s * mc + lo }
                        switch productOrder[j] {
                        case 2:
                            addScaledProduct(count, 1, g, f(sl.1), into: bar(sl.0))
                            addScaledProduct(count, 1, g, f(sl.0), into: bar(sl.1))
                        case 3:
                            addScaledProduct(count, 1, g, f(sl.1), f(sl.2), into: bar(sl.0))
                            addScaledProduct(count, 1, g, f(sl.0), f(sl.2), into: bar(sl.1))
                            addScaledProduct(count, 1, g, f(sl.0), f(sl.1), into: bar(sl.2))
                        default:
                            addScaledProduct(count, 1, g, f(sl.1), f(sl.2), f(sl.3), into: bar(sl.0))
                            addScaledProduct(count, 1, g, f(sl.0), f(sl.2), f(sl.3), into: bar(sl.1))
                            addScaledProduct(count, 1, g, f(sl.0), f(sl.1), f(sl.3), into: bar(sl.2))
                            addScaledProduct(count, 1, g, f(sl.0), f(sl.1), f(sl.2), into: bar(sl.3))
                        }
                    }
                }
                w.uBar[e] = uBar.0; w.uBar[stride + e] = uBar.1; w.uBar[2 * stride + e] = uBar.2
                // rhoBar[n] = sum_s sum_mc phiBar[s][mc] V[zr][z][l_s][n][mc]
                for s in 0..<slotCount {
                    dots(count, rows: radialCount, fusedRows(fused, receiver: edges.receiver, sender: z, slot: s) + lo,
                         xStride: mc, w.phiBar + s * mc + lo, into: w.small, outStride: 1)
                    for n in 0..<radialCount { w.rhoBar[n * stride + e] += w.small[n] }
                }
            }
        }
        // Ā_k += Σ_e mult(v_k) u_e^v_k Π̄_e (one sum over the edges per k: no store per edge).
        if !activeForms.isEmpty {
            for (p, block) in piBlocks.enumerated() {
                for k in block.start..<(block.start + block.count) {
                    for group in edges.groups where !group.isEmpty {
                        addCombination(count, rows: group.count, w.monomialsByEdge + k * stride + group.lowerBound, cStride: 1,
                                       w.piBar + (group.lowerBound * piCount + p) * mc + lo, xStride: piCount * mc,
                                       into: aBar + k * mc + lo)
                    }
                }
            }
        }
        return true
    }

    /// The adjoint of `closedFormForward` for one edge: Φ̄ and Π̄ rows (columns `range`); returns dE/ds.
    @inline(__always)
    private func closedFormBackward(_ f: (feature: Int, l: (Int, Int, Int), slot: (Int, Int, Int), pi: (Int, Int, Int)),
                                    phi: UnsafePointer<T>, s: Double, g: UnsafePointer<T>, piBar: UnsafeMutablePointer<T>,
                                    columns range: Range<Int>, _ w: Work) -> Double {
        let mc = columns, lo = range.lowerBound, count = range.count
        let p1 = phi + f.slot.0 * mc + lo, p2 = phi + f.slot.1 * mc + lo
        let b1 = w.phiBar + f.slot.0 * mc + lo, b2 = w.phiBar + f.slot.1 * mc + lo
        if f.l.2 < 0 {
            let l = f.l.0
            addScaledProduct(count, T(-power(s, l)), g, p2, into: b1)
            addScaledProduct(count, T(-power(s, l)), g, p1, into: b2)
            return l == 0 ? 0 : -Double(l) * power(s, l - 1) * Double(dot3(count, g, p1, p2))
        }
        let (l1, l2, l3) = f.l
        let c: (T, T, T) = (T(-power(s, l1)), T(-power(s, l2)), T(2 * power(s, l3)))
        let p3: UnsafePointer<T> = phi + f.slot.2 * mc + lo
        let pi1: UnsafePointer<T> = UnsafePointer(w.pi + f.pi.2 * mc + lo)
        let pi2: UnsafePointer<T> = UnsafePointer(w.pi + f.pi.1 * mc + lo)
        let pi3: UnsafePointer<T> = UnsafePointer(w.pi + f.pi.0 * mc + lo)
        let b3: UnsafeMutablePointer<T> = w.phiBar + f.slot.2 * mc + lo
        let q1: UnsafeMutablePointer<T> = piBar + f.pi.2 * mc + lo
        let q2: UnsafeMutablePointer<T> = piBar + f.pi.1 * mc + lo
        let q3: UnsafeMutablePointer<T> = piBar + f.pi.0 * mc + lo
        let sums = CanonicalClosedForms.tripleBackward(count, c, g, (p1, p2, p3), (pi1, pi2, pi3),
                                                       phiBar: (b1, b2, b3), piBar: (q1, q2, q3))
        var sBar = 0.0
        if l1 > 0 { sBar -= Double(l1) * power(s, l1 - 1) * sums.0 }
        if l2 > 0 { sBar -= Double(l2) * power(s, l2 - 1) * sums.1 }
        if l3 > 0 { sBar += 2 * Double(l3) * power(s, l3 - 1) * sums.2 }
        return sBar
    }

    /// rhoBar[n][e] += the corrections' dE/dρ, from `backward`.
    func addEdgeAdjoints(_ edges: Edges, into rhoBar: UnsafeMutablePointer<T>, _ w: Work) {
        let stride = edges.stride
        for group in edges.groups {
            for e in group { for n in 0..<radialCount { rhoBar[n * stride + e] += w.rhoBar[n * stride + e] } }
        }
    }

    // MARK: helpers

    /// The rows V[zr][z][l_s][0 ..< n_r][mc] of the fused table.
    @inline(__always)
    private func fusedRows(_ fused: UnsafePointer<T>, receiver zr: Int, sender z: Int, slot s: Int) -> UnsafePointer<T> {
        fused + ((zr * elementCount + z) * degreeCount + table.degrees[s]) * radialCount * columns
    }

    @inline(__always)
    private func row(_ r: Int, _ a: UnsafePointer<T>, _ w: Work) -> UnsafePointer<T> {
        r < angularCount ? a + r * columns : UnsafePointer(w.powerSums + (r - angularCount) * columns)
    }

    /// w.pi[p][range] = Π_l(e) = Σ_{|v|=l} mult(v) u^v A_v for the edge whose monomials are in w.monomials.
    @inline(__always)
    private func piRows(a: UnsafePointer<T>, columns range: Range<Int>, _ w: Work) {
        let mc = columns, lo = range.lowerBound, count = range.count
        for k in 0..<angularCount { w.small[k] = T(w.monomials[k]) }
        for (p, block) in piBlocks.enumerated() {
            let out = w.pi + p * mc + lo
            out.initialize(repeating: 0, count: count)
            addCombination(count, rows: block.count, w.small + block.start, cStride: 1, a + block.start * mc + lo,
                           xStride: mc, into: out)
        }
    }

    /// product[j][range] = Π of the edge's Φ rows of product j.
    private func multiplyProducts(_ phi: UnsafePointer<T>, columns range: Range<Int>, into product: UnsafeMutablePointer<T>) {
        let mc = columns, lo = range.lowerBound, count = range.count
        for j in 0..<productCount {
            let out = product + j * mc + lo, sl = productSlots[j]
            out.initialize(repeating: 0, count: count)
            func f(_ i: Int) -> UnsafePointer<T> { phi + i * mc + lo }
            switch productOrder[j] {
            case 2: addScaledProduct(count, 1, f(sl.0), f(sl.1), into: out)
            case 3: addScaledProduct(count, 1, f(sl.0), f(sl.1), f(sl.2), into: out)
            default: addScaledProduct(count, 1, f(sl.0), f(sl.1), f(sl.2), f(sl.3), into: out)
            }
        }
    }

    /// Powers of u = r / (d + 1e-9) (quirk Q1) per axis up to maxDegree, mult(v_k) u^v_k per
    /// monomial k; returns s = u . u (not exactly 1: canonical-cace.md P3).
    @inline(__always)
    private func fillPowers(_ edges: Edges, _ e: Int, _ w: Work) -> Double {
        let width = table.maxDegree + 1
        let inverse = EdgeFormulas.inverseLength(edges.lengths[e])
        var s = 0.0
        for axis in 0..<3 {
            let u = edges.vectors[3 * e + axis] * inverse
            s += u * u
            var p = 1.0
            for power in 0..<width { w.powers[axis * width + power] = p; p *= u }
        }
        if !forms.isEmpty {
            for k in 0..<angularCount { w.monomials[k] = multinomial[k] * monomial(exponents[k], w.powers) }
        }
        return s
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

    @inline(__always)
    private func power(_ x: Double, _ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<max(n, 0) { r *= x }
        return r
    }
}

/// sum_i a[i] b[i] c[i]
@inline(__always)
func dot3<T: FeatureScalar>(_ count: Int, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ c: UnsafePointer<T>) -> T {
    let width = T.Lanes.scalarCount
    var acc = T.Lanes(repeating: 0)
    var i = 0
    while i + width <= count { acc = multiplyAdd(acc, load(a + i) * load(b + i), load(c + i)); i += width }
    var sum = T.horizontalSum(acc)
    while i < count { sum += a[i] * b[i] * c[i]; i += 1 }
    return sum
}
