#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The latent-charge long-range energy (model-format §4.7) of the owned atoms, its
/// derivatives with respect to their charges and positions, and its virial.
/// Works on any number of ranks: partial structure factors (periodic) or all charges
/// (open boundaries) are summed over ranks through the communicator.
struct EwaldTerm {
    let settings: EwaldSettings
    /// Scales energy and all derivatives (norm_factor times the weight in the energy).
    let scale: Double
    /// Worker threads for the per-atom loops.
    var threads = 1

    struct Result {
        /// This rank's share of the energy.
        var energy = 0.0
        /// Virial share (xx yy zz xy xz yz).
        var virial = [Double](repeating: 0, count: 6)
    }

    /// - Parameters:
    ///   - charges: q of the owned atoms.
    ///   - chargeBar: receives dE/dq for the owned atoms (overwritten).
    ///   - forces: explicit -dE/dx added to owned atoms' rows.
    ///   - atomEnergies, atomVirials: per-atom shares added (owned rows), if non-nil.
    func evaluate(atoms: AtomsView, charges: UnsafePointer<Double>, chargeBar: UnsafeMutablePointer<Double>,
                  forces: UnsafeMutablePointer<Double>, atomEnergies: UnsafeMutablePointer<Double>?,
                  atomVirials: UnsafeMutablePointer<Double>?, communicator: any DomainCommunicator)
        throws(CACEError) -> Result {
        switch atoms.boundary {
        case .periodic(let cell):
            return try periodic(atoms: atoms, cell: cell, charges: charges, chargeBar: chargeBar, forces: forces,
                                atomEnergies: atomEnergies, atomVirials: atomVirials, communicator: communicator)
        case .open(let tags, let atomCount):
            return try open(atoms: atoms, tags: tags, atomCount: atomCount, charges: charges, chargeBar: chargeBar,
                            forces: forces, atomEnergies: atomEnergies, atomVirials: atomVirials,
                            communicator: communicator)
        case .mixed:
            throw .argument("the long-range term of this model is defined only for boundaries periodic in all three directions or open in all three")
        }
    }

    private var selfCoefficient: Double { 1 / (settings.sigma * pow(2 * Double.pi, 1.5)) }

    private func periodic(atoms: AtomsView, cell h: [Double], charges: UnsafePointer<Double>,
                          chargeBar: UnsafeMutablePointer<Double>, forces: UnsafeMutablePointer<Double>,
                          atomEnergies: UnsafeMutablePointer<Double>?, atomVirials: UnsafeMutablePointer<Double>?,
                          communicator: any DomainCommunicator) throws(CACEError) -> Result {
        let grid = try ReciprocalSum(cell: h, settings: settings)
        let nk = grid.paddedCount
        let nlocal = atoms.localCount
        let x = atoms.positions, species = atoms.species
        let workers = max(1, min(threads, nlocal / 64))
        let phases = (0..<workers).map { _ in ReciprocalSum.AtomPhases(grid) }
        func position(_ i: Int) -> (Double, Double, Double) { (x[3 * i], x[3 * i + 1], x[3 * i + 2]) }

        // Structure factors S(k): per-worker partial sums, added in worker order, then over ranks.
        var structure = [Double](repeating: 0, count: 2 * nk * workers)
        structure.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress.unsafelyUnwrapped
            try? parallelChunks(count: nlocal, workers: workers) { (w, range) in
                let re = base + 2 * nk * w, im = re + nk
                for i in range where species[i] >= 0 {
                    grid.phases(of: position(i), into: phases[w])
                    addScaled(nk, charges[i], phases[w].cosine, into: re)
                    addScaled(nk, charges[i], phases[w].sine, into: im)
                }
            }
            for w in 1..<max(workers, 1) { addScaled(2 * nk, 1, base + 2 * nk * w, into: base) }
            communicator.sumOverRanks(base, count: 2 * nk)
        }

        // Per atom: E_i = (1/V) q_i sum_k c_k Re(conj(S) e^{ik.r_i}), its q and r derivatives, virial share.
        let prefactor = scale / grid.volume
        let selfTerm = settings.removeSelfInteraction ? scale * selfCoefficient : 0
        var sums = [Double](repeating: 0, count: 7 * workers)   // energy, virial[6] per worker
        for i in 0..<nlocal { chargeBar[i] = 0 }
        structure.withUnsafeBufferPointer { sBuffer in
        sums.withUnsafeMutableBufferPointer { sumBuffer in
            let re = sBuffer.baseAddress.unsafelyUnwrapped, im = re + nk
            let sum = sumBuffer.baseAddress.unsafelyUnwrapped
            try? parallelChunks(count: nlocal, workers: workers) { (w, range) in
                let p = phases[w]
                let projection = UnsafeMutablePointer<Double>.allocate(capacity: 2 * nk)
                defer { projection.deallocate() }
                let cross = projection + nk
                for i in range where species[i] >= 0 {
                    grid.phases(of: position(i), into: p)
                    var k = 0
                    while k < nk {   // Re(conj(S) e^{ik.r}) and Im(conj(S) e^{ik.r})
                        let c = UnsafeRawPointer(p.cosine + k).loadUnaligned(as: SIMD4<Double>.self)
                        let s = UnsafeRawPointer(p.sine + k).loadUnaligned(as: SIMD4<Double>.self)
                        let sr = UnsafeRawPointer(re + k).loadUnaligned(as: SIMD4<Double>.self)
                        let si = UnsafeRawPointer(im + k).loadUnaligned(as: SIMD4<Double>.self)
                        UnsafeMutableRawPointer(projection + k).storeBytes(of: sr * c + si * s, as: SIMD4<Double>.self)
                        UnsafeMutableRawPointer(cross + k).storeBytes(of: si * c - sr * s, as: SIMD4<Double>.self)
                        k += 4
                    }
                    let qi = charges[i]
                    let potential = grid.weight.withUnsafeBufferPointer { dot4(nk, $0.baseAddress.unsafelyUnwrapped, projection) }
                    func crossSum(_ column: [Double]) -> Double {
                        column.withUnsafeBufferPointer { dot4(nk, $0.baseAddress.unsafelyUnwrapped, cross) }
                    }
                    func projectionSum(_ column: [Double]) -> Double {
                        column.withUnsafeBufferPointer { dot4(nk, $0.baseAddress.unsafelyUnwrapped, projection) }
                    }
                    let atomEnergy = prefactor * qi * potential - selfTerm * qi * qi
                    chargeBar[i] = 2 * prefactor * potential - 2 * selfTerm * qi
                    let fScale = -2 * prefactor * qi
                    forces[3 * i] += fScale * crossSum(grid.weightX)
                    forces[3 * i + 1] += fScale * crossSum(grid.weightY)
                    forces[3 * i + 2] += fScale * crossSum(grid.weightZ)
                    let v = (projectionSum(grid.virialXX), projectionSum(grid.virialYY), projectionSum(grid.virialZZ),
                             projectionSum(grid.virialXY), projectionSum(grid.virialXZ), projectionSum(grid.virialYZ))
                    sum[7 * w] += atomEnergy
                    atomEnergies?[i] += atomEnergy
                    let virialScale = prefactor * qi
                    sum[7 * w + 1] += virialScale * v.0; sum[7 * w + 2] += virialScale * v.1; sum[7 * w + 3] += virialScale * v.2
                    sum[7 * w + 4] += virialScale * v.3; sum[7 * w + 5] += virialScale * v.4; sum[7 * w + 6] += virialScale * v.5
                    if let atomVirial = atomVirials.map({ $0 + 6 * i }) {
                        atomVirial[0] += virialScale * v.0; atomVirial[1] += virialScale * v.1; atomVirial[2] += virialScale * v.2
                        atomVirial[3] += virialScale * v.3; atomVirial[4] += virialScale * v.4; atomVirial[5] += virialScale * v.5
                    }
                }
            }
        }
        }
        var result = Result()
        for w in 0..<workers {
            result.energy += sums[7 * w]
            for c in 0..<6 { result.virial[c] += sums[7 * w + 1 + c] }
        }
        return result
    }

    private func open(atoms: AtomsView, tags: UnsafePointer<Int64>?, atomCount: Int, charges: UnsafePointer<Double>,
                      chargeBar: UnsafeMutablePointer<Double>, forces: UnsafeMutablePointer<Double>,
                      atomEnergies: UnsafeMutablePointer<Double>?, atomVirials: UnsafeMutablePointer<Double>?,
                      communicator: any DomainCommunicator) throws(CACEError) -> Result {
        let nlocal = atoms.localCount
        guard atomCount >= 0, atomCount <= 50_000_000 else { throw .argument("atom count \(atomCount) out of range") }
        // Every rank gets (x, y, z, q, handled) of all atoms: each fills its own rows, then a sum.
        var all = [Double](repeating: 0, count: 5 * atomCount)
        for i in 0..<nlocal {
            let slot = tags.map { Int($0[i]) - 1 } ?? i
            guard slot >= 0, slot < atomCount else { throw .argument("atom tag \(slot + 1) outside 1...\(atomCount)") }
            all[5 * slot] = atoms.positions[3 * i]
            all[5 * slot + 1] = atoms.positions[3 * i + 1]
            all[5 * slot + 2] = atoms.positions[3 * i + 2]
            all[5 * slot + 3] = atoms.species[i] >= 0 ? charges[i] : 0
            all[5 * slot + 4] = atoms.species[i] >= 0 ? 1 : 0
        }
        all.withUnsafeMutableBufferPointer { communicator.sumOverRanks($0.baseAddress.unsafelyUnwrapped, count: 5 * atomCount) }

        var result = Result()
        let pairScale = scale / (2 * Double.pi)
        let width = settings.sigma * 2.0.squareRoot()
        for i in 0..<nlocal { chargeBar[i] = 0 }
        for i in 0..<nlocal where atoms.species[i] >= 0 {
            let slot = tags.map { Int($0[i]) - 1 } ?? i
            let xi = all[5 * slot], yi = all[5 * slot + 1], zi = all[5 * slot + 2], qi = charges[i]
            var potential = 0.0
            var fx = 0.0, fy = 0.0, fz = 0.0
            var w = [Double](repeating: 0, count: 6)
            for j in 0..<atomCount where j != slot && all[5 * j + 4] != 0 {
                let dx = xi - all[5 * j], dy = yi - all[5 * j + 1], dz = zi - all[5 * j + 2]
                let r = (dx * dx + dy * dy + dz * dz).squareRoot()
                let qj = all[5 * j + 3]
                // kernel K(r) = erf(r / (sigma sqrt 2)) / (r + 1e-6)
                let e = erf(r / width), denominator = r + 1e-6
                let kernel = e / denominator
                let dKernel = (2 / Double.pi.squareRoot() * exp(-(r / width) * (r / width)) / width) / denominator
                    - e / (denominator * denominator)
                potential += qj * kernel
                // E contains q_i q_j K over both orders: dE/dr_i = 2 * pairScale/2 * q_i q_j K' rhat
                guard r > 0 else { continue }
                let fpair = -pairScale * qi * qj * dKernel / r    // force on i along (x_i - x_j)
                fx += fpair * dx; fy += fpair * dy; fz += fpair * dz
                // Half of each pair's virial goes to each atom of the pair.
                w[0] += 0.5 * fpair * dx * dx; w[1] += 0.5 * fpair * dy * dy; w[2] += 0.5 * fpair * dz * dz
                w[3] += 0.5 * fpair * dx * dy; w[4] += 0.5 * fpair * dx * dz; w[5] += 0.5 * fpair * dy * dz
            }
            var atomEnergy = 0.5 * pairScale * qi * potential
            chargeBar[i] = pairScale * potential
            if !settings.removeSelfInteraction {
                atomEnergy += scale * selfCoefficient * qi * qi
                chargeBar[i] += scale * 2 * selfCoefficient * qi
            }
            result.energy += atomEnergy
            atomEnergies?[i] += atomEnergy
            forces[3 * i] += fx; forces[3 * i + 1] += fy; forces[3 * i + 2] += fz
            for a in 0..<6 {
                result.virial[a] += w[a]
                atomVirials?[6 * i + a] += w[a]
            }
        }
        return result
    }
}
