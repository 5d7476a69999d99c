/// A committee of linear read-outs that share the model's representation (model-format §9,
/// format version 2): the draws of `cace fit --committee K` from the Bayesian posterior. Member
/// k gives atom i the energy w_k · x_i + b + e0_k[z_i], with x_i the read-out's input features,
/// b the head's bias and e0_k the member's reference energies; the model's own energy uses the
/// posterior mean. The spread of the members estimates the uncertainty of a prediction.
public struct Committee: Sendable {
    /// Members K.
    public let count: Int
    /// Read-out input features per atom.
    public let featureCount: Int
    /// [K][featureCount]
    let weights: [Double]
    /// [K][elements], in the model's element order.
    let atomicEnergies: [Double]
    let bias: Double

    init(count: Int, featureCount: Int, weights: [Double], atomicEnergies: [Double], bias: Double) {
        self.count = count
        self.featureCount = featureCount
        self.weights = weights
        self.atomicEnergies = atomicEnergies
        self.bias = bias
    }

    /// Member k's energy of an atom of element index `element` with read-out features `x`.
    public func memberEnergy(_ k: Int, features x: UnsafeBufferPointer<Double>, element: Int) -> Double {
        let elements = atomicEnergies.count / max(1, count)
        var sum = bias + (element >= 0 && element < elements ? atomicEnergies[k * elements + element] : 0)
        weights.withUnsafeBufferPointer { w in
            let row = k * featureCount
            for f in 0..<min(featureCount, x.count) { sum += w[row + f] * x[f] }
        }
        return sum
    }

    /// Member k's weight of read-out feature q.
    public func weight(_ k: Int, _ q: Int) -> Double { weights[k * featureCount + q] }

    /// The standard deviation (K - 1 in the denominator) of values over the members.
    public static func spread(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)).squareRoot()
    }
}
