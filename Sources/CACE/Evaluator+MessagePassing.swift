#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Evaluation of models with T >= 1 message-passing layers (spec §5, §10, §12).
/// Per-atom A and B of every layer are stored for owned and ghost atoms; before layer t
/// the ghosts receive A^{t-1} from their owners (forward exchange), and in the backward
/// pass the adjoints of ghost rows are summed into their owners (reverse exchange).
extension Evaluator {
    /// Offsets of the per-edge arrays inside one allocation.
    private struct EdgeArrays {
        let count: Int
        let receivers: UnsafeMutablePointer<Int>
        let senders: UnsafeMutablePointer<Int>
        let vectors: UnsafeMutablePointer<Double>       // [e][3]
        let lengths: UnsafeMutablePointer<Double>
        let cutoff: UnsafeMutablePointer<Double>        // f(d)
        let cutoffDerivative: UnsafeMutablePointer<Double>
        let rho: UnsafeMutablePointer<Double>           // [e][n]
        let rhoDerivative: UnsafeMutablePointer<Double>
        let y: UnsafeMutablePointer<Double>             // [e][k]
        let pBar: UnsafeMutablePointer<Double>          // [e][n][k] adjoint of rho (x) Y
        let dBar: UnsafeMutablePointer<Double>          // [e] extra dE/dd (MessageAr)
        /// Edges of the ii-th listed atom: start[ii] ..< start[ii + 1].
        let start: UnsafeMutablePointer<Int>
    }

    /// Collects the edges of all listed owned atoms.
    private func buildEdges(_ atoms: AtomsView) throws(CACEError) -> EdgeArrays {
        let m = model
        let nr = m.radialFunctionCount, nk = m.angularCount
        let list = atoms.neighbors
        let x = atoms.positions
        let cutoffSquared = m.cutoff * m.cutoff
        var bound = 0
        for ii in 0..<list.count { bound += Int(list.counts[Int(list.atoms[ii])]) }
        let index = scratch.edgeIndex.reserve(2 * bound + list.count + 1 + 1)
        let perEdge = 3 + 1 + 2 + 2 * nr + nk + nr * nk + 1
        var base = scratch.edges.reserve(perEdge * bound + 1)
        func take(_ n: Int) -> UnsafeMutablePointer<Double> { defer { base += n * bound }; return base }
        let arrays = EdgeArrays(count: 0, receivers: index, senders: index + bound, vectors: take(3), lengths: take(1),
                                cutoff: take(1), cutoffDerivative: take(1), rho: take(nr), rhoDerivative: take(nr),
                                y: take(nk), pBar: take(nr * nk), dBar: take(1), start: index + 2 * bound)
        var e = 0
        var powers = [Double](repeating: 0, count: 3 * (m.maxL + 1))
        try powers.withUnsafeMutableBufferPointer { (pw) throws(CACEError) in
            let powersPointer = pw.baseAddress.unsafelyUnwrapped
            for ii in 0..<list.count {
                arrays.start[ii] = e
                let i = Int(list.atoms[ii])
                guard atoms.species[i] >= 0, let neighbours = list.lists[i] else { continue }
                for jj in 0..<Int(list.counts[i]) {
                    let j = Int(neighbours[jj] & list.mask)
                    guard atoms.species[j] >= 0 else { continue }
                    let r = (x[3 * i] - x[3 * j], x[3 * i + 1] - x[3 * j + 1], x[3 * i + 2] - x[3 * j + 2])
                    let d2 = r.0 * r.0 + r.1 * r.1 + r.2 * r.2
                    guard d2 < cutoffSquared else { continue }
                    guard d2 > 0 else { throw .geometry("atoms \(i) and \(j) are at the same position") }
                    let d = d2.squareRoot()
                    arrays.receivers[e] = i
                    arrays.senders[e] = j
                    arrays.vectors[3 * e] = r.0; arrays.vectors[3 * e + 1] = r.1; arrays.vectors[3 * e + 2] = r.2
                    arrays.lengths[e] = d
                    let (f, df) = m.edgeFeatures(r, d, rho: arrays.rho + e * nr, rhoDerivative: arrays.rhoDerivative + e * nr,
                                                 y: arrays.y + e * nk, powers: powersPointer)
                    arrays.cutoff[e] = f
                    arrays.cutoffDerivative[e] = df
                    e += 1
                }
            }
            arrays.start[list.count] = e
        }
        for q in 0..<(e * nr * nk) { arrays.pBar[q] = 0 }
        for q in 0..<e { arrays.dBar[q] = 0 }
        return EdgeArrays(count: e, receivers: arrays.receivers, senders: arrays.senders, vectors: arrays.vectors,
                          lengths: arrays.lengths, cutoff: arrays.cutoff, cutoffDerivative: arrays.cutoffDerivative,
                          rho: arrays.rho, rhoDerivative: arrays.rhoDerivative, y: arrays.y, pBar: arrays.pBar,
                          dBar: arrays.dBar, start: arrays.start)
    }

    func evaluateWithMessagePassing(_ atoms: AtomsView, into targets: EvaluationTargets,
                                    communicator: any DomainCommunicator) throws(CACEError) -> EvaluationSummary {
        let m = model
        let T = m.layers.count
        let nall = atoms.totalCount, nlocal = atoms.localCount
        let nr = m.radialFunctionCount, nk = m.angularCount, cs = m.channelCount, nm = m.radialBasisCount
        let q = m.invariantCount, nz = m.elementCount
        let aWidth = nm * nk * cs, bWidth = nm * q * cs, kc = nk * cs
        let list = atoms.neighbors
        let edges = try buildEdges(atoms)
        let species = atoms.species

        // Per-atom arrays of every layer: A^t, B^t and Bchi weights omega^t (full [k][c]).
        let featureBase = scratch.features.zeroed((T + 1) * nall * (aWidth + bWidth) + T * nall * kc)
        let a = { (t: Int) in featureBase + t * nall * aWidth }
        let b = { (t: Int) in featureBase + (T + 1) * nall * aWidth + t * nall * bWidth }
        let omega = { (t: Int) in featureBase + (T + 1) * nall * (aWidth + bWidth) + (t - 1) * nall * kc }
        let adjointBase = scratch.adjoints.zeroed((T + 1) * nall * (aWidth + bWidth) + nall * kc)
        let aBar = { (t: Int) in adjointBase + t * nall * aWidth }
        let bBar = { (t: Int) in adjointBase + (T + 1) * nall * aWidth + t * nall * bWidth }
        let omegaBar = adjointBase + (T + 1) * nall * (aWidth + bWidth)

        // Per-atom work buffers.
        let hnetStride = m.layers.compactMap { $0.bchi?.network.scratchCount }.max() ?? 0
        let hnetWidth = m.layers.compactMap { $0.bchi?.network.outputs }.max() ?? 0
        let sizes = [nz * nr * nk * cs, nr * nk * cs, m.featureCount, m.featureCount, m.heads.count,
                     m.heads.count, m.heads.count * m.readoutScratchStride, nk, 3 * (m.maxL + 1), hnetStride,
                     2 * hnetWidth, bWidth]
        var cursor = scratch.atom.reserve(sizes.reduce(0, +))
        var parts: [UnsafeMutablePointer<Double>] = []
        for size in sizes { parts.append(cursor); cursor += size }
        let (p, channelWork, x, xBar, headOut, seeds, readout, yBar, powers, hnetScratch, hnetIO, bWork) =
            (parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6], parts[7], parts[8], parts[9],
             parts[10], parts[11])

        // ---- Forward, layer 0 (owned atoms).
        for ii in 0..<list.count {
            let i = Int(list.atoms[ii]), zi = Int(species[i])
            guard zi >= 0 else { continue }
            for idx in 0..<(nz * nr * nk) { p[idx] = 0 }
            for e in edges.start[ii]..<edges.start[ii + 1] {
                m.accumulateOuter(p + Int(species[edges.senders[e]]) * nr * nk, rho: edges.rho + e * nr,
                                  y: edges.y + e * nk, weight: 1)
            }
            m.expandChannels(p, receiver: zi, into: channelWork)
            m.radialTransform(channelWork, into: a(0) + i * aWidth, scale: 1)
            m.symmetrizer.forward(a: a(0) + i * aWidth, b: b(0) + i * bWidth, radial: nm, angular: nk, channels: cs)
        }

        // ---- Forward, layers 1...T.
        for t in 1...T {
            let layer = m.layers[t - 1]
            communicator.forwardExchange(a(t - 1), width: aWidth)
            for g in nlocal..<nall where species[g] >= 0 {
                m.symmetrizer.forward(a: a(t - 1) + g * aWidth, b: b(t - 1) + g * bWidth, radial: nm, angular: nk, channels: cs)
            }
            if let bchi = layer.bchi {
                for j in 0..<nall where species[j] >= 0 {
                    bchi.network.forward(b(t - 1) + j * bWidth, output: hnetIO, scratch: hnetScratch)
                    expandBchiWeights(bchi, hnetIO, into: omega(t) + j * kc)
                }
            }
            for ii in 0..<list.count {
                let i = Int(list.atoms[ii]), zi = Int(species[i])
                guard zi >= 0 else { continue }
                let ai = a(t) + i * aWidth, previous = a(t - 1) + i * aWidth
                if let mu = layer.memory {
                    for (l, group) in m.angular.groups.enumerated() {
                        for mm in 0..<nm {
                            for k in group {
                                for c in 0..<cs {
                                    ai[(mm * nk + k) * cs + c] += mu[(l * nm + mm) * cs + c] * previous[(mm * nk + k) * cs + c]
                                }
                            }
                        }
                    }
                }
                if let prefactor = layer.arPrefactor, let inverse = layer.arInverseLength {
                    for e in edges.start[ii]..<edges.start[ii + 1] {
                        let aj = a(t - 1) + edges.senders[e] * aWidth
                        let d = edges.lengths[e], f = edges.cutoff[e]
                        for (l, group) in m.angular.groups.enumerated() {
                            for mm in 0..<nm {
                                for c in 0..<cs {
                                    let pc = (l * nm + mm) * cs + c
                                    let phi = m.messageNorm * prefactor[pc] * exp(-d * inverse[pc]) * f
                                    for k in group { ai[(mm * nk + k) * cs + c] += phi * aj[(mm * nk + k) * cs + c] }
                                }
                            }
                        }
                    }
                }
                if layer.bchi != nil {
                    // S[n][k][c] = sum_e chi_e[c] rho_e[n] Y_e[k] omega_j[k][c], then RT.
                    for idx in 0..<(nr * nk * cs) { channelWork[idx] = 0 }
                    m.edgeChannels.withUnsafeBufferPointer { chi in
                        for e in edges.start[ii]..<edges.start[ii + 1] {
                            let j = edges.senders[e]
                            let weights = chi.baseAddress.unsafelyUnwrapped + (Int(species[j]) * nz + zi) * cs
                            let oj = omega(t) + j * kc
                            let rho = edges.rho + e * nr, y = edges.y + e * nk
                            for n in 0..<nr {
                                for k in 0..<nk {
                                    let v = rho[n] * y[k]
                                    let out = channelWork + (n * nk + k) * cs, ok = oj + k * cs
                                    for c in 0..<cs { out[c] += v * weights[c] * ok[c] }
                                }
                            }
                        }
                    }
                    m.radialTransform(channelWork, into: ai, scale: m.messageNorm)
                }
                m.symmetrizer.forward(a: ai, b: b(t) + i * bWidth, radial: nm, angular: nk, channels: cs)
            }
        }

        // ---- Read-out of owned atoms.
        let perAtom = scratch.perAtom.zeroed(nlocal * m.heads.count + 2 * nlocal)
        let charges = perAtom + nlocal * m.heads.count, chargeBar = charges + nlocal
        func gatherFeatures(_ i: Int) {
            for mm in 0..<nm {
                for s in 0..<q {
                    for c in 0..<cs {
                        for t in 0...T { x[((mm * q + s) * cs + c) * (T + 1) + t] = b(t)[i * bWidth + (mm * q + s) * cs + c] }
                    }
                }
            }
        }
        var summary = EvaluationSummary()
        targets.atomEnergies?.initialize(repeating: 0, count: nlocal)
        for ii in 0..<list.count {
            let i = Int(list.atoms[ii])
            guard species[i] >= 0 else { continue }
            gatherFeatures(i)
            featureObserver?(i, UnsafeBufferPointer(start: x, count: m.featureCount))
            m.readoutForward(x, headOutputs: perAtom + i * m.heads.count, scratch: readout, scratchStride: m.readoutScratchStride)
            let energy = shortRangeEnergy(perAtom + i * m.heads.count)
            summary.energy += energy
            targets.atomEnergies?[i] += energy
            if let h = m.chargeHead { charges[i] = perAtom[i * m.heads.count + h] }
        }
        if let ewald = ewaldTerm {
            let lr = try ewald.evaluate(atoms: atoms, charges: charges, chargeBar: chargeBar, forces: targets.forces,
                                        atomEnergies: targets.atomEnergies, atomVirials: targets.atomVirials,
                                        communicator: communicator)
            summary.energy += lr.energy
            summary.longRangeEnergy = lr.energy
            for c in 0..<6 { summary.virial[c] += lr.virial[c] }
        }

        // ---- Backward: read-out to B-bar of every layer.
        for ii in 0..<list.count {
            let i = Int(list.atoms[ii])
            guard species[i] >= 0 else { continue }
            gatherFeatures(i)
            m.readoutForward(x, headOutputs: headOut, scratch: readout, scratchStride: m.readoutScratchStride)
            headSeeds(seeds, chargeBar: chargeBar[i])
            for idx in 0..<m.featureCount { xBar[idx] = 0 }
            m.readoutBackward(seeds: seeds, xBar: xBar, scratch: readout, scratchStride: m.readoutScratchStride)
            for mm in 0..<nm {
                for s in 0..<q {
                    for c in 0..<cs {
                        for t in 0...T { bBar(t)[i * bWidth + (mm * q + s) * cs + c] += xBar[((mm * q + s) * cs + c) * (T + 1) + t] }
                    }
                }
            }
        }

        // ---- Backward through the layers, t = T ... 0.
        for t in stride(from: T, through: 0, by: -1) {
            // Symmetrizer adjoint on every atom that has a B-bar (ghosts: from layer t+1's Bchi).
            for j in 0..<(t == T ? nlocal : nall) where species[j] >= 0 {
                m.symmetrizer.backward(a: a(t) + j * aWidth, bBar: bBar(t) + j * bWidth, aBar: aBar(t) + j * aWidth,
                                       radial: nm, angular: nk, channels: cs)
            }
            if t < T {
                communicator.reverseExchange(aBar(t), width: aWidth)
            }
            if t == 0 { break }
            let layer = m.layers[t - 1]
            for idx in 0..<(nall * kc) { omegaBar[idx] = 0 }
            for ii in 0..<list.count {
                let i = Int(list.atoms[ii]), zi = Int(species[i])
                guard zi >= 0 else { continue }
                let gi = aBar(t) + i * aWidth
                if let mu = layer.memory {
                    let target = aBar(t - 1) + i * aWidth
                    for (l, group) in m.angular.groups.enumerated() {
                        for mm in 0..<nm {
                            for k in group {
                                for c in 0..<cs {
                                    target[(mm * nk + k) * cs + c] += mu[(l * nm + mm) * cs + c] * gi[(mm * nk + k) * cs + c]
                                }
                            }
                        }
                    }
                }
                if let prefactor = layer.arPrefactor, let inverse = layer.arInverseLength {
                    for e in edges.start[ii]..<edges.start[ii + 1] {
                        let j = edges.senders[e]
                        let aj = a(t - 1) + j * aWidth, target = aBar(t - 1) + j * aWidth
                        let d = edges.lengths[e], f = edges.cutoff[e], df = edges.cutoffDerivative[e]
                        var dBar = 0.0
                        for (l, group) in m.angular.groups.enumerated() {
                            for mm in 0..<nm {
                                for c in 0..<cs {
                                    let pc = (l * nm + mm) * cs + c
                                    let decay = m.messageNorm * prefactor[pc] * exp(-d * inverse[pc])
                                    let phi = decay * f
                                    var overlap = 0.0
                                    for k in group {
                                        let idx = (mm * nk + k) * cs + c
                                        target[idx] += gi[idx] * phi
                                        overlap += gi[idx] * aj[idx]
                                    }
                                    dBar += overlap * decay * (df - inverse[pc] * f)
                                }
                            }
                        }
                        edges.dBar[e] += dBar
                    }
                }
                if layer.bchi != nil {
                    // S-bar = RT^T(gamma * A-bar^t); then per edge to rho (x) Y and to omega of the sender.
                    m.radialTransformAdjoint(gi, into: channelWork)
                    m.edgeChannels.withUnsafeBufferPointer { chi in
                        for e in edges.start[ii]..<edges.start[ii + 1] {
                            let j = edges.senders[e]
                            let weights = chi.baseAddress.unsafelyUnwrapped + (Int(species[j]) * nz + zi) * cs
                            let oj = omega(t) + j * kc, ojBar = omegaBar + j * kc
                            let rho = edges.rho + e * nr, y = edges.y + e * nk, pBar = edges.pBar + e * nr * nk
                            for n in 0..<nr {
                                for k in 0..<nk {
                                    let sBar = channelWork + (n * nk + k) * cs, ok = oj + k * cs, okBar = ojBar + k * cs
                                    let psi = rho[n] * y[k]
                                    var sum = 0.0
                                    for c in 0..<cs {
                                        let wc = m.messageNorm * sBar[c] * weights[c]
                                        sum += wc * ok[c]
                                        okBar[c] += psi * wc
                                    }
                                    pBar[n * nk + k] += sum
                                }
                            }
                        }
                    }
                }
            }
            // Bchi weights' adjoint -> hnet -> B-bar^{t-1} of every atom (ghosts included).
            if let bchi = layer.bchi {
                for j in 0..<nall where species[j] >= 0 {
                    let wBar = hnetIO + hnetWidth
                    reduceBchiWeightAdjoint(bchi, omegaBar + j * kc, into: wBar)
                    bchi.network.forward(b(t - 1) + j * bWidth, output: hnetIO, scratch: hnetScratch)
                    for idx in 0..<bWidth { bWork[idx] = 0 }
                    bchi.network.backward(outputBar: wBar, inputBar: bWork, scratch: hnetScratch)
                    let target = bBar(t - 1) + j * bWidth
                    for idx in 0..<bWidth { target[idx] += bWork[idx] }
                }
            }
        }

        // ---- Layer 0 adjoint to the edges, then edge forces.
        for ii in 0..<list.count {
            let i = Int(list.atoms[ii]), zi = Int(species[i])
            guard zi >= 0 else { continue }
            m.radialTransformAdjoint(aBar(0) + i * aWidth, into: channelWork)
            m.contractChannels(channelWork, receiver: zi, into: p)
            for e in edges.start[ii]..<edges.start[ii + 1] {
                let pz = p + Int(species[edges.senders[e]]) * nr * nk, pBar = edges.pBar + e * nr * nk
                for idx in 0..<(nr * nk) { pBar[idx] += pz[idx] }
            }
        }
        var virial = VirialTally()
        for e in 0..<edges.count {
            let i = edges.receivers[e], j = edges.senders[e]
            let r = (edges.vectors[3 * e], edges.vectors[3 * e + 1], edges.vectors[3 * e + 2])
            let g = m.edgeGradient(r, edges.lengths[e], pBar: edges.pBar + e * nr * nk, rho: edges.rho + e * nr,
                                   rhoDerivative: edges.rhoDerivative + e * nr, y: edges.y + e * nk,
                                   dBar: edges.dBar[e], yBar: yBar, powers: powers)
            applyEdgeForce(g, receiver: i, sender: j, forces: targets.forces)
            virial.add(r, g, receiver: i, sender: j, atomVirials: targets.atomVirials)
        }
        for c in 0..<6 { summary.virial[c] += virial.components[c] }
        return summary
    }

    /// omega[k][c] from the hnet output w[l][c'] (spec §5.3): broadcast over the shared axes,
    /// or spread over degrees with the l_matrix.
    private func expandBchiWeights(_ bchi: MessagePassingLayer.Bchi, _ w: UnsafePointer<Double>,
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
    private func reduceBchiWeightAdjoint(_ bchi: MessagePassingLayer.Bchi, _ omegaBar: UnsafePointer<Double>,
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
