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
struct EwaldTerm: LongRangeTerm {
    let settings: EwaldSettings
    /// Scales energy and all derivatives (norm_factor times the weight in the energy).
    let scale: Double
    /// Worker threads for the per-atom loops.
    var threads = 1
    /// The precision of the per-(atom, k) arithmetic of the periodic sum (open boundaries: Double).
    var precision = Precision.double
    /// A pinned k-set (its integer vectors with this cell's k), or nil for upstream's set of each cell.
    var kSet: KSet? = nil

    typealias Result = LongRangeResult

    /// Periodic boundaries take the reciprocal sum, open ones the direct pair sum; a box
    /// periodic in one or two directions has neither.
    func checkBoundary(periodic: (Bool, Bool, Bool)) throws(CACEError) {
        let count = [periodic.0, periodic.1, periodic.2].filter { $0 }.count
        guard count == 0 || count == 3 else { throw Self.mixedBoundary }
    }

    static let mixedBoundary = CACEError.argument(
        "the long-range term of this model needs a box periodic in all three directions or open in all three "
            + "('boundary p p p' or 'boundary f f f' in LAMMPS); mixed boundaries are not supported")

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
            throw Self.mixedBoundary
        }
    }

    /// The most atom-k terms (periodic) or atom pairs (open) one rank evaluates per call, a few
    /// minutes of work: beyond it an evaluation looks like a hang.
    static let maximumWork = 1e11

    private var selfCoefficient: Double { 1 / (settings.sigma * pow(2 * Double.pi, 1.5)) }

    private func periodic(atoms: AtomsView, cell h: [Double], charges: UnsafePointer<Double>,
                          chargeBar: UnsafeMutablePointer<Double>, forces: UnsafeMutablePointer<Double>,
                          atomEnergies: UnsafeMutablePointer<Double>?, atomVirials: UnsafeMutablePointer<Double>?,
                          communicator: any DomainCommunicator) throws(CACEError) -> Result {
        let grid: ReciprocalSum
        if let kSet {
            grid = try ReciprocalSum(cell: h, settings: settings, kSet: kSet)
        } else {
            grid = try ReciprocalSum(cell: h, settings: settings)
        }
        let work = Double(grid.count) * Double(atoms.localCount)
        guard work <= Self.maximumWork else {
            throw .geometry("the direct Ewald sum over \(grid.count) k-vectors for \(atoms.localCount) atoms "
                + "(\(work) atom-k terms) exceeds the limit of \(Self.maximumWork) per evaluation, several minutes: "
                + "use a smaller system or more MPI ranks (a particle-mesh Ewald sum is not available yet)")
        }
        switch precision {
        case .double:
            return periodic(grid, atoms, charges, chargeBar, forces, atomEnergies, atomVirials, communicator, as: Double.self)
        case .single:
            return periodic(grid, atoms, charges, chargeBar, forces, atomEnergies, atomVirials, communicator, as: Float.self)
        }
    }

    /// The per-(atom, k) arithmetic in T; structure factors, energies, forces and virials are
    /// summed in Double (S(k) from blocks of `structureBlock` atoms).
    private func periodic<T: FeatureScalar>(_ grid: ReciprocalSum, _ atoms: AtomsView, _ charges: UnsafePointer<Double>,
                                            _ chargeBar: UnsafeMutablePointer<Double>,
                                            _ forces: UnsafeMutablePointer<Double>,
                                            _ atomEnergies: UnsafeMutablePointer<Double>?,
                                            _ atomVirials: UnsafeMutablePointer<Double>?,
                                            _ communicator: any DomainCommunicator, as: T.Type) -> Result {
        let nk = grid.paddedCount
        let nlocal = atoms.localCount
        let x = atoms.positions, species = atoms.species
        let workers = max(1, min(threads, nlocal / 64))
        let phases = (0..<workers).map { _ in ReciprocalSum.AtomPhases<T>(grid) }
        let (projectionRows, crossRows) = grid.weightRows(as: T.self)
        func position(_ i: Int) -> (Double, Double, Double) { (x[3 * i], x[3 * i + 1], x[3 * i + 2]) }

        // Structure factors S(k): per-worker partial sums, added in worker order, then over ranks.
        var structure = [Double](repeating: 0, count: 2 * nk * workers)
        structure.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress.unsafelyUnwrapped
            try? parallelChunks(count: nlocal, workers: workers) { (w, range) in
                let sums = base + 2 * nk * w   // [Re S, Im S]
                let block = UnsafeMutablePointer<T>.allocate(capacity: 2 * nk)
                defer { block.deallocate() }
                var inBlock = 0
                func flush() {
                    for k in 0..<(2 * nk) { sums[k] += Double(block[k]) }
                    block.initialize(repeating: 0, count: 2 * nk)
                    inBlock = 0
                }
                block.initialize(repeating: 0, count: 2 * nk)
                for i in range where species[i] >= 0 {
                    grid.phases(of: position(i), into: phases[w])
                    addScaled(nk, T(charges[i]), phases[w].cosine, into: block)
                    addScaled(nk, T(charges[i]), phases[w].sine, into: block + nk)
                    inBlock += 1
                    if inBlock == Self.structureBlock { flush() }
                }
                flush()
            }
            for w in 1..<max(workers, 1) { addScaled(2 * nk, 1, base + 2 * nk * w, into: base) }
            communicator.sumOverRanks(base, count: 2 * nk)
        }
        let structureT = structure.prefix(2 * nk).map { T($0) }

        // Per atom: E_i = (1/V) q_i sum_k c_k Re(conj(S) e^{ik.r_i}), its q and r derivatives, virial share.
        let prefactor = scale / grid.volume
        let selfTerm = settings.removeSelfInteraction ? scale * selfCoefficient : 0
        var sums = [Double](repeating: 0, count: 7 * workers)   // energy, virial[6] per worker
        for i in 0..<nlocal { chargeBar[i] = 0 }
        structureT.withUnsafeBufferPointer { sBuffer in
        projectionRows.withUnsafeBufferPointer { projectionWeights in
        crossRows.withUnsafeBufferPointer { crossWeights in
        sums.withUnsafeMutableBufferPointer { sumBuffer in
            let re = sBuffer.baseAddress.unsafelyUnwrapped, im = re + nk
            let sum = sumBuffer.baseAddress.unsafelyUnwrapped
            let pw = projectionWeights.baseAddress.unsafelyUnwrapped, cw = crossWeights.baseAddress.unsafelyUnwrapped
            try? parallelChunks(count: nlocal, workers: workers) { (w, range) in
                let p = phases[w]
                let projection = UnsafeMutablePointer<T>.allocate(capacity: 2 * nk + 10)
                defer { projection.deallocate() }
                let cross = projection + nk, out = projection + 2 * nk
                let width = T.Lanes.scalarCount
                for i in range where species[i] >= 0 {
                    grid.phases(of: position(i), into: p)
                    var k = 0
                    while k < nk {   // Re(conj(S) e^{ik.r}) and Im(conj(S) e^{ik.r})
                        let c = load(p.cosine + k), s = load(p.sine + k)
                        let sr = load(re + k), si = load(im + k)
                        store(multiplyAdd(sr * c, si, s), projection + k)
                        store(multiplyAdd(si * c, -sr, s), cross + k)
                        k += width
                    }
                    // out: [potential, virial xx yy zz xy xz yz, force sums x y z]
                    dots(nk, rows: 7, pw, xStride: nk, projection, into: out, outStride: 1)
                    dots(nk, rows: 3, cw, xStride: nk, cross, into: out + 7, outStride: 1)
                    let qi = charges[i], potential = Double(out[0])
                    let atomEnergy = prefactor * qi * potential - selfTerm * qi * qi
                    chargeBar[i] = 2 * prefactor * potential - 2 * selfTerm * qi
                    let fScale = -2 * prefactor * qi
                    forces[3 * i] += fScale * Double(out[7])
                    forces[3 * i + 1] += fScale * Double(out[8])
                    forces[3 * i + 2] += fScale * Double(out[9])
                    sum[7 * w] += atomEnergy
                    atomEnergies?[i] += atomEnergy
                    let virialScale = prefactor * qi
                    for c in 0..<6 { sum[7 * w + 1 + c] += virialScale * Double(out[1 + c]) }
                    if let atomVirial = atomVirials.map({ $0 + 6 * i }) {
                        for c in 0..<6 { atomVirial[c] += virialScale * Double(out[1 + c]) }
                    }
                }
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

    /// Atoms per partial structure-factor sum in the evaluation's precision before it is added
    /// to the Double total: keeps the round-off of single precision from growing with N.
    private static var structureBlock: Int { 32 }

    private func open(atoms: AtomsView, tags: UnsafePointer<Int64>?, atomCount: Int, charges: UnsafePointer<Double>,
                      chargeBar: UnsafeMutablePointer<Double>, forces: UnsafeMutablePointer<Double>,
                      atomEnergies: UnsafeMutablePointer<Double>?, atomVirials: UnsafeMutablePointer<Double>?,
                      communicator: any DomainCommunicator) throws(CACEError) -> Result {
        let nlocal = atoms.localCount
        guard atomCount >= 0, atomCount <= 50_000_000 else { throw .argument("atom count \(atomCount) out of range") }
        let work = Double(atomCount) * Double(nlocal)
        guard work <= Self.maximumWork else {
            throw .geometry("the open-boundary long-range term is a direct sum over atom pairs: \(nlocal) x \(atomCount) "
                + "pairs exceed the limit of \(Self.maximumWork) per evaluation, several minutes: "
                + "use fewer atoms, more MPI ranks, or a periodic box")
        }
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

        // Per atom i: its pair sum over all atoms j (threads over i, each writing only its atoms'
        // rows and its own slot of the sums; no allocation per atom).
        let pairScale = scale / (2 * Double.pi)
        let width = settings.sigma * 2.0.squareRoot()
        let selfTerm = settings.removeSelfInteraction ? 0 : scale * selfCoefficient
        for i in 0..<nlocal { chargeBar[i] = 0 }
        let workers = max(1, min(threads, nlocal / 16))
        var sums = [Double](repeating: 0, count: 7 * workers)   // energy, virial[6] per worker
        try all.withUnsafeBufferPointer { (allBuffer) throws(CACEError) in
        try sums.withUnsafeMutableBufferPointer { (sumBuffer) throws(CACEError) in
            let everyone = allBuffer.baseAddress.unsafelyUnwrapped, sum = sumBuffer.baseAddress.unsafelyUnwrapped
            try parallelChunks(count: nlocal, workers: workers) { (worker, range) throws(CACEError) in
                for i in range where atoms.species[i] >= 0 {
                    let slot = tags.map { Int($0[i]) - 1 } ?? i
                    let xi = everyone[5 * slot], yi = everyone[5 * slot + 1], zi = everyone[5 * slot + 2], qi = charges[i]
                    var potential = 0.0
                    var fx = 0.0, fy = 0.0, fz = 0.0
                    var w0 = 0.0, w1 = 0.0, w2 = 0.0, w3 = 0.0, w4 = 0.0, w5 = 0.0
                    for j in 0..<atomCount where j != slot && everyone[5 * j + 4] != 0 {
                        let dx = xi - everyone[5 * j], dy = yi - everyone[5 * j + 1], dz = zi - everyone[5 * j + 2]
                        let r = (dx * dx + dy * dy + dz * dz).squareRoot()
                        let qj = everyone[5 * j + 3]
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
                        w0 += 0.5 * fpair * dx * dx; w1 += 0.5 * fpair * dy * dy; w2 += 0.5 * fpair * dz * dz
                        w3 += 0.5 * fpair * dx * dy; w4 += 0.5 * fpair * dx * dz; w5 += 0.5 * fpair * dy * dz
                    }
                    let atomEnergy = 0.5 * pairScale * qi * potential + selfTerm * qi * qi
                    chargeBar[i] = pairScale * potential
                        + (settings.removeSelfInteraction ? 0 : scale * 2 * selfCoefficient * qi)
                    sum[7 * worker] += atomEnergy
                    atomEnergies?[i] += atomEnergy
                    forces[3 * i] += fx; forces[3 * i + 1] += fy; forces[3 * i + 2] += fz
                    let w = (w0, w1, w2, w3, w4, w5)
                    sum[7 * worker + 1] += w.0; sum[7 * worker + 2] += w.1; sum[7 * worker + 3] += w.2
                    sum[7 * worker + 4] += w.3; sum[7 * worker + 5] += w.4; sum[7 * worker + 6] += w.5
                    if let v = atomVirials.map({ $0 + 6 * i }) {
                        v[0] += w.0; v[1] += w.1; v[2] += w.2; v[3] += w.3; v[4] += w.4; v[5] += w.5
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
}
