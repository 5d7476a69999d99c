/// Seconds spent in each stage of one evaluation (summed over worker threads), recorded
/// when `Evaluator.measuresStages` is set. For `cace benchmark`.
public struct StageTimes: Sendable {
    /// Edge geometry, radial and angular basis, A features (and the radial transform).
    public var edgesAndA = 0.0
    public var symmetrizer = 0.0
    /// Message-passing layers (forward).
    public var messagePassing = 0.0
    public var readout = 0.0
    /// Everything after the read-out forward: adjoints down to the edge forces.
    public var backward = 0.0
    public var longRange = 0.0

    public init() {}

    public var named: [(String, Double)] {
        [("edges_and_A", edgesAndA), ("symmetrizer", symmetrizer), ("message_passing", messagePassing),
         ("readout", readout), ("backward", backward), ("long_range", longRange)]
    }

    mutating func add(_ other: StageTimes) {
        edgesAndA += other.edgesAndA; symmetrizer += other.symmetrizer; messagePassing += other.messagePassing
        readout += other.readout; backward += other.backward; longRange += other.longRange
    }
}

/// A stopwatch that costs nothing when disabled.
struct StageClock {
    /// The previous lap's time; nil when disabled, so that a disabled clock never reads the time.
    private var last: ContinuousClock.Instant?

    init(enabled: Bool) {
        last = enabled ? ContinuousClock.now : nil
    }

    var enabled: Bool { last != nil }

    /// Seconds since the previous lap (0 when disabled).
    @inline(__always)
    mutating func lap() -> Double {
        guard let previous = last else { return 0 }
        let now = ContinuousClock.now
        let d = now - previous
        last = now
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
