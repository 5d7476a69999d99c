/// Reads and validates the metadata and tensors of a model file (docs/model-format.md).
struct ModelFileReader {
    let file: String
    let meta: JSONValue
    let tensors: [String: Tensor]
    var used: Set<String> = []

    func fail(_ what: String) -> CACEError { .format("\(file): \(what)") }
    func unsupported(_ what: String) -> CACEError { .unsupported("\(file): \(what)") }

    func value(_ v: JSONValue?, _ path: String) throws(CACEError) -> JSONValue {
        guard let v else { throw fail("metadata field '\(path)' is missing") }
        guard !v.isNull else { throw fail("metadata field '\(path)' is null") }
        return v
    }

    func number(_ v: JSONValue?, _ path: String) throws(CACEError) -> Double {
        guard case .number(let x) = try value(v, path), x.isFinite else {
            throw fail("metadata field '\(path)' is not a finite number")
        }
        return x
    }

    func integer(_ v: JSONValue?, _ path: String, in range: ClosedRange<Int>) throws(CACEError) -> Int {
        let x = try number(v, path)
        guard x == x.rounded(), x >= Double(range.lowerBound), x <= Double(range.upperBound) else {
            throw fail("metadata field '\(path)' = \(x) is not an integer in \(range)")
        }
        return Int(x)
    }

    func bool(_ v: JSONValue?, _ path: String) throws(CACEError) -> Bool {
        guard case .bool(let b) = try value(v, path) else { throw fail("metadata field '\(path)' is not a boolean") }
        return b
    }

    func string(_ v: JSONValue?, _ path: String) throws(CACEError) -> String {
        guard case .string(let s) = try value(v, path) else { throw fail("metadata field '\(path)' is not a string") }
        return s
    }

    func array(_ v: JSONValue?, _ path: String) throws(CACEError) -> [JSONValue] {
        guard case .array(let a) = try value(v, path) else { throw fail("metadata field '\(path)' is not a list") }
        return a
    }

    /// The tensor named by a metadata string, checked against the expected shape.
    mutating func tensor(_ v: JSONValue?, _ path: String, shape: [Int]) throws(CACEError) -> [Double] {
        let name = try string(v, path)
        guard let t = tensors[name] else { throw fail("tensor '\(name)' (named by '\(path)') is missing") }
        guard t.shape == shape || (shape == [] && t.shape == [1]) else {
            throw fail("tensor '\(name)' has shape \(t.shape), expected \(shape)")
        }
        for x in t.values where !x.isFinite { throw fail("tensor '\(name)' holds a non-finite value") }
        used.insert(name)
        return t.values
    }

    mutating func scalar(_ v: JSONValue?, _ path: String) throws(CACEError) -> Double {
        try tensor(v, path, shape: [])[0]
    }

    /// A dense layer {"weight","bias"|null,"in","out","activation"}.
    mutating func denseLayer(_ v: JSONValue?, _ path: String, inputs: Int?) throws(CACEError) -> DenseLayer<Double> {
        let spec = try value(v, path)
        let nIn = try integer(spec["in"], path + ".in", in: 1...10_000_000)
        let nOut = try integer(spec["out"], path + ".out", in: 1...10_000_000)
        if let inputs, inputs != nIn { throw fail("'\(path)' takes \(nIn) inputs, expected \(inputs)") }
        let weight = try tensor(spec["weight"], path + ".weight", shape: [nOut, nIn])
        var bias: [Double]? = nil
        if let b = spec["bias"], !b.isNull { bias = try tensor(b, path + ".bias", shape: [nOut]) }
        let activation: Activation
        switch try string(spec["activation"], path + ".activation") {
        case "silu": activation = .silu
        case "identity": activation = .identity
        case let other: throw unsupported("activation '\(other)' in '\(path)' (only silu and identity)")
        }
        return DenseLayer(inputs: nIn, outputs: nOut, weight: weight, bias: bias, activation: activation)
    }

    mutating func network(_ v: JSONValue?, _ path: String, inputs: Int, outputs: Int) throws(CACEError) -> DenseNetwork<Double> {
        let specs = try array(v, path)
        guard !specs.isEmpty else { throw fail("'\(path)' has no layers") }
        var layers: [DenseLayer<Double>] = []
        var width = inputs
        for (i, spec) in specs.enumerated() {
            let layer = try denseLayer(spec, "\(path)[\(i)]", inputs: width)
            width = layer.outputs
            layers.append(layer)
        }
        guard width == outputs else { throw fail("'\(path)' has \(width) outputs, expected \(outputs)") }
        return DenseNetwork(layers: layers)
    }

    /// A per-degree list of [M][C] tensors, concatenated as [l][m][c].
    mutating func perDegree(_ v: JSONValue?, _ path: String, degrees: Int, shape: [Int]) throws(CACEError) -> [Double] {
        let names = try array(v, path)
        guard names.count == degrees else { throw fail("'\(path)' lists \(names.count) tensors, expected \(degrees)") }
        var out: [Double] = []
        for (l, name) in names.enumerated() { out += try tensor(name, "\(path)[\(l)]", shape: shape) }
        return out
    }
}
