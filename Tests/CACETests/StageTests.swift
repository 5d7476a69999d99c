import Foundation
import XCTest
@testable import CACE

/// Each stage's adjoint checked on its own (issue 13, item 6), so that a failure names the stage:
/// derivatives against central finite differences, linear maps against the adjoint identity
/// <y, L x> = <L^T y, x>, and the scalar and vector-lane forms of the edge stage against each other.
///
/// Double adjoints are compared with central differences of relative step 1e-6 and must agree to
/// a relative error of 1e-6 (the error is max |analytic - FD| / max |FD| over a stage's samples):
/// about 1e-10 is typical, so a wrong sign or a missing term fails by orders of magnitude.
/// Float edge lanes use their own differences with a step of 3e-3 and a tolerance of 2e-3; the Float
/// symmetrizer and dense networks are compared with the Double differences (tolerance 2e-5), and
/// start from a zero adjoint (a prefilled one would round away the small adjoints of a read-out head;
/// the Double checks cover that `backward` adds to what is there).
/// Each check prints "[StageTests] <stage>: max relative error ..." for the record.
final class StageTests: XCTestCase {
    // MARK: - Helpers

    /// Relative finite-difference step and tolerance of a precision.
    static func finiteDifference<T: FeatureScalar>(_: T.Type) -> (step: Double, tolerance: Double) {
        T.self == Double.self ? (1e-6, 1e-6) : (3e-3, 2e-3)
    }

    static func name<T: FeatureScalar>(_: T.Type) -> String { T.self == Double.self ? "Double" : "Float" }

    /// A synthetic model with some options changed.
    func model(_ configure: (inout SyntheticModel) -> Void = { _ in }) throws -> CACEModel {
        var synthetic = SyntheticModel()
        configure(&synthetic)
        return try synthetic.model()
    }

    /// Asserts one stage's measured error and prints it.
    func check(_ stage: String, _ error: Double, _ tolerance: Double, file: StaticString = #filePath, line: UInt = #line) {
        print("[StageTests] \(stage): max relative error \(String(format: "%.2e", error)) (tolerance \(tolerance))")
        XCTAssertLessThanOrEqual(error, tolerance, "\(stage): relative error \(error) exceeds \(tolerance)",
                                 file: file, line: line)
    }

    /// max |analytic - reference| / max |reference|: `relativeError` with a floor against all-zero references.
    func scaledError(_ analytic: [Double], _ reference: [Double]) -> Double {
        relativeError(analytic, reference, floor: 1e-300)
    }

    /// |<y, L x> - <L^T y, x>| relative to the sum of the magnitudes of the terms of <y, L x>.
    func adjointMismatch(y: [Double], lx: [Double], lty: [Double], x: [Double]) -> Double {
        let left = zip(y, lx).reduce(0) { $0 + $1.0 * $1.1 }
        let right = zip(lty, x).reduce(0) { $0 + $1.0 * $1.1 }
        let scale = zip(y, lx).reduce(0) { $0 + abs($1.0 * $1.1) }
        return abs(left - right) / max(scale, 1e-300)
    }

    func randomVector(_ count: Int, _ rng: inout SyntheticModel.Generator, scale: Double = 1) -> [Double] {
        (0..<count).map { _ in rng.next(scale) }
    }

    /// A vector of T values, returned in Double (so both sides of a comparison see the same numbers).
    func rounded<T: FeatureScalar>(_ values: [Double], to _: T.Type) -> [Double] { values.map { Double(T($0)) } }

    /// The cutoff functions of the synthetic models (cutoff 4) plus a polynomial of odd and of
    /// non-integer order (the latter takes `pow`).
    func cutoffFunctions() throws -> [(String, CutoffFunction)] {
        [("polynomial p=6", try model { $0.cutoffFunction = "polynomial" }.cutoffFunction),
         ("polynomial p=5", .polynomial(cutoff: 4, p: 5)),
         ("polynomial p=5.5 (pow)", .polynomial(cutoff: 4, p: 5.5)),
         ("cosine", try model { $0.cutoffFunction = "cosine" }.cutoffFunction),
         ("mollifier", try model { $0.cutoffFunction = "mollifier" }.cutoffFunction)]
    }

    static let radialBases = ["bessel", "gaussian", "exponential_decay"]
    static let cutoffNames = ["polynomial", "cosine", "mollifier"]

    // MARK: - Cutoff functions (spec §3.6)

    func testCutoffFunctionDerivatives() throws {
        var rng = SyntheticModel.Generator(state: 11)
        for (name, cutoff) in try cutoffFunctions() {
            let rc = 4.0
            var analytic: [Double] = [], fd: [Double] = []
            for _ in 0..<200 {
                let d = rc * (0.5 + 0.47 * rng.next())   // 0.03 rc ... 0.97 rc
                let h = 1e-6 * d, lo = d - h, hi = d + h
                analytic.append(cutoff.evaluate(d).1)
                fd.append((cutoff.evaluate(hi).0 - cutoff.evaluate(lo).0) / (hi - lo))
            }
            check("cutoff function \(name): df/dd", scaledError(analytic, fd), 1e-6)
            for d in [rc, rc + 0.5] {
                let (f, df) = cutoff.evaluate(d)
                XCTAssertEqual(f, 0, "cutoff function \(name): f(\(d)) is not zero")
                XCTAssertEqual(df, 0, "cutoff function \(name): f'(\(d)) is not zero")
            }
        }
    }

    // MARK: - Radial bases (spec §3.5)

    /// R_n(d) f(d) and its d-derivative from `RadialBasis.evaluate` (f = 1, f' = 0 without a cutoff).
    func radialValues(_ basis: RadialBasis, _ cutoff: CutoffFunction?, _ d: Double) -> (rho: [Double], derivative: [Double]) {
        let (f, df) = cutoff?.evaluate(d) ?? (1, 0)
        var rho = [Double](repeating: .nan, count: basis.count), derivative = rho
        basis.evaluate(d, cutoff: f, cutoffDerivative: df, rho: &rho, rhoDerivative: &derivative)
        return (rho, derivative)
    }

    func testRadialBasisDerivatives() throws {
        var rng = SyntheticModel.Generator(state: 12)
        let cutoffs: [(String, CutoffFunction?)] = [("no cutoff", nil)] + (try cutoffFunctions().map { ($0.0, $0.1) })
        for radial in Self.radialBases {
            let basis = try model { $0.radial = radial; $0.radialFunctions = 6 }.radialBasis
            for (cutoffName, cutoff) in cutoffs {
                var analytic: [Double] = [], fd: [Double] = []
                for _ in 0..<100 {
                    let d = 2.1 + 1.8 * rng.next()   // 0.3 ... 3.9 (cutoff 4)
                    let h = 1e-6 * d, lo = d - h, hi = d + h
                    let (plus, minus) = (radialValues(basis, cutoff, hi).rho, radialValues(basis, cutoff, lo).rho)
                    analytic += radialValues(basis, cutoff, d).derivative
                    fd += zip(plus, minus).map { ($0 - $1) / (hi - lo) }
                }
                check("radial basis \(radial) with \(cutoffName): d(R_n f)/dd", scaledError(analytic, fd), 1e-6)
            }
        }
    }

    // MARK: - Angular basis (spec §3.7)

    func testAngularBasisDerivatives() throws {
        var rng = SyntheticModel.Generator(state: 13)
        for maxL in 1...4 {
            let angular = try model { $0.maxL = maxL; $0.maxNu = 2 }.angular
            XCTAssertEqual(angular.exponents.map { [$0.0, $0.1, $0.2] }, SyntheticModel.exponents(maxL: maxL),
                           "angular basis L=\(maxL): monomials out of upstream's order")
            for (l, group) in angular.groups.enumerated() {
                XCTAssertTrue(group.allSatisfy { angular.degree[$0] == l }, "angular basis L=\(maxL): degree block \(l)")
            }
            var powers = [Double](repeating: .nan, count: 3 * (maxL + 1))
            var y = [Double](repeating: .nan, count: angular.count)
            func energy(_ u: (Double, Double, Double), _ yBar: [Double]) -> Double {
                angular.evaluate(u, into: &y, powers: &powers)
                return zip(yBar, y).reduce(0) { $0 + $1.0 * $1.1 }
            }
            var values: [Double] = [], references: [Double] = [], analytic: [Double] = [], fd: [Double] = []
            for _ in 0..<50 {
                let u = (rng.next(), rng.next(), rng.next())
                let yBar = randomVector(angular.count, &rng)
                angular.evaluate(u, into: &y, powers: &powers)
                values += y
                references += angular.exponents.map { pow(u.0, Double($0.0)) * pow(u.1, Double($0.1)) * pow(u.2, Double($0.2)) }
                let uBar = angular.backward(u, yBar: yBar, powers: &powers)
                analytic += [uBar.0, uBar.1, uBar.2]
                let h = 1e-6
                fd.append((energy((u.0 + h, u.1, u.2), yBar) - energy((u.0 - h, u.1, u.2), yBar)) / (2 * h))
                fd.append((energy((u.0, u.1 + h, u.2), yBar) - energy((u.0, u.1 - h, u.2), yBar)) / (2 * h))
                fd.append((energy((u.0, u.1, u.2 + h), yBar) - energy((u.0, u.1, u.2 - h), yBar)) / (2 * h))
            }
            check("angular basis L=\(maxL): Y_k(u) against u_x^a u_y^b u_z^c", scaledError(values, references), 1e-14)
            check("angular basis L=\(maxL): uBar = d(sum_k yBar_k Y_k)/du", scaledError(analytic, fd), 1e-6)
        }
    }

    // MARK: - Edge lanes (EdgeBatchKernel, spec §3.4–3.7, R6)

    /// Random edge vectors r[axis][e] (rows of `stride`), their components rounded to T, with
    /// lengths between 0.1 and 0.95 of the cutoff.
    func randomEdges<T: FeatureScalar>(_: T.Type, count: Int, stride: Int, cutoff: Double,
                                       _ rng: inout SyntheticModel.Generator) -> [Double] {
        var r = [Double](repeating: 0, count: 3 * stride)
        for e in 0..<count {
            var v = (0.0, 0.0, 0.0), norm = 0.0
            while norm < 0.1 {
                v = (rng.next(), rng.next(), rng.next())
                norm = (v.0 * v.0 + v.1 * v.1 + v.2 * v.2).squareRoot()
            }
            let length = cutoff * (0.525 + 0.425 * rng.next())
            r[e] = Double(T(v.0 / norm * length))
            r[stride + e] = Double(T(v.1 / norm * length))
            r[2 * stride + e] = Double(T(v.2 / norm * length))
        }
        return r
    }

    func lengths(_ r: [Double], count: Int, stride: Int) -> [Double] {
        (0..<count).map { e in (r[e] * r[e] + r[stride + e] * r[stride + e] + r[2 * stride + e] * r[2 * stride + e]).squareRoot() }
    }

    /// rho[n][e], rho'[n][e], Y[k][e] (rows of `stride`) from `EdgeBatchKernel.features`.
    func laneFeatures<T: FeatureScalar>(_ kernel: EdgeBatchKernel<T>, r: [Double], d: [Double], count: Int, stride: Int)
        -> (rho: [Double], rhoDerivative: [Double], y: [Double]) {
        let width = EdgeBatchKernel<T>.width
        let dT = d.map { T($0) }, rT = r.map { T($0) }
        let lengthsT = dT.map { Double($0) }
        var rho = [T](repeating: 0, count: kernel.radialCount * stride), rhoDerivative = rho
        var y = [T](repeating: 0, count: kernel.angular.count * stride)
        var scratch = [T](repeating: .nan, count: 3 * (kernel.angular.maxL + 1) * width)
        kernel.features(count: count, stride: stride, d: dT, r: rT, lengths: lengthsT, rho: &rho,
                        rhoDerivative: &rhoDerivative, y: &y, scratch: &scratch)
        return (rho.map { Double($0) }, rhoDerivative.map { Double($0) }, y.map { Double($0) })
    }

    /// g[axis][e] from `EdgeBatchKernel.gradients`.
    func laneGradients<T: FeatureScalar>(_ kernel: EdgeBatchKernel<T>, r: [Double], d: [Double], count: Int, stride: Int,
                                         yBar: [Double], dBar: [Double]) -> [Double] {
        let width = EdgeBatchKernel<T>.width
        let dT = d.map { T($0) }, rT = r.map { T($0) }, yBarT = yBar.map { T($0) }, dBarT = dBar.map { T($0) }
        var g = [T](repeating: 0, count: 3 * stride)
        var scratch = [T](repeating: .nan, count: 3 * (kernel.angular.maxL + 1) * width)
        kernel.gradients(count: count, stride: stride, d: dT, r: rT, yBar: yBarT, dBar: dBarT, g: &g, scratch: &scratch)
        return g.map { Double($0) }
    }

    /// drho/dd of the lanes against differences in d, for every radial basis and cutoff (the Bessel
    /// and polynomial pair takes the vector path, the others the per-edge fallback); then the lane
    /// gradients g = d(sum_k yBar_k Y_k(u) + dBar d)/dr against differences in r.
    func edgeLaneChecks<T: FeatureScalar>(_ type: T.Type) throws {
        let (step, tolerance) = Self.finiteDifference(T.self)
        let width = EdgeBatchKernel<T>.width, count = 3 * width, stride = count + width
        var rng = SyntheticModel.Generator(state: 14)
        for radial in Self.radialBases {
            for cutoffName in Self.cutoffNames {
                let m = try model { $0.radial = radial; $0.cutoffFunction = cutoffName; $0.maxL = 3 }
                let kernel = EdgeBatchKernel<T>(radialBasis: m.radialBasis, cutoffFunction: m.cutoffFunction, angular: m.angular)
                let vectorPath = kernel.bessel != nil
                XCTAssertEqual(vectorPath, radial == "bessel" && cutoffName == "polynomial")
                let stage = "edge lanes \(Self.name(T.self)) \(radial) with \(cutoffName)\(vectorPath ? " (vector path)" : "")"
                let r = randomEdges(T.self, count: count, stride: stride, cutoff: m.cutoff, &rng)
                let d = lengths(r, count: count, stride: stride)
                let features = laneFeatures(kernel, r: r, d: d, count: count, stride: stride)
                let hi = d.map { $0 * (1 + step) }, lo = d.map { $0 * (1 - step) }
                let plus = laneFeatures(kernel, r: r, d: hi, count: count, stride: stride)
                let minus = laneFeatures(kernel, r: r, d: lo, count: count, stride: stride)
                var analytic: [Double] = [], fd: [Double] = []
                for n in 0..<kernel.radialCount {
                    for e in 0..<count {
                        let actual = Double(T(hi[e])) - Double(T(lo[e]))
                        analytic.append(features.rhoDerivative[n * stride + e])
                        fd.append((plus.rho[n * stride + e] - minus.rho[n * stride + e]) / actual)
                    }
                }
                check("\(stage): drho/dd", scaledError(analytic, fd), tolerance)
            }
        }

        // Gradients: they depend on the angular basis only (dBar carries the radial part).
        for maxL in [1, 3] {
            let m = try model { $0.maxL = maxL }
            let kernel = EdgeBatchKernel<T>(radialBasis: m.radialBasis, cutoffFunction: m.cutoffFunction, angular: m.angular)
            let nk = m.angular.count
            let r = randomEdges(T.self, count: count, stride: stride, cutoff: m.cutoff, &rng)
            let d = lengths(r, count: count, stride: stride)
            let yBar = rounded(randomVector(nk * stride, &rng), to: T.self)
            let dBar = rounded(randomVector(count, &rng), to: T.self)
            let g = laneGradients(kernel, r: r, d: d, count: count, stride: stride, yBar: yBar, dBar: dBar)
            /// E_e(r) = sum_k yBar[k][e] Y_k(u_e) + dBar[e] |r_e|, per edge.
            func energies(_ r: [Double]) -> [Double] {
                let d = lengths(r, count: count, stride: stride)
                let y = laneFeatures(kernel, r: r, d: d, count: count, stride: stride).y
                return (0..<count).map { e in (0..<nk).reduce(dBar[e] * d[e]) { $0 + yBar[$1 * stride + e] * y[$1 * stride + e] } }
            }
            var analytic: [Double] = [], fd: [Double] = []
            for axis in 0..<3 {
                var plus = r, minus = r   // every edge moves at once: each edge's E depends on its own r only
                for e in 0..<count {
                    let h = step * d[e]
                    plus[axis * stride + e] = Double(T(r[axis * stride + e] + h))
                    minus[axis * stride + e] = Double(T(r[axis * stride + e] - h))
                }
                let (ePlus, eMinus) = (energies(plus), energies(minus))
                for e in 0..<count {
                    analytic.append(g[axis * stride + e])
                    fd.append((ePlus[e] - eMinus[e]) / (plus[axis * stride + e] - minus[axis * stride + e]))
                }
            }
            check("edge lanes \(Self.name(T.self)) L=\(maxL): gradients dE/dr from yBar and dBar", scaledError(analytic, fd),
                  tolerance)
        }
    }

    func testEdgeLaneDerivativesDouble() throws { try edgeLaneChecks(Double.self) }

    func testEdgeLaneDerivativesFloat() throws { try edgeLaneChecks(Float.self) }

    // MARK: - Scalar edge form (FeatureKernels.edgeFeatures / edgeGradient, R4–R6) and the lanes

    struct ScalarEdges {
        var rho: [Double], rhoDerivative: [Double], y: [Double]   // [e][n], [e][n], [e][k]
    }

    /// `FeatureKernels.edgeFeatures` edge by edge, for r given in lane rows of `stride`.
    func scalarFeatures(_ kernels: FeatureKernels<Double>, r: [Double], d: [Double], count: Int, stride: Int) -> ScalarEdges {
        let nr = kernels.radialFunctionCount, nk = kernels.angular.count
        var out = ScalarEdges(rho: [], rhoDerivative: [], y: [])
        var rho = [Double](repeating: .nan, count: nr), rhoDerivative = rho, y = [Double](repeating: .nan, count: nk)
        var powers = [Double](repeating: .nan, count: 3 * (kernels.angular.maxL + 1))
        for e in 0..<count {
            _ = kernels.edgeFeatures((r[e], r[stride + e], r[2 * stride + e]), d[e], rho: &rho, rhoDerivative: &rhoDerivative,
                                     y: &y, powers: &powers)
            out.rho += rho; out.rhoDerivative += rhoDerivative; out.y += y
        }
        return out
    }

    /// `FeatureKernels.edgeGradient` edge by edge for the adjoints pBar[e][n][k] of rho (x) Y and dBar[e].
    func scalarGradients(_ kernels: FeatureKernels<Double>, r: [Double], d: [Double], count: Int, stride: Int,
                         features f: ScalarEdges, pBar: [Double], dBar: [Double]) -> [Double] {
        let nr = kernels.radialFunctionCount, nk = kernels.angular.count
        var work = [Double](repeating: .nan, count: nk)
        var powers = [Double](repeating: .nan, count: 3 * (kernels.angular.maxL + 1))
        var g = [Double](repeating: 0, count: 3 * stride)
        for e in 0..<count {
            let ge = kernels.edgeGradient((r[e], r[stride + e], r[2 * stride + e]), d[e],
                                          pBar: Array(pBar[(e * nr * nk)..<((e + 1) * nr * nk)]),
                                          rho: Array(f.rho[(e * nr)..<((e + 1) * nr)]),
                                          rhoDerivative: Array(f.rhoDerivative[(e * nr)..<((e + 1) * nr)]),
                                          y: Array(f.y[(e * nk)..<((e + 1) * nk)]), dBar: dBar[e], yBar: &work, powers: &powers)
            g[e] = ge.0; g[stride + e] = ge.1; g[2 * stride + e] = ge.2
        }
        return g
    }

    /// The scalar edge gradient (R4–R6) against differences of E(r) = sum_nk pBar rho_n(|r|) Y_k(u) + dBar |r|.
    func testScalarEdgeGradientDerivatives() throws {
        var rng = SyntheticModel.Generator(state: 15)
        let count = 8, stride = count
        for radial in Self.radialBases {
            for cutoffName in Self.cutoffNames {
                let m = try model { $0.radial = radial; $0.cutoffFunction = cutoffName; $0.maxL = 3 }
                let kernels = FeatureKernels<Double>(m)
                let (nr, nk) = (m.radialFunctionCount, m.angular.count)
                let r = randomEdges(Double.self, count: count, stride: stride, cutoff: m.cutoff, &rng)
                let d = lengths(r, count: count, stride: stride)
                let pBar = randomVector(count * nr * nk, &rng), dBar = randomVector(count, &rng)
                let g = scalarGradients(kernels, r: r, d: d, count: count, stride: stride,
                                        features: scalarFeatures(kernels, r: r, d: d, count: count, stride: stride),
                                        pBar: pBar, dBar: dBar)
                func energies(_ r: [Double]) -> [Double] {
                    let d = lengths(r, count: count, stride: stride)
                    let f = scalarFeatures(kernels, r: r, d: d, count: count, stride: stride)
                    return (0..<count).map { e in
                        var sum = dBar[e] * d[e]
                        for n in 0..<nr { for k in 0..<nk { sum += pBar[(e * nr + n) * nk + k] * f.rho[e * nr + n] * f.y[e * nk + k] } }
                        return sum
                    }
                }
                var analytic: [Double] = [], fd: [Double] = []
                for axis in 0..<3 {
                    var plus = r, minus = r
                    for e in 0..<count {
                        plus[axis * stride + e] += 1e-6 * d[e]
                        minus[axis * stride + e] -= 1e-6 * d[e]
                    }
                    let (ePlus, eMinus) = (energies(plus), energies(minus))
                    for e in 0..<count {
                        analytic.append(g[axis * stride + e])
                        fd.append((ePlus[e] - eMinus[e]) / (plus[axis * stride + e] - minus[axis * stride + e]))
                    }
                }
                check("scalar edge gradient (FeatureKernels.edgeGradient) \(radial) with \(cutoffName): dE/dr",
                      scaledError(analytic, fd), 1e-6)
            }
        }
    }

    /// FeatureKernels.edgeFeatures (scalar) and EdgeBatchKernel.features (lanes) give the same
    /// rho, rho', Y; FeatureKernels.edgeGradient and EdgeBatchKernel.gradients the same gradient for
    /// the same adjoints (the lanes get yBar = sum_n pBar rho_n and dBar + sum_nk pBar Y rho'_n, as R4).
    func testScalarAndLaneEdgeFormsAgree() throws {
        var rng = SyntheticModel.Generator(state: 16)
        let width = EdgeBatchKernel<Double>.width, count = 3 * width, stride = count + width
        for radial in Self.radialBases {
            for cutoffName in Self.cutoffNames {
                let m = try model { $0.radial = radial; $0.cutoffFunction = cutoffName; $0.maxL = 3 }
                let kernels = FeatureKernels<Double>(m)
                let (nr, nk) = (m.radialFunctionCount, m.angular.count)
                let stage = "scalar and lane edge forms, \(radial) with \(cutoffName)"
                let r = randomEdges(Double.self, count: count, stride: stride, cutoff: m.cutoff, &rng)
                let d = lengths(r, count: count, stride: stride)
                let scalar = scalarFeatures(kernels, r: r, d: d, count: count, stride: stride)
                let lanes = laneFeatures(kernels.edgeBatch, r: r, d: d, count: count, stride: stride)
                func laneRows(_ values: [Double], _ rows: Int) -> [Double] {   // [row][e] -> [e][row]
                    (0..<count).flatMap { e in (0..<rows).map { values[$0 * stride + e] } }
                }
                check("\(stage): rho", scaledError(laneRows(lanes.rho, nr), scalar.rho), 1e-14)
                check("\(stage): rho'", scaledError(laneRows(lanes.rhoDerivative, nr), scalar.rhoDerivative), 1e-14)
                check("\(stage): Y", scaledError(laneRows(lanes.y, nk), scalar.y), 1e-14)

                let pBar = randomVector(count * nr * nk, &rng), dBar = randomVector(count, &rng)
                let gScalar = scalarGradients(kernels, r: r, d: d, count: count, stride: stride, features: scalar,
                                              pBar: pBar, dBar: dBar)
                var yBar = [Double](repeating: 0, count: nk * stride), dTotal = dBar
                for e in 0..<count {
                    for n in 0..<nr {
                        for k in 0..<nk {
                            let p = pBar[(e * nr + n) * nk + k]
                            yBar[k * stride + e] += p * lanes.rho[n * stride + e]
                            dTotal[e] += p * lanes.y[k * stride + e] * lanes.rhoDerivative[n * stride + e]
                        }
                    }
                }
                let gLanes = laneGradients(kernels.edgeBatch, r: r, d: d, count: count, stride: stride, yBar: yBar, dBar: dTotal)
                let rows = (0..<3).flatMap { a in (0..<count).map { a * stride + $0 } }
                check("\(stage): edge gradient", scaledError(rows.map { gLanes[$0] }, rows.map { gScalar[$0] }), 1e-14)
            }
        }
    }

    // MARK: - Symmetrizer (spec §4)

    /// d(sum_q bBar_q B_q)/dA from `Symmetrizer.backward` (which adds: aBar starts from aBar0).
    func symmetrizerAdjoint<T: FeatureScalar>(_ s: Symmetrizer<T>, a: [Double], bBar: [Double], aBar0: [Double],
                                              radial: Int, angular: Int, channels: Int) -> [Double] {
        var aBar = aBar0.map { T($0) }
        s.backward(a: a.map { T($0) }, bBar: bBar.map { T($0) }, aBar: &aBar, radial: radial, angular: angular, channels: channels)
        return zip(aBar, aBar0).map { Double($0) - Double(T($1)) }
    }

    /// Symmetrizer.backward against differences of sum_q bBar_q B_q(A) (forward in Double), in
    /// Double and in Float (the Float adjoint against the Double differences).
    func symmetrizerChecks(_ name: String, _ s: Symmetrizer<Double>, radial: Int, angular: Int, channels: Int,
                           _ rng: inout SyntheticModel.Generator) {
        let size = radial * angular * channels
        let a = rounded(randomVector(size, &rng), to: Float.self)
        let bBar = rounded(randomVector(radial * s.featureCount * channels, &rng), to: Float.self)
        let aBar0 = rounded(randomVector(size, &rng), to: Float.self)
        func energy(_ a: [Double]) -> Double {
            var b = [Double](repeating: .nan, count: bBar.count)
            s.forward(a: a, b: &b, radial: radial, angular: angular, channels: channels)
            return zip(b, bBar).reduce(0) { $0 + $1.0 * $1.1 }
        }
        var fd: [Double] = []
        for i in 0..<size {
            var plus = a, minus = a
            let h = 1e-6 * max(1, abs(a[i]))
            plus[i] += h; minus[i] -= h
            fd.append((energy(plus) - energy(minus)) / (plus[i] - minus[i]))
        }
        let shape = "\(radial)x\(angular)x\(channels)"
        check("symmetrizer \(name) \(shape), Double: aBar = d(bBar . B)/dA",
              scaledError(symmetrizerAdjoint(s, a: a, bBar: bBar, aBar0: aBar0, radial: radial, angular: angular,
                                             channels: channels), fd), 1e-6)
        check("symmetrizer \(name) \(shape), Float: aBar = d(bBar . B)/dA",
              scaledError(symmetrizerAdjoint(Symmetrizer<Float>(converting: s), a: a, bBar: bBar, aBar0: aBar0.map { _ in 0 }, radial: radial,
                                             angular: angular, channels: channels), fd), 2e-5)
    }

    func testSymmetrizerAdjoint() throws {
        var rng = SyntheticModel.Generator(state: 17)
        // The table of a synthetic model with every order 1 ... 4, in both layouts the evaluator uses:
        // [m][k][c] (message passing) and [k][m][c] (radial 1, channels M C).
        let m = try model { $0.atomBasis = 3; $0.maxL = 3; $0.maxNu = 4 }
        XCTAssertEqual(Set(m.symmetrizer.order), [1, 2, 3, 4])
        let (nm, nk, cs) = (m.radialBasisCount, m.angular.count, m.channelCount)
        symmetrizerChecks("of the model (L=3, nu<=4)", m.symmetrizer, radial: nm, angular: nk, channels: cs, &rng)
        symmetrizerChecks("of the model (L=3, nu<=4), invariant-major", m.symmetrizer, radial: 1, angular: nk,
                          channels: nm * cs, &rng)
        // A hand-made table with every branch of `backward`: order 2 with equal and with distinct
        // factors, orders 3 and 4 with distinct and repeated factors; 13 channels reach the vector
        // loop, the 128-bit step (Float) and the scalar tail.
        let terms: [[(Int, Int, Int, Int, Double)]] = [
            [(0, -1, -1, -1, 1.0), (4, -1, -1, -1, -0.5)],
            [(2, 2, -1, -1, 1.5), (1, 3, -1, -1, -0.7)],
            [(1, 2, 4, -1, 0.8), (3, 3, 5, -1, 0.5), (2, 4, 4, -1, -1.2), (5, 5, 5, -1, 0.3)],
            [(1, 2, 3, 4, 0.9), (2, 2, 5, 5, -0.4), (3, 3, 3, 3, 0.25), (1, 5, 1, 5, 0.6), (0, 2, 2, 2, -0.8)],
        ]
        var termStart = [0]
        for feature in terms { termStart.append(termStart.last! + feature.count) }
        let flat = terms.flatMap { $0 }
        let table = Symmetrizer<Double>(featureCount: terms.count, termStart: termStart,
                                        factors: flat.map { ($0.0, $0.1, $0.2, $0.3) },
                                        order: flat.map { [$0.0, $0.1, $0.2, $0.3].filter { $0 >= 0 }.count },
                                        prefactor: flat.map { $0.4 })
        symmetrizerChecks("hand-made (every branch)", table, radial: 2, angular: 6, channels: 13, &rng)
    }

    // MARK: - Dense networks (spec §5.3, §6)

    func denseOutput<T: FeatureScalar>(_ network: DenseNetwork<T>, _ x: [Double]) -> [Double] {
        var scratch = [T](repeating: .nan, count: network.scratchCount), output = [T](repeating: .nan, count: network.outputs)
        network.forward(x.map { T($0) }, output: &output, scratch: &scratch)
        return output.map { Double($0) }
    }

    /// (dy/dx)^T yBar from `DenseNetwork.backward` after `forward` at x (backward adds: from xBar0).
    func denseAdjoint<T: FeatureScalar>(_ network: DenseNetwork<T>, _ x: [Double], outputBar: [Double], xBar0: [Double]) -> [Double] {
        var scratch = [T](repeating: .nan, count: network.scratchCount), output = [T](repeating: .nan, count: network.outputs)
        network.forward(x.map { T($0) }, output: &output, scratch: &scratch)
        var xBar = xBar0.map { T($0) }
        network.backward(outputBar: outputBar.map { T($0) }, inputBar: &xBar, scratch: &scratch)
        return zip(xBar, xBar0).map { Double($0) - Double(T($1)) }
    }

    func randomNetwork(_ widths: [Int], activations: [Activation], bias: Bool, _ rng: inout SyntheticModel.Generator)
        -> DenseNetwork<Double> {
        DenseNetwork(layers: (0..<(widths.count - 1)).map { i in
            DenseLayer(inputs: widths[i], outputs: widths[i + 1],
                       weight: rounded(randomVector(widths[i] * widths[i + 1], &rng, scale: 1.5 / Double(widths[i]).squareRoot()),
                                       to: Float.self),
                       bias: bias ? rounded(randomVector(widths[i + 1], &rng, scale: 0.5), to: Float.self) : nil,
                       activation: activations[i])
        })
    }

    func testDenseNetworkAdjoint() throws {
        var rng = SyntheticModel.Generator(state: 18)
        let head = try model().heads[0].network   // silu hidden layers, identity output
        let networks: [(String, DenseNetwork<Double>)] = [
            ("silu 37-19-9 + identity 3, bias", randomNetwork([37, 19, 9, 3], activations: [.silu, .silu, .identity], bias: true, &rng)),
            ("identity 6-4-1, no bias", randomNetwork([6, 4, 1], activations: [.identity, .identity], bias: false, &rng)),
            ("silu 5-3 output, no bias", randomNetwork([5, 3], activations: [.silu], bias: false, &rng)),
            ("read-out head of a synthetic model", head),
        ]
        XCTAssertEqual(head.layers.map(\.activation), [.silu, .silu, .identity])
        for (name, original) in networks {
            // Weights rounded to Float, so that the Float network computes the same function.
            let network = DenseNetwork<Double>(converting: DenseNetwork<Float>(converting: original))
            let x = rounded(randomVector(network.inputs, &rng, scale: 2), to: Float.self)
            let outputBar = rounded(randomVector(network.outputs, &rng), to: Float.self)
            let xBar0 = rounded(randomVector(network.inputs, &rng), to: Float.self)
            func energy(_ x: [Double]) -> Double { zip(denseOutput(network, x), outputBar).reduce(0) { $0 + $1.0 * $1.1 } }
            var fd: [Double] = []
            for i in 0..<network.inputs {
                var plus = x, minus = x
                let h = 1e-6 * max(1, abs(x[i]))
                plus[i] += h; minus[i] -= h
                fd.append((energy(plus) - energy(minus)) / (plus[i] - minus[i]))
            }
            check("dense network \(name), Double: xBar = d(yBar . y)/dx",
                  scaledError(denseAdjoint(network, x, outputBar: outputBar, xBar0: xBar0), fd), 1e-6)
            check("dense network \(name), Float: xBar = d(yBar . y)/dx",
                  scaledError(denseAdjoint(DenseNetwork<Float>(converting: network), x, outputBar: outputBar,
                                           xBar0: xBar0.map { _ in 0 }), fd),
                  2e-5)
        }
    }

    // MARK: - Linear maps of FeatureKernels (spec §3.8, §3.9, R3)

    /// A model with three elements, distinct sender and receiver embeddings, 9 channels and L = 3.
    func linearMapModel() throws -> CACEModel {
        try model { $0.zs = [1, 8, 14]; $0.embedReceiver = true; $0.atomBasis = 3; $0.radialFunctions = 5; $0.maxL = 3 }
    }

    func withPointers<T: FeatureScalar, R>(_ input: [Double], outputCount: Int, prefill: [Double]? = nil,
                                           _ body: (UnsafePointer<T>, UnsafeMutablePointer<T>) -> R) -> [Double] {
        let x = input.map { T($0) }
        var out = prefill?.map { T($0) } ?? [T](repeating: .nan, count: outputCount)
        _ = x.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { body(x.baseAddress!, $0.baseAddress!) }
        }
        return out.map { Double($0) }
    }

    /// RT (spec §3.9): a[m][k][c] += scale sum_n x[n][k][c] W[l(k)][n][m][c], and its transpose.
    func radialTransformChecks<T: FeatureScalar>(_: T.Type, tolerance: Double) throws {
        let m = try linearMapModel()
        let kernels = FeatureKernels<T>(m)
        let (nr, nm, nk, cs) = (m.radialFunctionCount, m.radialBasisCount, m.angular.count, m.channelCount)
        var rng = SyntheticModel.Generator(state: 19)
        let x = rounded(randomVector(nr * nk * cs, &rng), to: T.self)
        let y = rounded(randomVector(nm * nk * cs, &rng), to: T.self)
        let a0 = rounded(randomVector(nm * nk * cs, &rng), to: T.self)
        let scale = 0.75
        let added = zip(withPointers(x, outputCount: 0, prefill: a0) { (x: UnsafePointer<T>, a) in
            kernels.radialTransform(x, into: a, scale: T(scale))
        }, a0).map { $0 - $1 }
        var reference = [Double](repeating: 0, count: nm * nk * cs)
        for mm in 0..<nm { for k in 0..<nk { for c in 0..<cs { for n in 0..<nr {
            reference[(mm * nk + k) * cs + c] += scale * x[(n * nk + k) * cs + c]
                * m.radialTransform[((m.angular.degree[k] * nr + n) * nm + mm) * cs + c]
        } } } }
        let lx = added.map { $0 / scale }
        let lty = withPointers(y, outputCount: nr * nk * cs) { (y: UnsafePointer<T>, out) in kernels.radialTransformAdjoint(y, into: out) }
        let stage = "radial transform \(Self.name(T.self))"
        check("\(stage): forward against sum_n x W", scaledError(added, reference), tolerance)
        check("\(stage): <y, RT x> = <RT^T y, x>", adjointMismatch(y: y, lx: lx, lty: lty, x: x), tolerance)
    }

    /// Channel expansion out[n][k][c] = sum_z chi[z][zr][c] p[z][n][k] and its contraction, per receiver.
    func channelChecks<T: FeatureScalar>(_: T.Type, tolerance: Double) throws {
        let m = try linearMapModel()
        let kernels = FeatureKernels<T>(m)
        let (nz, nr, nk, cs) = (m.elementCount, m.radialFunctionCount, m.angular.count, m.channelCount)
        var rng = SyntheticModel.Generator(state: 20)
        for zr in 0..<nz {
            var p = rounded(randomVector(nz * nr * nk, &rng), to: T.self)
            for i in Swift.stride(from: 0, to: p.count, by: 7) { p[i] = 0 }   // expandChannels skips zeros
            let y = rounded(randomVector(nr * nk * cs, &rng), to: T.self)
            let lx = withPointers(p, outputCount: nr * nk * cs) { (p: UnsafePointer<T>, out) in
                kernels.expandChannels(p, receiver: zr, into: out)
            }
            var reference = [Double](repeating: 0, count: nr * nk * cs)
            for z in 0..<nz { for nkIndex in 0..<(nr * nk) { for c in 0..<cs {
                reference[nkIndex * cs + c] += m.edgeChannels[(z * nz + zr) * cs + c] * p[z * nr * nk + nkIndex]
            } } }
            let lty = withPointers(y, outputCount: nz * nr * nk) { (y: UnsafePointer<T>, out) in
                kernels.contractChannels(y, receiver: zr, into: out)
            }
            let stage = "channel expansion \(Self.name(T.self)), receiver element \(zr)"
            check("\(stage): expandChannels against sum_z chi p", scaledError(lx, reference), tolerance)
            check("\(stage): <y, expand p> = <contract y, p>", adjointMismatch(y: y, lx: lx, lty: lty, x: p), tolerance)
        }
    }

    /// The fused channels and RT of the atom-by-atom path: a[k][m][c] = sum_z sum_n p[z][n][k] chi[z][zr][c]
    /// W[l(k)][n][m][c], and its adjoint, per receiver.
    func fusedChecks<T: FeatureScalar>(_: T.Type, tolerance: Double) throws {
        let m = try linearMapModel()
        let kernels = FeatureKernels<T>(m)
        XCTAssertTrue(kernels.invariantMajor)
        let (nz, nr, nm, nk, cs) = (m.elementCount, m.radialFunctionCount, m.radialBasisCount, m.angular.count, m.channelCount)
        var rng = SyntheticModel.Generator(state: 21)
        for zr in 0..<nz {
            let p = rounded(randomVector(nz * nr * nk, &rng), to: T.self)
            let y = rounded(randomVector(nk * nm * cs, &rng), to: T.self)
            let lx = withPointers(p, outputCount: nk * nm * cs) { (p: UnsafePointer<T>, out) in
                kernels.channelsAndTransform(p, receiver: zr, into: out)
            }
            var reference = [Double](repeating: 0, count: nk * nm * cs)
            for k in 0..<nk { for mm in 0..<nm { for c in 0..<cs { for z in 0..<nz { for n in 0..<nr {
                reference[(k * nm + mm) * cs + c] += p[(z * nr + n) * nk + k] * m.edgeChannels[(z * nz + zr) * cs + c]
                    * m.radialTransform[((m.angular.degree[k] * nr + n) * nm + mm) * cs + c]
            } } } } }
            let lty = withPointers(y, outputCount: nz * nr * nk) { (y: UnsafePointer<T>, out) in
                kernels.channelsAndTransformAdjoint(y, receiver: zr, into: out)
            }
            let stage = "fused channels and radial transform \(Self.name(T.self)), receiver element \(zr)"
            check("\(stage): channelsAndTransform against sum chi W p", scaledError(lx, reference), tolerance)
            check("\(stage): <y, L p> = <L^T y, p>", adjointMismatch(y: y, lx: lx, lty: lty, x: p), tolerance)
        }
    }

    func testRadialTransformAdjoint() throws {
        try radialTransformChecks(Double.self, tolerance: 1e-13)
        try radialTransformChecks(Float.self, tolerance: 1e-5)
    }

    func testChannelExpansionAdjoint() throws {
        try channelChecks(Double.self, tolerance: 1e-13)
        try channelChecks(Float.self, tolerance: 1e-5)
    }

    func testChannelsAndTransformAdjoint() throws {
        try fusedChecks(Double.self, tolerance: 1e-13)
        try fusedChecks(Float.self, tolerance: 1e-5)
    }

    // MARK: - MessageAr factors (spec §5)

    /// `LayerKernels.arFactors`: phi = norm P e^(-d Lambda) f(d) against the formula, and its
    /// d phi / d d against central differences of phi, in Double and Float, through the vector
    /// lanes and the scalar tail.
    func testMessageArFactorDerivatives() throws {
        let m = try model { $0.layers = 2; $0.messageTypes = ["Ar"]; $0.atomBasis = 3; $0.maxL = 2 }
        try arFactorChecks(m, Double.self, values: 1e-14, derivatives: 1e-6, step: 1e-4)
        try arFactorChecks(m, Float.self, values: 1e-6, derivatives: 2e-3, step: 3e-3)
    }

    /// `step`: the central difference's step relative to d (larger in Float, whose round-off it divides).
    func arFactorChecks<T: FeatureScalar>(_ m: CACEModel, _ type: T.Type, values: Double, derivatives: Double,
                                          step: Double) throws {
        let kernels = FeatureKernels<T>(m)
        var rng = SyntheticModel.Generator(state: 22)
        for (t, layer) in m.layers.enumerated() {
            guard let prefactor = layer.arPrefactor, let inverse = layer.arInverseLength else {
                XCTFail("MessageAr of layer \(t): no prefactor or inverse length"); continue
            }
            let lmc = prefactor.count
            func factors(_ d: Double, count: Int) -> ([Double], [Double]) {
                var phi = [T](repeating: -7, count: lmc), phiDerivative = [T](repeating: -7, count: lmc)
                kernels.layers[t].arFactors(count: count, distance: d, cutoff: m.cutoffFunction.evaluate(d), phi: &phi,
                                            phiDerivative: &phiDerivative)
                return (phi.map { Double($0) }, phiDerivative.map { Double($0) })
            }
            var computed: [Double] = [], references: [Double] = [], analytic: [Double] = [], differences: [Double] = []
            for sample in 0..<40 {
                let d = 2.1 + 1.8 * rng.next()
                let count = sample % 2 == 0 ? lmc : lmc - 3   // the vector loop and the scalar tail
                let (phi, phiDerivative) = factors(d, count: count)
                let f = m.cutoffFunction.evaluate(d).0
                computed += phi
                references += (0..<lmc).map { $0 < count ? m.messageNorm * prefactor[$0] * exp(-d * inverse[$0]) * f : -7 }
                let h = step * d
                let (plus, minus) = (factors(d + h, count: lmc).0, factors(d - h, count: lmc).0)
                let full = factors(d, count: lmc).1
                for i in 0..<lmc {
                    analytic.append(full[i])
                    differences.append((plus[i] - minus[i]) / (2 * h))
                }
            }
            check("MessageAr factors of layer \(t + 1) (\(T.self)): values", scaledError(computed, references), values)
            check("MessageAr factors of layer \(t + 1) (\(T.self)): d phi/dd", scaledError(analytic, differences), derivatives)
        }
    }
}
