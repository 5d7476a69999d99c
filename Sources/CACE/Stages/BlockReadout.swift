/// The read-out heads (spec §6) for a block of atoms at once, as matrix products through
/// OpenBLAS: one atom's read-out reads every weight (166 KB per head of the water model in
/// Double) for 2 flops each, so it is bound by the cache's bandwidth; a block reads the weights
/// once for all its rows. Blocks of fewer than `blockReadoutMinimumRows` rows run the per-atom
/// kernel (`readoutForward(_:headOutputs:scratch:scratchStride:)`) row by row, which wins there.
///
/// The API both evaluation paths call:
/// - reserve `blockReadoutScratchCount(rows:)` scalars for the largest block;
/// - `readoutForward(features:featureStride:rows:headOutputs:scratch:)` for rows 0..<rows;
/// - `readoutBackward(seeds:featuresBar:featureStride:rows:scratch:)` with the same features'
///   pre-activations still in the scratch (no other block in between).
/// Features and their adjoints are row-major [rows][featureStride] (featureStride >= featureCount),
/// head outputs and seeds [rows][heads.count].
/// Where feature f = s w + j (segment s of width w) of row r lies: at r rowStride + s segmentStride
/// + j. Row-major features are one segment of featureCount; the atom-by-atom path keeps its
/// features invariant-major for the whole block, [q][rows][M C], segments of M C.
struct BlockFeatureLayout {
    let rowStride: Int
    let segmentWidth: Int
    let segmentStride: Int

    /// Rows of `width` contiguous features, `stride` apart.
    static func rowMajor(stride: Int, width: Int) -> BlockFeatureLayout {
        BlockFeatureLayout(rowStride: stride, segmentWidth: width, segmentStride: 0)
    }

    /// Segments of `count` features (none when the width is 0).
    func segments(of count: Int) -> Int { segmentWidth > 0 ? count / segmentWidth : 0 }
}

extension FeatureKernels {
    /// The smallest block that runs on BLAS; smaller blocks run the per-atom kernel row by row.
    /// Measured on water_sr (BENCHMARKS.md, issue 14): in Double BLAS won from one row on, in
    /// Float from three or four (OpenBLAS's SkylakeX kernels; a loaded machine, so roughly).
    var blockReadoutMinimumRows: Int { T.self == Double.self ? 1 : 4 }

    /// Scalars of scratch the block read-out needs for blocks of up to `rows` atoms.
    func blockReadoutScratchCount(rows: Int) -> Int {
        let perAtom = min(rows, blockReadoutMinimumRows - 1) * heads.count * readoutScratchStride
        return max(perAtom, rows * blockStoredCount + 2 * rows * blockWidestOutput)
    }

    /// Head outputs of rows 0..<rows from their features. Pre-activations stay in `scratch` for
    /// `readoutBackward(seeds:featuresBar:featureStride:rows:scratch:)`.
    func readoutForward(features: UnsafePointer<T>, featureStride: Int, rows: Int,
                        headOutputs: UnsafeMutablePointer<T>, scratch: UnsafeMutablePointer<T>) {
        let nh = heads.count
        guard rows >= blockReadoutMinimumRows else {
            for r in 0..<rows {
                readoutForward(features + r * featureStride, headOutputs: headOutputs + r * nh,
                               scratch: scratch + r * nh * readoutScratchStride, scratchStride: readoutScratchStride)
            }
            return
        }
        readoutForwardOnBLAS(features: features, featureStride: featureStride, rows: rows, headOutputs: headOutputs,
                             scratch: scratch)
    }

    /// `readoutForward(features:featureStride:rows:headOutputs:scratch:)` on BLAS at any block size.
    func readoutForwardOnBLAS(features: UnsafePointer<T>, featureStride: Int, rows: Int,
                              headOutputs: UnsafeMutablePointer<T>, scratch: UnsafeMutablePointer<T>) {
        readoutForwardOnBLAS(features: features, layout: .rowMajor(stride: featureStride, width: featureCount),
                             rows: rows, headOutputs: headOutputs, scratch: scratch)
    }

    /// The block read-out on BLAS for features in `layout`.
    func readoutForwardOnBLAS(features: UnsafePointer<T>, layout: BlockFeatureLayout, rows: Int,
                              headOutputs: UnsafeMutablePointer<T>, scratch: UnsafeMutablePointer<T>) {
        let nh = heads.count, width = layout.segmentWidth
        let linearSums = scratch + rows * blockStoredCount   // the first adjoint buffer, free in the forward pass
        var region = scratch
        for h in heads.indices {   // by index: binding `head` to a copy would retain its weight arrays
            let output = heads[h].network.blockForward(features, layout: layout, rows: rows, scratch: region)
            region += rows * heads[h].network.storedCount
            if let linear = heads[h].linear {
                for r in 0..<rows { linearSums[r] = linear.bias?[0] ?? 0 }
                linear.weight.withUnsafeBufferPointer { w in
                    for segment in 0..<layout.segments(of: featureCount) {
                        BLAS.gemv(m: rows, n: width, features + segment * layout.segmentStride, lda: layout.rowStride,
                                  w.baseAddress.unsafelyUnwrapped + segment * width, beta: 1, linearSums)
                    }
                }
                for r in 0..<rows { headOutputs[r * nh + h] = (output?[r] ?? 0) + linearSums[r] }
            } else {
                for r in 0..<rows { headOutputs[r * nh + h] = output?[r] ?? 0 }
            }
        }
    }

    /// featuresBar[r] += sum_h seeds[r][h] d(head h)/dx of row r, for rows 0..<rows; needs the
    /// scratch left by the forward pass over the same features.
    func readoutBackward(seeds: UnsafePointer<T>, featuresBar: UnsafeMutablePointer<T>, featureStride: Int,
                         rows: Int, scratch: UnsafeMutablePointer<T>) {
        let nh = heads.count
        guard rows >= blockReadoutMinimumRows else {
            for r in 0..<rows {
                readoutBackward(seeds: seeds + r * nh, xBar: featuresBar + r * featureStride,
                                scratch: scratch + r * nh * readoutScratchStride, scratchStride: readoutScratchStride)
            }
            return
        }
        readoutBackwardOnBLAS(seeds: seeds, featuresBar: featuresBar, featureStride: featureStride, rows: rows,
                              scratch: scratch)
    }

    /// `readoutBackward(seeds:featuresBar:featureStride:rows:scratch:)` on BLAS at any block size.
    func readoutBackwardOnBLAS(seeds: UnsafePointer<T>, featuresBar: UnsafeMutablePointer<T>, featureStride: Int,
                               rows: Int, scratch: UnsafeMutablePointer<T>) {
        readoutBackwardOnBLAS(seeds: seeds, featuresBar: featuresBar, layout: .rowMajor(stride: featureStride, width: featureCount),
                              rows: rows, scratch: scratch)
    }

    /// The block read-out's adjoint on BLAS for feature adjoints in `layout`.
    func readoutBackwardOnBLAS(seeds: UnsafePointer<T>, featuresBar: UnsafeMutablePointer<T>, layout: BlockFeatureLayout,
                               rows: Int, scratch: UnsafeMutablePointer<T>) {
        let nh = heads.count, width = layout.segmentWidth
        let bars = scratch + rows * blockStoredCount
        var region = scratch
        for h in heads.indices {
            defer { region += rows * heads[h].network.storedCount }
            guard (0..<rows).contains(where: { seeds[$0 * nh + h] != 0 }) else { continue }
            heads[h].network.blockBackward(seeds: seeds + h, seedStride: nh, inputBar: featuresBar, layout: layout,
                                           rows: rows, scratch: region, bars: bars, barStride: rows * blockWidestOutput)
            if let linear = heads[h].linear {
                linear.weight.withUnsafeBufferPointer { w in
                    for segment in 0..<layout.segments(of: featureCount) {
                        BLAS.ger(m: rows, n: width, seeds + h, incX: nh, w.baseAddress.unsafelyUnwrapped + segment * width,
                                 featuresBar + segment * layout.segmentStride, lda: layout.rowStride)
                    }
                }
            }
        }
    }

    /// Scalars per row that `readoutFirstLayerAdjoints` keeps: every head's first-layer width.
    var readoutFirstLayerWidth: Int { heads.reduce(0) { $0 + ($1.network.layers.first?.outputs ?? 0) } }

    /// For a unit seed of every head, the adjoints of each head's first-layer pre-activations of
    /// rows 0..<rows, into kept[r][readoutFirstLayerWidth] (head after head). Each head's share of
    /// the features' adjoint is linear in its seed, so with these the adjoint for any seeds needs
    /// neither the pre-activations nor the deeper layers again
    /// (`readoutBackward(firstLayerAdjoints:seeds:featuresBar:layout:rows:scratch:)`).
    /// Needs the scratch left by the forward pass over the same rows.
    func readoutFirstLayerAdjoints(rows: Int, scratch: UnsafeMutablePointer<T>, into kept: UnsafeMutablePointer<T>) {
        let width = readoutFirstLayerWidth
        let bars = scratch + rows * blockStoredCount
        var region = scratch, offset = 0
        for h in heads.indices {
            defer { region += rows * heads[h].network.storedCount }
            guard let n1 = heads[h].network.layers.first?.outputs else { continue }
            withUnsafePointer(to: T(1)) { unit in
                heads[h].network.blockBackward(seeds: unit, seedStride: 0, inputBar: kept, layout: .rowMajor(stride: width, width: width),
                                               rows: rows, scratch: region, bars: bars, barStride: rows * blockWidestOutput,
                                               firstLayerBar: kept + offset, firstLayerBarStride: width)
            }
            offset += n1
        }
    }

    /// featuresBar[r] += sum_h seeds[r][h] d(head h)/dx of row r (features in `layout`), from
    /// the first-layer adjoints `readoutFirstLayerAdjoints` kept ([rows][readoutFirstLayerWidth]).
    /// `scratch` holds rows x (widest first layer) scalars.
    func readoutBackward(firstLayerAdjoints kept: UnsafePointer<T>, seeds: UnsafePointer<T>,
                         featuresBar: UnsafeMutablePointer<T>, layout: BlockFeatureLayout, rows: Int,
                         scratch: UnsafeMutablePointer<T>) {
        let nh = heads.count, keptWidth = readoutFirstLayerWidth, width = layout.segmentWidth
        var offset = 0
        for h in heads.indices {
            let n1 = heads[h].network.layers.first?.outputs ?? 0
            defer { offset += n1 }
            guard (0..<rows).contains(where: { seeds[$0 * nh + h] != 0 }) else { continue }
            if n1 > 0 {
                for r in 0..<rows {
                    let seed = seeds[r * nh + h]
                    for o in 0..<n1 { scratch[r * n1 + o] = seed * kept[r * keptWidth + offset + o] }
                }
                heads[h].network.blockFirstLayerBackward(bar: scratch, barStride: n1, inputBar: featuresBar, layout: layout,
                                                         rows: rows)
            }
            if let linear = heads[h].linear {
                linear.weight.withUnsafeBufferPointer { w in
                    for segment in 0..<layout.segments(of: featureCount) {
                        BLAS.ger(m: rows, n: width, seeds + h, incX: nh, w.baseAddress.unsafelyUnwrapped + segment * width,
                                 featuresBar + segment * layout.segmentStride, lda: layout.rowStride)
                    }
                }
            }
        }
    }

    /// Pre-activations and outputs of every head's layers, per row.
    private var blockStoredCount: Int { heads.reduce(0) { $0 + $1.network.storedCount } }
    /// The widest layer output of any head: the size of one adjoint row.
    private var blockWidestOutput: Int { heads.map { $0.network.layers.map(\.outputs).max() ?? 0 }.max() ?? 0 }
}

extension DenseNetwork {
    /// `forward` for rows 0..<rows of x (in `layout`): layer l's pre-activations [rows][outputs]
    /// and outputs follow those of layer l - 1 in `scratch` (rows x storedCount).
    /// Returns the last layer's outputs ([rows], one output per row), or nil without layers.
    func blockForward(_ x: UnsafePointer<T>, layout: BlockFeatureLayout, rows: Int,
                      scratch: UnsafeMutablePointer<T>) -> UnsafePointer<T>? {
        var input = x
        var inputLayout = layout
        var z = scratch
        for index in layers.indices {   // by index: binding a layer to a copy would retain its arrays
            let nIn = layers[index].inputs, nOut = layers[index].outputs
            let y = z + rows * nOut
            // z starts as the bias (or 0) and the product is added: a beta of 0 would leave it to
            // OpenBLAS whether NaNs already in the scratch survive.
            if let bias = layers[index].bias {
                for r in 0..<rows { for o in 0..<nOut { z[r * nOut + o] = bias[o] } }
            } else {
                z.initialize(repeating: 0, count: rows * nOut)
            }
            layers[index].weight.withUnsafeBufferPointer { w in
                let w = w.baseAddress.unsafelyUnwrapped, width = inputLayout.segmentWidth
                for segment in 0..<inputLayout.segments(of: nIn) {   // z += x_segment W_segment^T
                    let a = input + segment * inputLayout.segmentStride, b = w + segment * width
                    if nOut == 1 {
                        BLAS.gemv(m: rows, n: width, a, lda: inputLayout.rowStride, b, beta: 1, z)
                    } else {
                        BLAS.gemm(m: rows, n: nOut, k: width, a, lda: inputLayout.rowStride, b, ldb: nIn,
                                  transposeB: true, beta: 1, z, ldc: nOut)
                    }
                }
            }
            let count = rows * nOut
            switch layers[index].activation {
            case .identity: for q in 0..<count { y[q] = z[q] }
            case .silu: for q in 0..<count { y[q] = z[q] / (1 + T.exponential(-z[q])) }
            }
            input = UnsafePointer(y)
            inputLayout = .rowMajor(stride: nOut, width: nOut)
            z = y + count
        }
        return layers.isEmpty ? nil : input
    }

    /// inputBar[r] += (dOut/dx)^T seed[r] for rows 0..<rows (inputBar in `layout`), with seed r at
    /// seeds[r seedStride] and the pre-activations left by `blockForward`. `bars` holds two adjoint
    /// buffers of `barStride` >= rows x (widest output) scalars each.
    /// With `firstLayerBar`, the first layer's adjoint (rows of `firstLayerBarStride`) is stored
    /// there instead of being multiplied into inputBar (`blockFirstLayerBackward` does that later).
    func blockBackward(seeds: UnsafePointer<T>, seedStride: Int, inputBar: UnsafeMutablePointer<T>,
                       layout: BlockFeatureLayout, rows: Int, scratch: UnsafeMutablePointer<T>,
                       bars: UnsafeMutablePointer<T>, barStride: Int,
                       firstLayerBar: UnsafeMutablePointer<T>? = nil, firstLayerBarStride: Int = 0) {
        guard let last = layers.indices.last else { return }
        var bar = bars, nextBar = bars + barStride
        let nLast = layers[last].outputs
        for r in 0..<rows { for o in 0..<nLast { bar[r * nLast + o] = seeds[r * seedStride] } }
        var offset = rows * storedCount
        for index in stride(from: last, through: 0, by: -1) {
            let nIn = layers[index].inputs, nOut = layers[index].outputs
            offset -= 2 * rows * nOut
            let z = scratch + offset
            if layers[index].activation == .silu {
                for q in 0..<(rows * nOut) {
                    let s = 1 / (1 + T.exponential(-z[q]))
                    bar[q] *= s * (1 + z[q] * (1 - s))
                }
            }
            if index == 0, let firstLayerBar {
                for r in 0..<rows { for o in 0..<nOut { firstLayerBar[r * firstLayerBarStride + o] = bar[r * nOut + o] } }
                return
            }
            // The input of this layer is the previous layer's output (or x).
            let (target, targetLayout) = index == 0 ? (inputBar, layout) : (nextBar, .rowMajor(stride: nIn, width: nIn))
            if index != 0 { target.initialize(repeating: 0, count: rows * nIn) }
            layers[index].weight.withUnsafeBufferPointer { w in
                let w = w.baseAddress.unsafelyUnwrapped, width = targetLayout.segmentWidth
                for segment in 0..<targetLayout.segments(of: nIn) {   // target_segment += bar W_segment
                    let c = target + segment * targetLayout.segmentStride, b = w + segment * width
                    if nOut == 1 {   // an outer product
                        BLAS.ger(m: rows, n: width, bar, incX: 1, b, c, lda: targetLayout.rowStride)
                    } else {
                        BLAS.gemm(m: rows, n: width, k: nOut, bar, lda: nOut, b, ldb: nIn, transposeB: false,
                                  beta: 1, c, ldc: targetLayout.rowStride)
                    }
                }
            }
            swap(&bar, &nextBar)
        }
    }

    /// The first layer's share of `blockBackward`: inputBar[r] += bar[r] W for rows 0..<rows, with
    /// bar[r] (rows `barStride` apart) the adjoint of the first layer's pre-activations, as
    /// `blockBackward(... firstLayerBar:)` keeps it (times the seed).
    func blockFirstLayerBackward(bar: UnsafePointer<T>, barStride: Int, inputBar: UnsafeMutablePointer<T>,
                                 layout: BlockFeatureLayout, rows: Int) {
        guard !layers.isEmpty else { return }
        let nIn = layers[0].inputs, nOut = layers[0].outputs, width = layout.segmentWidth
        layers[0].weight.withUnsafeBufferPointer { w in
            let w = w.baseAddress.unsafelyUnwrapped
            for segment in 0..<layout.segments(of: nIn) {   // inputBar_segment += bar W_segment
                let c = inputBar + segment * layout.segmentStride, b = w + segment * width
                if nOut == 1 {
                    BLAS.ger(m: rows, n: width, bar, incX: barStride, b, c, lda: layout.rowStride)
                } else {
                    BLAS.gemm(m: rows, n: width, k: nOut, bar, lda: barStride, b, ldb: nIn, transposeB: false,
                              beta: 1, c, ldc: layout.rowStride)
                }
            }
        }
    }
}
