/// The edge channels and the radial transform (`channelsAndTransform`) and its adjoint for a
/// block of atoms of one receiver element, as matrix products through OpenBLAS: per sender
/// element z and angular group l, the rows (k in l, atom) of the block's edge sums times the
/// fused weights V[zr][z][l] (n x M C). One atom reads all of V[zr] (41 KB of the water model
/// in Double) for 2 flops per weight; a block reads it once.
/// Layouts: edge sums p[z][k][rows][n], A a[k][rows][M C]. Both overwrite their output (a gemm
/// with beta 0 does not read it).
extension FeatureKernels {
    /// a[k][b][m c] = sum_z sum_n p[z][k][b][n] V[zr][z][l(k)][n][m c] for the `rows` atoms b.
    func blockChannelsAndTransform(_ p: UnsafePointer<T>, rows: Int, receiver zr: Int, into a: UnsafeMutablePointer<T>) {
        let (nz, nr, nk, mc) = (elementCount, radialFunctionCount, angular.count, radialBasisCount * channelCount)
        let nl = angular.groups.count
        fused.withUnsafeBufferPointer { buffer in
            let v = buffer.baseAddress.unsafelyUnwrapped + zr * nz * nl * nr * mc
            for z in 0..<nz {
                for (l, group) in angular.groups.enumerated() where !group.isEmpty {
                    let first = group.lowerBound
                    BLAS.gemm(m: group.count * rows, n: mc, k: nr, p + (z * nk + first) * rows * nr, lda: nr,
                              v + (z * nl + l) * nr * mc, ldb: mc, transposeB: false, beta: z == 0 ? 0 : 1, a + first * rows * mc,
                              ldc: mc)
                }
            }
        }
    }

    /// pBar[z][k][b][n] = sum_{m c} aBar[k][b][m c] V[zr][z][l(k)][n][m c]: the adjoint of
    /// `blockChannelsAndTransform` (overwrites pBar).
    func blockChannelsAndTransformAdjoint(_ aBar: UnsafePointer<T>, rows: Int, receiver zr: Int,
                                          into pBar: UnsafeMutablePointer<T>) {
        let (nz, nr, nk, mc) = (elementCount, radialFunctionCount, angular.count, radialBasisCount * channelCount)
        let nl = angular.groups.count
        fused.withUnsafeBufferPointer { buffer in
            let v = buffer.baseAddress.unsafelyUnwrapped + zr * nz * nl * nr * mc
            for z in 0..<nz {
                for (l, group) in angular.groups.enumerated() where !group.isEmpty {
                    let first = group.lowerBound
                    BLAS.gemm(m: group.count * rows, n: nr, k: mc, aBar + first * rows * mc, lda: mc,
                              v + (z * nl + l) * nr * mc, ldb: mc, transposeB: true, beta: 0,
                              pBar + (z * nk + first) * rows * nr, ldc: nr)
                }
            }
        }
    }
}
