/// The seam between the evaluators and a method for the latent-charge long-range energy
/// (docs/model-format.md §4.7). Both evaluation paths compute the charges q_i of the owned
/// atoms, call `evaluate` once, and feed the returned dE/dq_i into the charge head's backward
/// pass. A method owns everything else: its sums over ranks (through the communicator), its
/// explicit forces, and its share of the energy and virial. The direct Ewald sum
/// (`EwaldTerm`) is one method; another is a new file conforming to this protocol, chosen in
/// `Evaluator.longRangeTerm`.
protocol LongRangeTerm {
    /// Refuses, before any work, a box the method is not defined for (one line saying what to use).
    func checkBoundary(periodic: (Bool, Bool, Bool)) throws(CACEError)

    /// - Parameters:
    ///   - charges: q of the owned atoms.
    ///   - chargeBar: receives dE/dq for the owned atoms (overwritten).
    ///   - forces: explicit -dE/dx added to the rows of owned (and, if the method uses them, ghost) atoms.
    ///   - atomEnergies, atomVirials: per-atom shares added to owned rows, if non-nil.
    func evaluate(atoms: AtomsView, charges: UnsafePointer<Double>, chargeBar: UnsafeMutablePointer<Double>,
                  forces: UnsafeMutablePointer<Double>, atomEnergies: UnsafeMutablePointer<Double>?,
                  atomVirials: UnsafeMutablePointer<Double>?, communicator: any DomainCommunicator)
        throws(CACEError) -> LongRangeResult
}

/// One rank's share of a long-range term.
struct LongRangeResult {
    var energy = 0.0
    /// Virial share, LAMMPS order xx yy zz xy xz yz.
    var virial = [Double](repeating: 0, count: 6)
}

extension Evaluator {
    /// The method that evaluates the model's long-range term, or nil without one.
    var longRangeTerm: (any LongRangeTerm)? {
        model.ewald.map { EwaldTerm(settings: $0, scale: $0.normFactor * model.ewaldEnergyWeight, threads: threadCount,
                                    precision: precision) }
    }

    /// Refuses a box the model's long-range term is not defined for (nothing to check without one).
    public func checkBoundary(periodic: (Bool, Bool, Bool)) throws(CACEError) {
        try longRangeTerm?.checkBoundary(periodic: periodic)
    }
}
