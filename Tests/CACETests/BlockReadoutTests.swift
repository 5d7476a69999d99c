import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures

/// The read-out of a block of atoms on OpenBLAS (issue 14, item 4) against the per-atom kernel:
/// head outputs and the features' adjoints, in Double and Float, for blocks of 1, odd, even and
/// more rows than the crossover, through the API (which picks the kernel) and forced onto BLAS.
/// The two differ only in the order of the sums: Double to 1e-12 and Float to 2e-5 of the
/// largest value. Each check prints "[BlockReadoutTests] ...: max relative difference ...".
/// The atom-by-atom path in blocks of 1, 5 and more atoms than the structure has against its
/// default block: energies, forces, virials and per-atom virials, Double and Float.
final class BlockReadoutTests: XCTestCase {
    static let rowCounts = [1, 2, 3, 4, 5, 7, 16, 33, 64]

    /// Models whose heads cover bias / no bias, a linear head or none, a network without hidden
    /// layers, two heads (energy and charge), and the trained water head when ../shared is there.
    func models() throws -> [(String, CACEModel)] {
        var list: [(String, CACEModel)] = []
        func synthetic(_ name: String, _ configure: (inout SyntheticModel) -> Void) throws {
            var s = SyntheticModel()
            configure(&s)
            list.append((name, try s.model()))
        }
        try synthetic("synthetic, bias, linear head") { _ in }
        try synthetic("synthetic, no bias, no linear head") { $0.headBias = false; $0.linearHead = false }
        try synthetic("synthetic, no hidden layers") { $0.hiddenWidths = [] }
        try synthetic("synthetic, energy and charge heads") { $0.ewald = true; $0.zs = [1, 8]; $0.hiddenWidths = [9, 5, 3] }
        if let reference = referenceDirectory {
            list.append(("water_sr", try CACEModel(contentsOf: reference.appendingPathComponent("water_sr/model.safetensors").path)))
        } else {
            print("[BlockReadoutTests] SKIPPED water_sr: ../shared/reference not found")
        }
        return list
    }

    func testBlockReadoutEqualsPerAtomKernel() throws {
        for (name, model) in try models() {
            check(name, FeatureKernels<Double>(model))
            check(name, FeatureKernels<Float>(model))
        }
    }

    private func check<T: FeatureScalar>(_ name: String, _ k: FeatureKernels<T>) {
        let precision = T.self == Double.self ? "Double" : "Float"
        let tolerance = T.self == Double.self ? 1e-12 : 2e-5
        let nh = k.heads.count, nf = k.featureCount
        let featureStride = nf + 3   // rows padded: the stride is honoured
        var rng = SyntheticModel.Generator(state: 29)
        for rows in Self.rowCounts {
            let x = (0..<(rows * featureStride)).map { _ in T(rng.next(1.5)) }
            // Seeds: random, one row with zero seeds, and (with two heads) one head's seeds all zero
            // in every other block.
            var seeds = (0..<(rows * nh)).map { _ in T(rng.next()) }
            if rows > 2 { for h in 0..<nh { seeds[1 * nh + h] = 0 } }
            if nh > 1, rows % 2 == 1 { for r in 0..<rows { seeds[r * nh + 1] = 0 } }
            let bar0 = (0..<(rows * featureStride)).map { _ in T(rng.next(0.1)) }

            // The per-atom kernel, row by row.
            var outputs = [T](repeating: .nan, count: rows * nh)
            var bars = bar0
            var perAtomScratch = [T](repeating: .nan, count: nh * k.readoutScratchStride)
            for r in 0..<rows {
                x.withUnsafeBufferPointer { x in
                    k.readoutForward(x.baseAddress! + r * featureStride, headOutputs: &outputs[r * nh],
                                     scratch: &perAtomScratch, scratchStride: k.readoutScratchStride)
                }
                seeds.withUnsafeBufferPointer { s in
                    bars.withUnsafeMutableBufferPointer { b in
                        k.readoutBackward(seeds: s.baseAddress! + r * nh, xBar: b.baseAddress! + r * featureStride,
                                          scratch: &perAtomScratch, scratchStride: k.readoutScratchStride)
                    }
                }
            }

            for forced in [false, true] {
                var blockOutputs = [T](repeating: .nan, count: rows * nh)
                var blockBars = bar0
                var scratch = [T](repeating: .nan, count: k.blockReadoutScratchCount(rows: rows))
                if forced {
                    k.readoutForwardOnBLAS(features: x, featureStride: featureStride, rows: rows,
                                           headOutputs: &blockOutputs, scratch: &scratch)
                    k.readoutBackwardOnBLAS(seeds: seeds, featuresBar: &blockBars, featureStride: featureStride,
                                            rows: rows, scratch: &scratch)
                } else {
                    k.readoutForward(features: x, featureStride: featureStride, rows: rows, headOutputs: &blockOutputs,
                                     scratch: &scratch)
                    k.readoutBackward(seeds: seeds, featuresBar: &blockBars, featureStride: featureStride, rows: rows,
                                      scratch: &scratch)
                }
                let kernel = forced ? "BLAS" : (rows >= k.blockReadoutMinimumRows ? "BLAS (auto)" : "per-atom (auto)")
                checkSegmented(name: "\(name), \(precision), \(rows) rows", k, x: x, featureStride: featureStride,
                               rows: rows, seeds: seeds, outputs: outputs, bars: bars, bar0: bar0, tolerance: tolerance)
                let label = "\(name), \(precision), \(rows) rows, \(kernel)"
                report("\(label): head outputs", difference(blockOutputs, outputs), tolerance)
                // The padding between rows is untouched; the adjoint is added to what was there.
                report("\(label): feature adjoints", difference(blockBars, bars), tolerance)
            }
        }
    }

    /// The same block with its features invariant-major for the block, [q][rows][M C] (the
    /// atom-by-atom path's layout: segments of M C), against the per-atom results.
    private func checkSegmented<T: FeatureScalar>(name: String, _ k: FeatureKernels<T>, x: [T], featureStride: Int,
                                                  rows: Int, seeds: [T], outputs: [T], bars: [T], bar0: [T],
                                                  tolerance: Double) {
        let width = k.radialBasisCount * k.channelCount, nf = k.featureCount, nh = k.heads.count
        let layout = BlockFeatureLayout(rowStride: width, segmentWidth: width, segmentStride: rows * width)
        func index(_ r: Int, _ f: Int) -> Int { f / width * rows * width + r * width + f % width }
        var xs = [T](repeating: .nan, count: rows * nf), bs = [T](repeating: .nan, count: rows * nf)
        for r in 0..<rows { for f in 0..<nf { xs[index(r, f)] = x[r * featureStride + f]; bs[index(r, f)] = bar0[r * featureStride + f] } }
        var blockOutputs = [T](repeating: .nan, count: rows * nh)
        var scratch = [T](repeating: .nan, count: k.blockReadoutScratchCount(rows: rows))
        k.readoutForwardOnBLAS(features: xs, layout: layout, rows: rows, headOutputs: &blockOutputs, scratch: &scratch)
        k.readoutBackwardOnBLAS(seeds: seeds, featuresBar: &bs, layout: layout, rows: rows, scratch: &scratch)
        var back = [T](repeating: 0, count: rows * nf), expected = [T](repeating: 0, count: rows * nf)
        for r in 0..<rows { for f in 0..<nf { back[r * nf + f] = bs[index(r, f)]; expected[r * nf + f] = bars[r * featureStride + f] } }
        report("\(name), segments of \(width): head outputs", difference(blockOutputs, outputs), tolerance)
        report("\(name), segments of \(width): feature adjoints", difference(back, expected), tolerance)
    }

    /// The atom-by-atom evaluation does not depend on the block size beyond round-off: 1 (the
    /// per-atom read-out kernel), 5 (odd; the last block is partial) and 1000 (one block for all
    /// atoms), against the default; with 2 threads too; models with and without a long-range term
    /// (whose charge pass runs blocks as well), and water_sr with ../shared.
    func testBlockSizesGiveTheSameEvaluation() throws {
        var plain = SyntheticModel()
        plain.zs = [1, 8]; plain.maxL = 3; plain.maxNu = 3
        var ewald = SyntheticModel()
        ewald.zs = [1, 8]; ewald.ewald = true; ewald.seed = 4
        var cases: [(String, CACEModel, Structure)] = [
            ("synthetic H/O", try plain.model(), rattledCrystal(species: plain.zs, repeats: 2)),
            ("synthetic Ewald", try ewald.model(), rattledCrystal(species: ewald.zs, repeats: 2)),
        ]
        if let reference = referenceDirectory {
            let frames = try ExtendedXYZ.read(contentsOf: reference.appendingPathComponent("water_sr/liquid64_rattled.xyz").path)
            cases.append(("water_sr rattled", try CACEModel(contentsOf: reference.appendingPathComponent("water_sr/model.safetensors").path),
                          frames[0]))
        } else {
            print("[BlockReadoutTests] SKIPPED water_sr: ../shared/reference not found")
        }
        for (name, model, structure) in cases {
            for precision in Precision.allCases {
                let tolerance = precision == .double ? 1e-12 : 2e-5
                let reference = Evaluator(model: model)
                reference.precision = precision
                let expected = try reference.evaluate(structure, atomVirials: true)
                for (rows, threads) in [(1, 1), (5, 1), (1000, 1), (5, 2)] {
                    let evaluator = Evaluator(model: model)
                    evaluator.precision = precision
                    evaluator.atomBlockRowsSetting = rows
                    evaluator.threadCount = threads
                    let got = try evaluator.evaluate(structure, atomVirials: true)
                    let label = "\(name), \(precision), blocks of \(rows), \(threads) thread(s)"
                    let (x, y) = (expected.result, got.result)
                    report("\(label): energy", abs(y.energy - x.energy) / max(1, abs(x.energy)), tolerance)
                    report("\(label): forces", relativeError(y.forces, x.forces), tolerance)
                    report("\(label): virial", relativeError(y.virial, x.virial), tolerance)
                    report("\(label): atom energies", relativeError(y.atomEnergies, x.atomEnergies, floor: 1), tolerance)
                    if let a = expected.atomVirials, let b = got.atomVirials {
                        report("\(label): per-atom virials", relativeError(b, a, floor: 1), tolerance)
                    }
                }
            }
        }
    }

    private func difference<T: FeatureScalar>(_ a: [T], _ b: [T]) -> Double {
        relativeError(a.map { Double($0) }, b.map { Double($0) }, floor: 1e-300)
    }

    private func report(_ what: String, _ error: Double, _ tolerance: Double,
                        file: StaticString = #filePath, line: UInt = #line) {
        if error > tolerance / 100 || what.contains("64 rows") || what.contains("forces") {
            print("[BlockReadoutTests] \(what): max relative difference \(String(format: "%.2e", error))")
        }
        XCTAssertLessThanOrEqual(error, tolerance, "\(what): \(error) exceeds \(tolerance)", file: file, line: line)
    }
}
