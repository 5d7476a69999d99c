/// The Bchi message weights omega[k][c] of each sender from its hnet output (spec §5.3), and the adjoint.
extension Evaluator {
    /// omega[k][c] from the hnet output w[l][c'] (spec §5.3): broadcast over the shared axes,
    /// or spread over degrees with the l_matrix.
    func expandBchiWeights(_ bchi: MessagePassingLayer.Bchi, _ w: UnsafePointer<Double>,
                                   into omega: UnsafeMutablePointer<Double>) {
        let nk = model.angularCount, cs = model.channelCount
        for k in 0..<nk {
            for c in 0..<cs {
                let cc = bchi.channelCount == 1 ? 0 : c
                var value = 0.0
                if let lMatrix = bchi.lMatrix {
                    for l in 0..<bchi.degreeCount { value += lMatrix[l * nk + k] * w[l * bchi.channelCount + cc] }
                } else {
                    value = w[cc]
                }
                omega[k * cs + c] = value
            }
        }
    }

    /// The adjoint of `expandBchiWeights`: w-bar[l][c'] from omega-bar[k][c].
    func reduceBchiWeightAdjoint(_ bchi: MessagePassingLayer.Bchi, _ omegaBar: UnsafePointer<Double>,
                                         into wBar: UnsafeMutablePointer<Double>) {
        let nk = model.angularCount, cs = model.channelCount
        for idx in 0..<(bchi.degreeCount * bchi.channelCount) { wBar[idx] = 0 }
        for k in 0..<nk {
            for c in 0..<cs {
                let cc = bchi.channelCount == 1 ? 0 : c
                let g = omegaBar[k * cs + c]
                if let lMatrix = bchi.lMatrix {
                    for l in 0..<bchi.degreeCount { wBar[l * bchi.channelCount + cc] += lMatrix[l * nk + k] * g }
                } else {
                    wBar[cc] += g
                }
            }
        }
    }
}
