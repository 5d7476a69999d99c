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
        guard h.count == 9 else { throw .argument("the cell must have 9 components") }
        let volume = h[0] * (h[4] * h[8] - h[5] * h[7]) - h[1] * (h[3] * h[8] - h[5] * h[6])
            + h[2] * (h[3] * h[7] - h[4] * h[6])
        guard volume.isFinite, abs(volume) > 1e-12 else { throw .geometry("the periodic cell has zero volume") }
        // Reciprocal vectors b_i (rows of 2 pi (h^-1)^T): b_i . a_j = 2 pi delta_ij.
        let f = 2 * Double.pi / volume
        let b: [Double] = [
            f * (h[4] * h[8] - h[5] * h[7]), f * (h[5] * h[6] - h[3] * h[8]), f * (h[3] * h[7] - h[4] * h[6]),
            f * (h[7] * h[2] - h[8] * h[1]), f * (h[8] * h[0] - h[6] * h[2]), f * (h[6] * h[1] - h[7] * h[0]),
            f * (h[1] * h[5] - h[2] * h[4]), f * (h[2] * h[3] - h[0] * h[5]), f * (h[0] * h[4] - h[1] * h[3]),
        ]
        var nMax = [0, 0, 0]
        for a in 0..<3 {
            let length = (h[3 * a] * h[3 * a] + h[3 * a + 1] * h[3 * a + 1] + h[3 * a + 2] * h[3 * a + 2]).squareRoot()
            let ratio = length / settings.dl
            guard ratio < 10_000 else { throw .geometry("the cell is too large for the Ewald k-grid (|a| = \(length))") }
            nMax[a] = max(1, Int(ratio))
        }
        // The kept k vectors: half space (first non-zero index positive), 0 < k^2 <= k_max^2.
        var kVectors: [Double] = []
        var kIndices: [Int] = []      // offsets of n1, n2, n3 into the phase tables
        var kWeights: [Double] = []   // c_k = 2 exp(-sigma^2 k^2 / 2) / k^2
        var kFactor: [Double] = []    // d ln c_k / d(k^2) = -(sigma^2/2 + 1/k^2)
        let sigma2 = settings.sigma * settings.sigma
        for n1 in -nMax[0]...nMax[0] {
            for n2 in -nMax[1]...nMax[1] {
                for n3 in -nMax[2]...nMax[2] {
                    let first = n1 != 0 ? n1 : (n2 != 0 ? n2 : n3)
                    guard first > 0 else { continue }
                    let kx = Double(n1) * b[0] + Double(n2) * b[3] + Double(n3) * b[6]
                    let ky = Double(n1) * b[1] + Double(n2) * b[4] + Double(n3) * b[7]
                    let kz = Double(n1) * b[2] + Double(n2) * b[5] + Double(n3) * b[8]
                    let k2 = kx * kx + ky * ky + kz * kz
                    guard k2 > 0, k2 <= settings.kSquaredMax else { continue }
                    kVectors += [kx, ky, kz]
                    kIndices += [n1 + nMax[0], n2 + nMax[1], n3 + nMax[2]]
                    kWeights.append(2 * exp(-sigma2 * k2 / 2) / k2)
                    kFactor.append(-(sigma2 / 2 + 1 / k2))
                }
            }
        }
        let nk = kWeights.count
        let nlocal = atoms.localCount
        let x = atoms.positions
        // exp(i k.r) = prod_a exp(i n_a b_a.r): tables of exp(i n b_a.r) per atom, so that each
        // (atom, k) costs two complex products instead of a sine and a cosine.
        let tableOffset = [0, 2 * nMax[0] + 1, 2 * nMax[0] + 2 * nMax[1] + 2]
        let tableCount = 2 * (nMax[0] + nMax[1] + nMax[2]) + 3
        let tables = UnsafeMutablePointer<Double>.allocate(capacity: 2 * tableCount)
        defer { tables.deallocate() }
        for k in 0..<nk { for a in 0..<3 { kIndices[3 * k + a] = 2 * (kIndices[3 * k + a] + tableOffset[a]) } }
        func fillTables(_ i: Int) {
            for a in 0..<3 {
                let phase = b[3 * a] * x[3 * i] + b[3 * a + 1] * x[3 * i + 1] + b[3 * a + 2] * x[3 * i + 2]
                let (c1, s1) = (cos(phase), sin(phase))
                let center = tables + 2 * (tableOffset[a] + nMax[a])
                center[0] = 1
                center[1] = 0
                var (c, s) = (1.0, 0.0)
                for n in stride(from: 1, through: nMax[a], by: 1) {
                    (c, s) = (c * c1 - s * s1, s * c1 + c * s1)
                    center[2 * n] = c; center[2 * n + 1] = s
                    center[-2 * n] = c; center[-2 * n + 1] = -s
                }
            }
        }
        var structure = [Double](repeating: 0, count: 2 * nk)
        var result = Result()
        let prefactor = scale / volume
        kIndices.withUnsafeBufferPointer { indexBuffer in
        kVectors.withUnsafeBufferPointer { vectorBuffer in
        kWeights.withUnsafeBufferPointer { weightBuffer in
        kFactor.withUnsafeBufferPointer { factorBuffer in
        structure.withUnsafeMutableBufferPointer { structureBuffer in
            let index = indexBuffer.baseAddress.unsafelyUnwrapped, kv = vectorBuffer.baseAddress.unsafelyUnwrapped
            let weights = weightBuffer.baseAddress.unsafelyUnwrapped, factors = factorBuffer.baseAddress.unsafelyUnwrapped
            let sk = structureBuffer.baseAddress.unsafelyUnwrapped
            @inline(__always) func phase(_ k: Int) -> (Double, Double) {
                let t1 = tables + index[3 * k], t2 = tables + index[3 * k + 1], t3 = tables + index[3 * k + 2]
                let (c12, s12) = (t1[0] * t2[0] - t1[1] * t2[1], t1[1] * t2[0] + t1[0] * t2[1])
                return (c12 * t3[0] - s12 * t3[1], s12 * t3[0] + c12 * t3[1])
            }
            // Structure factors S(k) = sum_i q_i exp(i k.r_i), summed over ranks.
            for i in 0..<nlocal where atoms.species[i] >= 0 {
                fillTables(i)
                let qi = charges[i]
                for k in 0..<nk {
                    let (c, s) = phase(k)
                    sk[2 * k] += qi * c
                    sk[2 * k + 1] += qi * s
                }
            }
            communicator.sumOverRanks(sk, count: 2 * nk)

            for i in 0..<nlocal { chargeBar[i] = 0 }
            for i in 0..<nlocal where atoms.species[i] >= 0 {
                fillTables(i)
                let qi = charges[i]
                var energy = 0.0, potential = 0.0
                var fx = 0.0, fy = 0.0, fz = 0.0
                var w0 = 0.0, w1 = 0.0, w2 = 0.0, w3 = 0.0, w4 = 0.0, w5 = 0.0
                for k in 0..<nk {
                    let kx = kv[3 * k], ky = kv[3 * k + 1], kz = kv[3 * k + 2]
                    let (c, s) = phase(k)
                    let re = sk[2 * k], im = sk[2 * k + 1]
                    let projection = re * c + im * s          // Re(conj(S) e^{ik.r})
                    let share = weights[k] * qi * projection   // this atom's part of c_k |S|^2
                    energy += share
                    potential += 2 * weights[k] * projection
                    let along = 2 * weights[k] * qi * (im * c - re * s)   // d(c_k|S|^2)/dr_i = along * k
                    fx -= along * kx; fy -= along * ky; fz -= along * kz
                    let g = 2 * factors[k]
                    w0 += share * (1 + g * kx * kx); w1 += share * (1 + g * ky * ky); w2 += share * (1 + g * kz * kz)
                    w3 += share * g * kx * ky; w4 += share * g * kx * kz; w5 += share * g * ky * kz
                }
                var atomEnergy = prefactor * energy
                chargeBar[i] = prefactor * potential
                if settings.removeSelfInteraction {
                    atomEnergy -= scale * selfCoefficient * qi * qi
                    chargeBar[i] -= scale * 2 * selfCoefficient * qi
                }
                result.energy += atomEnergy
                atomEnergies?[i] += atomEnergy
                forces[3 * i] += prefactor * fx; forces[3 * i + 1] += prefactor * fy; forces[3 * i + 2] += prefactor * fz
                let w = (w0, w1, w2, w3, w4, w5)
                result.virial[0] += prefactor * w.0; result.virial[1] += prefactor * w.1; result.virial[2] += prefactor * w.2
                result.virial[3] += prefactor * w.3; result.virial[4] += prefactor * w.4; result.virial[5] += prefactor * w.5
                if let v = atomVirials {
                    v[6 * i] += prefactor * w.0; v[6 * i + 1] += prefactor * w.1; v[6 * i + 2] += prefactor * w.2
                    v[6 * i + 3] += prefactor * w.3; v[6 * i + 4] += prefactor * w.4; v[6 * i + 5] += prefactor * w.5
                }
            }
        }
        }
        }
        }
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
