/// The Bayesian solver's hyperparameters, for the report and the model file.
public struct EvidenceSummary: Sendable {
    /// Prior precision of the scaled feature coefficients and noise precision of the weighted rows.
    public var alpha: Double
    public var beta: Double
    /// Effective number of well-determined coefficients (of `unknowns`).
    public var effectiveParameters: Double
    public var logEvidence: Double
    public var iterations: Int
}

/// How well the committee's spread predicts the errors of the posterior mean on a set of frames
/// (the validation frames if given, else the training frames).
public struct CommitteeCalibration: Sendable {
    /// "validation" or "training".
    public var dataSet: String
    /// The factor applied to every member's deviation from the mean: the raw spread times it
    /// makes the mean of (error / sigma)^2 over the force components 1.
    public var scale: Double
    /// Fractions of force components and of per-atom energies whose error is within 1 and 2 sigma, after scaling.
    public var forceWithin1: Double, forceWithin2: Double
    public var energyWithin1: Double, energyWithin2: Double
    public var forceComponents: Int
    public var frames: Int
}

enum Committee {
    /// Scales the members' deviations from `mean` so that the spread of their force predictions
    /// matches the force errors of `mean` on `blocks` in mean square, and reports the coverage.
    static func calibrate(members: [[Double]], mean: [Double], blocks: [FrameBlock], dataSet: String)
        -> (members: [[Double]], calibration: CommitteeCalibration) {
        struct Sample { var error: Double; var variance: Double }
        var forces: [Sample] = [], energies: [Sample] = []
        for b in blocks {
            let center = b.predict(mean)
            let predictions = members.map { b.predict($0) }
            func spread(_ r: Int) -> Double {
                let average = predictions.reduce(0) { $0 + $1[r] } / Double(predictions.count)
                return predictions.reduce(0) { $0 + ($1[r] - average) * ($1[r] - average) } / Double(predictions.count - 1)
            }
            let n = Double(b.atoms)
            energies.append(Sample(error: (center[0] - b.targets[0]) / n, variance: spread(0) / (n * n)))
            for r in b.forceRows { forces.append(Sample(error: center[r] - b.targets[r], variance: spread(r))) }
        }
        let usable = forces.filter { $0.variance > 0 }
        let meanSquare = usable.reduce(0) { $0 + $1.error * $1.error / $1.variance } / Double(max(1, usable.count))
        let scale = meanSquare > 0 && meanSquare.isFinite ? meanSquare.squareRoot() : 1
        func coverage(_ samples: [Sample], _ k: Double) -> Double {
            let inside = samples.filter { abs($0.error) <= k * scale * $0.variance.squareRoot() }.count
            return Double(inside) / Double(max(1, samples.count))
        }
        let scaled = members.map { member in zip(member, mean).map { $1 + scale * ($0 - $1) } }
        return (scaled, CommitteeCalibration(dataSet: dataSet, scale: scale,
                                             forceWithin1: coverage(forces, 1), forceWithin2: coverage(forces, 2),
                                             energyWithin1: coverage(energies, 1), energyWithin2: coverage(energies, 2),
                                             forceComponents: forces.count, frames: blocks.count))
    }
}
