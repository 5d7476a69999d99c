enum Activation: String, Sendable {
    case identity
    case silu

    /// The name the model file uses.
    var name: String { rawValue }
}

/// One layer y = act(W x + b), W stored row-major [out][in].
struct DenseLayer<T: FeatureScalar>: Sendable {
    let inputs: Int
    let outputs: Int
    let weight: [T]
    let bias: [T]?
    let activation: Activation
    /// W transposed, [in][out]: the forward pass runs over contiguous outputs, which vectorizes.
    let weightTransposed: [T]

    init(inputs: Int, outputs: Int, weight: [T], bias: [T]?, activation: Activation) {
        self.inputs = inputs
        self.outputs = outputs
        self.weight = weight
        self.bias = bias
        self.activation = activation
        var transposed = [T](repeating: 0, count: weight.count)
        for o in 0..<outputs { for i in 0..<inputs { transposed[i * outputs + o] = weight[o * inputs + i] } }
        weightTransposed = transposed
    }

    /// The same layer in another precision, taking input i from the original's input order[i].
    init<U: FeatureScalar>(converting layer: DenseLayer<U>, inputOrder order: [Int]? = nil) {
        let n = layer.inputs
        var weight = layer.weight.map { T($0) }
        if let order {
            for o in 0..<layer.outputs { for i in 0..<n { weight[o * n + i] = T(layer.weight[o * n + order[i]]) } }
        }
        self.init(inputs: n, outputs: layer.outputs, weight: weight, bias: layer.bias?.map { T($0) },
                  activation: layer.activation)
    }
}

/// A stack of dense layers: the Atomwise read-out (spec §6) and the Bchi hnet (§5.3).
/// The caller provides scratch of `scratchCount` scalars so that no call allocates.
struct DenseNetwork<T: FeatureScalar>: Sendable {
    let layers: [DenseLayer<T>]
    /// Pre-activations and outputs of every layer: 2 sum(outputs) scalars.
    let storedCount: Int
    /// The widest of the input and the layers' outputs: the size of one adjoint buffer.
    let widest: Int

    init(layers: [DenseLayer<T>]) {
        self.layers = layers
        storedCount = 2 * layers.reduce(0) { $0 + $1.outputs }
        widest = max(layers.map(\.outputs).max() ?? 0, layers.first?.inputs ?? 0)
    }

    /// The same network in another precision, its input permuted as in `DenseLayer(converting:inputOrder:)`.
    init<U: FeatureScalar>(converting network: DenseNetwork<U>, inputOrder order: [Int]? = nil) {
        self.init(layers: network.layers.enumerated().map { DenseLayer(converting: $1, inputOrder: $0 == 0 ? order : nil) })
    }

    var inputs: Int { layers.first?.inputs ?? 0 }
    var outputs: Int { layers.last?.outputs ?? 0 }
    /// Pre-activations and outputs of every layer, then one adjoint buffer pair.
    var scratchCount: Int { storedCount + 2 * widest }

    /// Runs the network; the last layer's output is left at `output`. Pre-activations
    /// are kept in scratch for `backward`.
    func forward(_ x: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                 scratch: UnsafeMutablePointer<T>) {
        var input = x
        var offset = 0
        for index in layers.indices {   // by index: binding a layer to a copy would retain its arrays
            let nOut = layers[index].outputs
            let z = scratch + offset
            let y = index == layers.count - 1 ? output : scratch + offset + nOut
            layers[index].weightTransposed.withUnsafeBufferPointer { w in
                if let bias = layers[index].bias {
                    for o in 0..<nOut { z[o] = bias[o] }
                } else {
                    for o in 0..<nOut { z[o] = 0 }
                }
                addCombination(nOut, rows: layers[index].inputs, input, cStride: 1, w.baseAddress.unsafelyUnwrapped,
                               xStride: nOut, into: z)
            }
            switch layers[index].activation {
            case .identity:
                if y != z { for o in 0..<nOut { y[o] = z[o] } }
            case .silu:
                for o in 0..<nOut { y[o] = z[o] / (1 + T.exponential(-z[o])) }
            }
            input = UnsafePointer(y)
            offset += 2 * nOut
        }
    }

    /// Adds (dOut/dx)^T outBar to xBar, using the pre-activations left by `forward`
    /// on the same input.
    func backward(outputBar: UnsafePointer<T>,
                  inputBar: UnsafeMutablePointer<T>, scratch: UnsafeMutablePointer<T>) {
        let totalStored = storedCount
        var bar = scratch + totalStored
        var nextBar = bar + widest
        for o in 0..<outputs { bar[o] = outputBar[o] }
        var offset = totalStored
        for index in stride(from: layers.count - 1, through: 0, by: -1) {
            let nIn = layers[index].inputs, nOut = layers[index].outputs
            offset -= 2 * nOut
            let z = scratch + offset
            if layers[index].activation == .silu {
                for o in 0..<nOut {
                    let s = 1 / (1 + T.exponential(-z[o]))
                    bar[o] *= s * (1 + z[o] * (1 - s))
                }
            }
            // The input of this layer is the previous layer's output (or x).
            let target = index == 0 ? inputBar : nextBar
            if index != 0 { for i in 0..<nIn { target[i] = 0 } }
            layers[index].weight.withUnsafeBufferPointer { w in
                addCombination(nIn, rows: nOut, bar, cStride: 1, w.baseAddress.unsafelyUnwrapped,
                               xStride: nIn, into: target)
            }
            swap(&bar, &nextBar)
        }
    }
}
