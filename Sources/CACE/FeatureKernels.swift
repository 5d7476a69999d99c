/// The per-atom linear algebra shared by both evaluation paths (spec §3.8, §3.9, §10 R3–R6).
/// All arrays are flat and row-major; "A" layout is [m][k][c], edge-channel layout [n][k][c].
extension CACEModel {
    /// Edge scalars for an edge of vector r (receiver minus sender) and length d:
    /// rho[n], drho[n] = d rho/dd, Y[k]; returns the cutoff value and derivative.
    @inline(__always)
    func edgeFeatures(_ r: (Double, Double, Double), _ d: Double,
                      rho: UnsafeMutablePointer<Double>, rhoDerivative: UnsafeMutablePointer<Double>,
                      y: UnsafeMutablePointer<Double>, powers: UnsafeMutablePointer<Double>) -> (Double, Double) {
        let (f, df) = cutoffFunction.evaluate(d)
        radialBasis.evaluate(d, cutoff: f, cutoffDerivative: df, rho: rho, rhoDerivative: rhoDerivative)
        let s = 1 / (d + 1e-9)   // quirk Q1: u is not exactly a unit vector
        angular.evaluate((r.0 * s, r.1 * s, r.2 * s), into: y, powers: powers)
        return (f, df)
    }

    /// p[n][k] += weight * rho[n] * Y[k]
    @inline(__always)
    func accumulateOuter(_ p: UnsafeMutablePointer<Double>, rho: UnsafePointer<Double>, y: UnsafePointer<Double>,
                         weight: Double) {
        let nk = angular.count
        for n in 0..<radialFunctionCount {
            addScaled(nk, weight * rho[n], y, into: p + n * nk)
        }
    }

    /// out[n][k][c] = sum_z chi[z][zr][c] * p[z][n][k]: the per-sender-element sums of rho Y
    /// expanded over the edge channels of receiver element zr.
    func expandChannels(_ p: UnsafePointer<Double>, receiver zr: Int, into out: UnsafeMutablePointer<Double>) {
        let nz = elementCount, nrk = radialFunctionCount * angular.count, cs = channelCount
        for i in 0..<(nrk * cs) { out[i] = 0 }
        edgeChannels.withUnsafeBufferPointer { chi in
            for z in 0..<nz {
                let weights = chi.baseAddress.unsafelyUnwrapped + (z * nz + zr) * cs
                let pz = p + z * nrk
                for nk in 0..<nrk {
                    let v = pz[nk]
                    if v == 0 { continue }
                    let o = out + nk * cs
                    for c in 0..<cs { o[c] += v * weights[c] }
                }
            }
        }
    }

    /// out[z][n][k] = sum_c bar[n][k][c] * chi[z][zr][c]: the adjoint of `expandChannels`.
    func contractChannels(_ bar: UnsafePointer<Double>, receiver zr: Int, into out: UnsafeMutablePointer<Double>) {
        let nz = elementCount, nrk = radialFunctionCount * angular.count, cs = channelCount
        edgeChannels.withUnsafeBufferPointer { chi in
            for z in 0..<nz {
                let weights = chi.baseAddress.unsafelyUnwrapped + (z * nz + zr) * cs
                let oz = out + z * nrk
                for nk in 0..<nrk {
                    let b = bar + nk * cs
                    var s = 0.0
                    for c in 0..<cs { s += b[c] * weights[c] }
                    oz[nk] = s
                }
            }
        }
    }

    /// a[m][k][c] += scale * sum_n x[n][k][c] W[l(k)][n][m][c]  (RT, spec §3.9)
    func radialTransform(_ x: UnsafePointer<Double>, into a: UnsafeMutablePointer<Double>, scale: Double) {
        let nr = radialFunctionCount, nm = radialBasisCount, nk = angular.count, cs = channelCount
        radialTransform.withUnsafeBufferPointer { wBuffer in
            let w0 = wBuffer.baseAddress.unsafelyUnwrapped
            for (l, group) in angular.groups.enumerated() {
                for n in 0..<nr {
                    for m in 0..<nm {
                        let w = w0 + ((l * nr + n) * nm + m) * cs
                        for k in group {
                            addScaledProduct(cs, scale, x + (n * nk + k) * cs, w, into: a + (m * nk + k) * cs)
                        }
                    }
                }
            }
        }
    }

    /// xBar[n][k][c] = sum_m aBar[m][k][c] W[l(k)][n][m][c]  (RT transpose, overwrites)
    func radialTransformAdjoint(_ aBar: UnsafePointer<Double>, into xBar: UnsafeMutablePointer<Double>) {
        let nr = radialFunctionCount, nm = radialBasisCount, nk = angular.count, cs = channelCount
        for i in 0..<(nr * nk * cs) { xBar[i] = 0 }
        radialTransform.withUnsafeBufferPointer { wBuffer in
            let w0 = wBuffer.baseAddress.unsafelyUnwrapped
            for (l, group) in angular.groups.enumerated() {
                for n in 0..<nr {
                    for m in 0..<nm {
                        let w = w0 + ((l * nr + n) * nm + m) * cs
                        for k in group {
                            addScaledProduct(cs, 1, aBar + (m * nk + k) * cs, w, into: xBar + (n * nk + k) * cs)
                        }
                    }
                }
            }
        }
    }

    /// dE/dr_e for one edge from the adjoint pBar[n][k] of its rho Y outer product (spec R4–R6),
    /// plus an extra dE/dd already collected in `dBar`.
    @inline(__always)
    func edgeGradient(_ r: (Double, Double, Double), _ d: Double, pBar: UnsafePointer<Double>,
                      rho: UnsafePointer<Double>, rhoDerivative: UnsafePointer<Double>, y: UnsafePointer<Double>,
                      dBar: Double, yBar: UnsafeMutablePointer<Double>, powers: UnsafeMutablePointer<Double>)
        -> (Double, Double, Double) {
        let nk = angular.count
        var dTotal = dBar
        for k in 0..<nk { yBar[k] = 0 }
        for n in 0..<radialFunctionCount {
            let row = pBar + n * nk
            var rhoBar = 0.0
            let rn = rho[n]
            for k in 0..<nk {
                rhoBar += row[k] * y[k]
                yBar[k] += row[k] * rn
            }
            dTotal += rhoBar * rhoDerivative[n]
        }
        let s = 1 / (d + 1e-9)
        let uBar = angular.backward((r.0 * s, r.1 * s, r.2 * s), yBar: yBar, powers: powers)
        let dot = uBar.0 * r.0 + uBar.1 * r.1 + uBar.2 * r.2
        let a = dot * s * s / d
        let b = dTotal / d
        return (uBar.0 * s - a * r.0 + b * r.0, uBar.1 * s - a * r.1 + b * r.1, uBar.2 * s - a * r.2 + b * r.2)
    }

    /// Potential energy of one atom from its read-out features x, and the per-head outputs.
    /// Pre-activations stay in `scratch` (one `DenseNetwork.scratchCount` block per head).
    func readoutForward(_ x: UnsafePointer<Double>, headOutputs: UnsafeMutablePointer<Double>,
                        scratch: UnsafeMutablePointer<Double>, scratchStride: Int) {
        for (h, head) in heads.enumerated() {
            var y = 0.0
            head.network.forward(x, output: &y, scratch: scratch + h * scratchStride)
            if let linear = head.linear {
                linear.weight.withUnsafeBufferPointer { w in
                    var s = linear.bias?[0] ?? 0
                    for i in 0..<featureCount { s += w[i] * x[i] }
                    y += s
                }
            }
            headOutputs[h] = y
        }
    }

    /// xBar += sum_h seed[h] d(head h)/dx.
    func readoutBackward(seeds: UnsafePointer<Double>, xBar: UnsafeMutablePointer<Double>,
                         scratch: UnsafeMutablePointer<Double>, scratchStride: Int) {
        for (h, head) in heads.enumerated() {
            var seed = seeds[h]
            if seed == 0 { continue }
            head.network.backward(outputBar: &seed, inputBar: xBar, scratch: scratch + h * scratchStride)
            if let linear = head.linear {
                linear.weight.withUnsafeBufferPointer { w in
                    for i in 0..<featureCount { xBar[i] += seed * w[i] }
                }
            }
        }
    }

    var readoutScratchStride: Int { heads.map(\.network.scratchCount).max() ?? 0 }
}
