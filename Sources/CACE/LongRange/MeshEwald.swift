/// The periodic latent-charge energy (model-format §4.7) by smooth particle-mesh Ewald
/// (Essmann et al. 1995): charges are spread onto a mesh with cardinal B-splines of order p in
/// fractional coordinates, transformed, weighted by the influence function of the model's k-set
/// (`MeshInfluence`: the direct sum's mask, applied in Fourier space, times the Euler-spline
/// correction |b(m)|^2), transformed back, and interpolated at the atoms. Forces come from the
/// analytic derivative of the B-splines, so they are the exact gradient of the mesh energy; the
/// virial is its exact strain derivative with the integer vectors fixed. It converges to the
/// direct sum of the same k-set (`EwaldTerm`), not to a more converged energy.
///
/// The mesh's spreading and interpolation run in Double in both precisions.
struct MeshEwaldTerm: LongRangeTerm {
    let settings: EwaldSettings
    /// Scales energy and all derivatives (norm_factor times the weight in the energy).
    let scale: Double
    let plan: LongRangePlan
    let transforms: any MeshTransformProvider
    let scratch: MeshScratch
    var threads = 1

    func checkBoundary(periodic: (Bool, Bool, Bool)) throws(CACEError) { try Self.checkPeriodic(periodic) }

    static func checkPeriodic(_ periodic: (Bool, Bool, Bool)) throws(CACEError) {
        guard periodic.0 && periodic.1 && periodic.2 else { throw needsPeriodicBox }
    }

    static let needsPeriodicBox = CACEError.argument(
        "the particle-mesh long-range method needs a box periodic in all three directions; for open boundaries "
            + "use long range direct or auto (the direct pair sum)")

    private var selfTerm: Double {
        settings.removeSelfInteraction ? scale / (settings.sigma * pow(2 * Double.pi, 1.5)) : 0
    }

    func evaluate(atoms: AtomsView, charges: UnsafePointer<Double>, chargeBar: UnsafeMutablePointer<Double>,
                  forces: UnsafeMutablePointer<Double>, atomEnergies: UnsafeMutablePointer<Double>?,
                  atomVirials: UnsafeMutablePointer<Double>?, communicator: any DomainCommunicator)
        throws(CACEError) -> LongRangeResult {
        guard case .periodic(let cell) = atoms.boundary else { throw Self.needsPeriodicBox }
        let geometry = try CellGeometry(cell: cell)
        let transform = try transforms.transform(mesh: plan.mesh, order: plan.order)
        try transform.checkBounds(mesh: plan.mesh)
        let stencil = MeshStencil(order: plan.order, mesh: plan.mesh, geometry: geometry, transform: transform)
        let nlocal = atoms.localCount
        let workers = max(1, min(threads, nlocal / 256))
        let brickCount = transform.brickCount, spectrumCount = transform.spectrumCount
        // Bricks carry `MeshRowKernels.padding` zeros after their last point (row vectors read past it).
        let paddedCount = brickCount + MeshRowKernels.padding
        let brick = scratch.brick.zeroed(paddedCount)
        let spectrum = scratch.spectrum.reserve(2 * spectrumCount)
        let weightBuffers = scratch.atomWeights.zeroed(workers * stencil.bufferCount)
        let buffers = (0..<workers).map { weightBuffers + $0 * stencil.bufferCount }
        let privateBricks = scratch.privateBricks(workers - 1).map { $0.zeroed(paddedCount) }

        // Charges onto the mesh: each worker into its own brick, added in worker order.
        try parallelChunks(count: nlocal, workers: workers) { (w, range) throws(CACEError) in
            let target = w == 0 ? brick : privateBricks[w - 1]
            for i in range where atoms.species[i] >= 0 && charges[i] != 0 {
                let start = try stencil.place(position(atoms, i), atom: i, into: buffers[w])
                spread(charges[i], stencil, target + start, buffers[w])
            }
        }
        for extra in privateBricks { for g in 0..<brickCount { brick[g] += extra[g] } }
        transform.sumGhosts(brick)
        transform.forward(brick, spectrum)

        // The influence function on this rank's spectrum; the potential on the mesh.
        let influence = MeshInfluence(kSet: plan.kSet, geometry: geometry, settings: settings, scale: scale,
                                      mesh: plan.mesh, spectrumLow: transform.spectrumLow,
                                      spectrumHigh: transform.spectrumHigh,
                                      euler: scratch.eulerFactors(order: plan.order, mesh: plan.mesh),
                                      averages: scratch.selfAverages(order: plan.order, mesh: plan.mesh), scratch: scratch)
        var result = LongRangeResult()
        result.virial = influence.energyAndVirial(spectrum).1
        // Per-atom virials transform the spectrum again, weighted by other columns: then it is kept.
        let weighted: UnsafeMutablePointer<Double>
        if atomVirials == nil {
            influence.applyInPlace(spectrum, points: spectrumCount,
                                   compact: scratch.compactSpectrum.reserve(max(2 * influence.count, 1)))
            weighted = spectrum
        } else {
            weighted = scratch.weighted.reserve(2 * spectrumCount)
            influence.apply(column: 0, to: spectrum, into: weighted, points: spectrumCount)
        }
        transform.backward(weighted, brick)
        transform.fillGhosts(brick)

        // Potential, its charge derivative and the forces at the atoms.
        // The model's self term, less the mesh's mean self-interaction bias (MeshInfluence).
        let selfTerm = self.selfTerm - influence.selfCorrection[0]
        let virialCorrection = Array(influence.selfCorrection[1...])
        var energies = [Double](repeating: 0, count: workers)
        try energies.withUnsafeMutableBufferPointer { (sums) throws(CACEError) in
            let sum = sums.baseAddress.unsafelyUnwrapped
            try parallelChunks(count: nlocal, workers: workers) { (w, range) throws(CACEError) in
                for i in range {
                    guard atoms.species[i] >= 0 else { chargeBar[i] = 0; continue }
                    let start = try stencil.place(position(atoms, i), atom: i, into: buffers[w])
                    let (phi, du) = interpolate(stencil, brick + start, buffers[w])
                    let qi = charges[i]
                    let atomEnergy = qi * phi - selfTerm * qi * qi
                    chargeBar[i] = 2 * phi - 2 * selfTerm * qi
                    sum[w] += atomEnergy
                    atomEnergies?[i] += atomEnergy
                    // F = -2 q sum_a (d phi / d u_a) d u_a / d r
                    let m = stencil.toMesh
                    for c in 0..<3 {
                        forces[3 * i + c] -= 2 * qi * (du.0 * m[c] + du.1 * m[3 + c] + du.2 * m[6 + c])
                    }
                }
            }
        }
        result.energy = energies.reduce(0, +)
        var chargeSquares = 0.0
        for i in 0..<nlocal where atoms.species[i] >= 0 { chargeSquares += charges[i] * charges[i] }
        for c in 0..<6 { result.virial[c] += chargeSquares * virialCorrection[c] }

        // Per-atom virials: W_i,ab = q_i sum_g theta_i(g) Phi_ab(g), one back-transform per component.
        if let atomVirials {
            for c in 0..<6 {
                influence.apply(column: 1 + c, to: spectrum, into: weighted, points: spectrumCount)
                transform.backward(weighted, brick)
                transform.fillGhosts(brick)
                try parallelChunks(count: nlocal, workers: workers) { (w, range) throws(CACEError) in
                    for i in range where atoms.species[i] >= 0 {
                        let start = try stencil.place(position(atoms, i), atom: i, into: buffers[w])
                        let qi = charges[i]
                        atomVirials[6 * i + c] += qi * interpolate(stencil, brick + start, buffers[w]).0
                            + qi * qi * virialCorrection[c]
                    }
                }
            }
        }
        return result
    }

    @inline(__always)
    private func position(_ atoms: AtomsView, _ i: Int) -> (Double, Double, Double) {
        (atoms.positions[3 * i], atoms.positions[3 * i + 1], atoms.positions[3 * i + 2])
    }

    /// brick[stencil] += q theta (theta = product of the three axes' weights).
    @inline(__always)
    private func spread(_ q: Double, _ stencil: MeshStencil, _ corner: UnsafeMutablePointer<Double>,
                        _ buffer: UnsafeMutablePointer<Double>) {
        MeshRowKernels.spread(q, order: stencil.order, corner: corner, rowStride: stencil.rowStride,
                              planeStride: stencil.planeStride, weights: buffer)
    }

    /// sum theta f over the stencil and its derivatives in u_a.
    @inline(__always)
    private func interpolate(_ stencil: MeshStencil, _ corner: UnsafeMutablePointer<Double>,
                             _ buffer: UnsafeMutablePointer<Double>) -> (Double, (Double, Double, Double)) {
        MeshRowKernels.interpolate(order: stencil.order, corner: corner, rowStride: stencil.rowStride,
                                   planeStride: stencil.planeStride, weights: buffer)
    }
}

/// The buffers the mesh reuses between evaluations.
final class MeshScratch {
    let brick = ScratchBuffer()
    let spectrum = ScratchBuffer()
    let weighted = ScratchBuffer()
    /// The weighted kept points while the spectrum is overwritten (`MeshInfluence.applyInPlace`).
    let compactSpectrum = ScratchBuffer()
    /// Each worker's B-spline weights of one atom (`MeshStencil.bufferCount`).
    let atomWeights = ScratchBuffer()
    let influenceIndices = IndexBuffer()
    let influenceWeights = ScratchBuffer()
    private var extraBricks: [ScratchBuffer] = []
    private var euler: (order: Int, mesh: [Int], factors: [[Double]])? = nil
    private var averages: (order: Int, mesh: [Int], values: [[Double]])? = nil

    /// One brick per worker thread after the first.
    func privateBricks(_ count: Int) -> [ScratchBuffer] {
        while extraBricks.count < count { extraBricks.append(ScratchBuffer()) }
        return Array(extraBricks.prefix(count))
    }

    /// |b_a(m)|^2 per axis, cached for the last (order, mesh).
    func eulerFactors(order: Int, mesh: [Int]) -> [[Double]] {
        if let euler, euler.order == order, euler.mesh == mesh { return euler.factors }
        let factors = mesh.map { BSplines.eulerFactors(order: order, points: $0) }
        euler = (order, mesh, factors)
        return factors
    }

    /// `BSplines.selfAverages` per axis, cached for the last (order, mesh).
    func selfAverages(order: Int, mesh: [Int]) -> [[Double]] {
        if let averages, averages.order == order, averages.mesh == mesh { return averages.values }
        let values = mesh.map { BSplines.selfAverages(order: order, points: $0) }
        averages = (order, mesh, values)
        return values
    }

    var bytes: Int {
        brick.bytes + spectrum.bytes + weighted.bytes + compactSpectrum.bytes + atomWeights.bytes
            + influenceIndices.bytes + influenceWeights.bytes + extraBricks.reduce(0) { $0 + $1.bytes }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
