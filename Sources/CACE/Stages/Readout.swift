/// The read-out heads (spec §6): the energy of one atom from its features, and the adjoint.
extension FeatureKernels {
    /// Potential energy of one atom from its read-out features x, and the per-head outputs.
    /// Pre-activations stay in `scratch` (one `DenseNetwork.scratchCount` block per head).
    func readoutForward(_ x: UnsafePointer<T>, headOutputs: UnsafeMutablePointer<T>,
                        scratch: UnsafeMutablePointer<T>, scratchStride: Int) {
        for h in heads.indices {   // by index: binding `head` to a copy would retain its weight arrays
            var y: T = 0
            heads[h].network.forward(x, output: &y, scratch: scratch + h * scratchStride)
            if let linear = heads[h].linear {
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
    func readoutBackward(seeds: UnsafePointer<T>, xBar: UnsafeMutablePointer<T>,
                         scratch: UnsafeMutablePointer<T>, scratchStride: Int) {
        for h in heads.indices {
            var seed = seeds[h]
            if seed == 0 { continue }
            heads[h].network.backward(outputBar: &seed, inputBar: xBar, scratch: scratch + h * scratchStride)
            if let linear = heads[h].linear {
                linear.weight.withUnsafeBufferPointer { w in
                    for i in 0..<featureCount { xBar[i] += seed * w[i] }
                }
            }
        }
    }
}
