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
    /// The method that evaluates the model's long-range term for these atoms, or nil without one:
    /// the open-boundary pair sum, or for a periodic box the plan's method (the pinned plan, or
    /// one chosen from this cell; `lastLongRangePlan` records it).
    func longRangeTerm(for atoms: AtomsView, communicator: any DomainCommunicator) throws(CACEError) -> (any LongRangeTerm)? {
        guard let settings = model.ewald else { return nil }
        let scale = settings.normFactor * model.ewaldEnergyWeight
        let direct = EwaldTerm(settings: settings, scale: scale, threads: threadCount, precision: precision)
        guard case .periodic(let cell) = atoms.boundary else {
            if longRangeMethod == .mesh { throw MeshEwaldTerm.needsPeriodicBox }
            return direct
        }
        let plan: LongRangePlan
        if let pinned = pinnedLongRange {
            plan = pinned
        } else {
            plan = try longRangePlan(cell: cell, atomCount: totalAtoms(atoms, communicator))
        }
        lastLongRangePlan = plan
        guard plan.method == .mesh else {
            return pinnedLongRange == nil ? direct
                : EwaldTerm(settings: settings, scale: scale, threads: threadCount, precision: precision, kSet: plan.kSet)
        }
        guard let transforms = meshTransforms else {
            throw .argument("the particle-mesh long-range method needs a mesh transform (an FFT): this host provides none; "
                + "use long range direct")
        }
        return MeshEwaldTerm(settings: settings, scale: scale, plan: plan, transforms: transforms,
                             scratch: meshScratch, threads: threadCount)
    }

    /// Atoms over all ranks (auto's cost rule).
    private func totalAtoms(_ atoms: AtomsView, _ communicator: any DomainCommunicator) -> Int {
        var count = Double(atoms.localCount)
        communicator.sumOverRanks(&count, count: 1)
        return Int(count)
    }

    /// Refuses a box the model's long-range term is not defined for (nothing to check without
    /// one), and open boundaries with the mesh method.
    public func checkBoundary(periodic: (Bool, Bool, Bool)) throws(CACEError) {
        guard let settings = model.ewald else { return }
        try EwaldTerm(settings: settings, scale: 1).checkBoundary(periodic: periodic)
        if longRangeMethod == .mesh {
            try MeshEwaldTerm.checkPeriodic(periodic)
        }
    }
}
