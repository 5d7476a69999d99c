import CACE
import CACEStructures
import Foundation

/// One labelled structure of the training or validation data.
public struct LabelledFrame: Sendable {
    public var structure: Structure
    public var energy: Double
    /// [N][3]
    public var forces: [Double]
    /// 3x3 row-major, eV (W = -V sigma), for fully periodic frames that give a virial or stress.
    public var virial: [Double]?
    public var configType: String
    /// "file:frame" for messages.
    public var name: String

    /// The frames of an extended-XYZ file as labelled data: every frame must have an energy and
    /// forces (one-line errors name the file and the frame).
    public static func frames(_ structures: [Structure], file: String) throws(FitError) -> [LabelledFrame] {
        var out: [LabelledFrame] = []
        for (index, s) in structures.enumerated() {
            let name = "\(file): frame \(index + 1)"
            guard let energy = s.labels.energy else {
                throw .data("\(name) has no energy (the comment line needs energy=...)")
            }
            guard let forces = s.labels.forces else {
                throw .data("\(name) has no forces (Properties needs a forces:R:3 column)")
            }
            guard forces.count == 3 * s.count else { throw .internal("\(name): \(forces.count / 3) force rows for \(s.count) atoms") }
            var virial: [Double]? = nil
            if s.isFullyPeriodic { virial = s.labels.referenceVirial(volume: s.volume) }
            out.append(LabelledFrame(structure: s, energy: energy, forces: forces, virial: virial,
                                     configType: s.labels.configType ?? "default", name: name))
        }
        return out
    }
}

/// The rows of the design matrix Psi for one frame (linear-fit.md §3), unweighted and unscaled,
/// column-major [rows][P] with P = F feature columns followed by one E0 column per element.
/// Rows: the energy (sum_i B_i; E0 columns: element counts), 3N forces
/// (sum_(e: sender a) J_e - sum_(e: receiver a) J_e), and for fully periodic frames 6 virial
/// rows W_ab = -1/2 sum_e (r_a J_e[b] + r_b J_e[a]) in the order xx yy zz yz xz xy.
struct FrameBlock: Sendable {
    static let virialComponents = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]

    var atoms: Int
    var rows: Int
    var columns: Int
    var virialRows: Bool
    var hasVirialTarget: Bool
    var design: [Double]
    var targets: [Double]
    /// Per feature: the sum of B_if^2 over the frame's atoms of the feature's receiver element.
    var featureSquares: [Double]
    var elementCounts: [Int]
    var edges: Int
    var configType: String

    var forceRows: Range<Int> { 1..<(1 + 3 * atoms) }
    var virialRowRange: Range<Int> { virialRows ? (1 + 3 * atoms)..<(7 + 3 * atoms) : rows..<rows }

    init(frame: LabelledFrame, evaluator: Evaluator, spec: LinearCACESpec) throws(FitError) {
        let s = frame.structure
        let n = s.count, nz = spec.elementCount, f0 = spec.featureCount
        let d: Descriptors
        do { d = try evaluator.descriptors(s, derivatives: true) } catch { throw .core("\(frame.name): \(error.description)") }
        guard d.featureCount == f0, d.atoms.count == n else {
            throw .internal("\(frame.name): descriptors of \(d.atoms.count) atoms x \(d.featureCount) for \(n) x \(f0)")
        }
        atoms = n
        virialRows = s.isFullyPeriodic
        hasVirialTarget = virialRows && frame.virial != nil
        rows = 1 + 3 * n + (virialRows ? 6 : 0)
        columns = f0 + nz
        edges = d.edgeReceivers.count
        configType = frame.configType
        let m = rows, withVirial = virialRows
        var design = [Double](repeating: 0, count: m * columns)
        var squares = [Double](repeating: 0, count: f0)
        var counts = [Int](repeating: 0, count: nz)
        var element = [Int](repeating: 0, count: n)
        for (i, z) in s.atomicNumbers.enumerated() {
            guard let e = spec.atomicNumbers.firstIndex(of: z) else { throw .internal("\(frame.name): element \(z) not in the model") }
            element[i] = e
            counts[e] += 1
        }
        for (row, i) in d.atoms.enumerated() {
            let base = row * f0
            for f in 0..<f0 {
                let b = d.features[base + f]
                design[f * m] += b
                if spec.receiverElement(ofFeature: f) == element[i] { squares[f] += b * b }
            }
        }
        for z in 0..<nz { design[(f0 + z) * m] = Double(counts[z]) }
        d.jacobians.withUnsafeBufferPointer { jac in
            design.withUnsafeMutableBufferPointer { out in
                for e in 0..<d.edgeReceivers.count {
                    let i = d.edgeReceivers[e], j = d.edgeSenders[e]
                    let r = (d.edgeVectors[3 * e], d.edgeVectors[3 * e + 1], d.edgeVectors[3 * e + 2])
                    for f in 0..<f0 {
                        let jb = (e * f0 + f) * 3
                        let col = f * m
                        let g = (jac[jb], jac[jb + 1], jac[jb + 2])
                        if i != j {
                            out[col + 1 + 3 * j] += g.0; out[col + 2 + 3 * j] += g.1; out[col + 3 + 3 * j] += g.2
                            out[col + 1 + 3 * i] -= g.0; out[col + 2 + 3 * i] -= g.1; out[col + 3 + 3 * i] -= g.2
                        }
                        if withVirial {   // components in the order of `virialComponents`
                            let v = col + 1 + 3 * n
                            out[v] -= r.0 * g.0
                            out[v + 1] -= r.1 * g.1
                            out[v + 2] -= r.2 * g.2
                            out[v + 3] -= 0.5 * (r.1 * g.2 + r.2 * g.1)
                            out[v + 4] -= 0.5 * (r.0 * g.2 + r.2 * g.0)
                            out[v + 5] -= 0.5 * (r.0 * g.1 + r.1 * g.0)
                        }
                    }
                }
            }
        }
        var targets = [Double](repeating: 0, count: m)
        targets[0] = frame.energy
        for k in 0..<(3 * n) { targets[1 + k] = frame.forces[k] }
        if virialRows, let w = frame.virial {
            for (k, (a, b)) in Self.virialComponents.enumerated() { targets[1 + 3 * n + k] = w[3 * a + b] }
        }
        self.design = design
        self.targets = targets
        featureSquares = squares
        elementCounts = counts
    }

    /// The row weights (linear-fit.md §3, ACEpotentials' convention): W_E / sqrt(N) for the
    /// energy, W_F for forces, W_V / sqrt(N) for the virial (0 without a reference virial).
    func weights(energy we: Double, force wf: Double, virial wv: Double) -> [Double] {
        let root = Double(atoms).squareRoot()
        var w = [Double](repeating: wf, count: rows)
        w[0] = we / root
        for r in virialRowRange { w[r] = hasVirialTarget ? wv / root : 0 }
        return w
    }

    /// |Psi| |c|: the size of the terms each prediction sums. A prediction's round-off is about
    /// machine epsilon times this, not times the prediction (large coefficients cancel).
    func magnitudes(_ c: [Double]) -> [Double] {
        var y = [Double](repeating: 0, count: rows)
        design.withUnsafeBufferPointer { a in
            for col in 0..<columns where c[col] != 0 {
                let w = abs(c[col]), base = col * rows
                for r in 0..<rows { y[r] += w * abs(a[base + r]) }
            }
        }
        return y
    }

    /// The frame's prediction from its rows `y` = Psi c (the virial, if any, as a symmetric 3x3).
    func prediction(_ y: [Double], magnitude: Double) -> FramePrediction {
        var virial: [Double]? = nil
        if virialRows {
            var w = [Double](repeating: 0, count: 9)
            for (k, (i, j)) in Self.virialComponents.enumerated() {
                w[3 * i + j] = y[1 + 3 * atoms + k]; w[3 * j + i] = y[1 + 3 * atoms + k]
            }
            virial = w
        }
        return FramePrediction(energy: y[0], forces: Array(y[forceRows]), virial: virial, magnitude: magnitude)
    }

    /// Psi c for coefficients c of all P columns.
    func predict(_ c: [Double]) -> [Double] {
        var y = [Double](repeating: 0, count: rows)
        design.withUnsafeBufferPointer { a in
            for col in 0..<columns where c[col] != 0 {
                let w = c[col], base = col * rows
                for r in 0..<rows { y[r] += w * a[base + r] }
            }
        }
        return y
    }
}

/// Computes the frames' blocks on `threads` threads (one evaluator each), in frame order.
func computeBlocks(_ frames: [LabelledFrame], model: CACEModel, spec: LinearCACESpec, threads: Int,
                   progress: (@Sendable (String) -> Void)?, label: String) throws(FitError) -> [FrameBlock] {
    final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var blocks: [FrameBlock?]
        var error: FitError?
        var next = 0
        var done = 0
        init(_ n: Int) { blocks = Array(repeating: nil, count: n) }
    }
    let shared = Shared(frames.count)
    let workers = max(1, min(threads, frames.count))
    let total = frames.count
    let step = max(1, total / 10)
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        let evaluator = Evaluator(model: model)
        while true {
            shared.lock.lock()
            let index = shared.next
            shared.next += 1
            let stop = shared.error != nil
            shared.lock.unlock()
            if stop || index >= total { return }
            do throws(FitError) {
                let block = try FrameBlock(frame: frames[index], evaluator: evaluator, spec: spec)
                shared.lock.lock()
                shared.blocks[index] = block
                shared.done += 1
                let done = shared.done
                shared.lock.unlock()
                if let progress, done % step == 0 || done == total { progress("\(label): features of \(done)/\(total) frames") }
            } catch {
                shared.lock.lock()
                if shared.error == nil { shared.error = error }
                shared.lock.unlock()
            }
        }
    }
    if let error = shared.error { throw error }
    return shared.blocks.map { $0! }
}
