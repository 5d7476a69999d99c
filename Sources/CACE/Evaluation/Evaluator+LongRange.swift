/// The long-range method, the mesh accuracy and pinning (docs/long-range.md).
extension Evaluator {
    /// Sets the periodic long-range method and the mesh's accuracy: the relative RMS error of the
    /// long-range forces against the direct sum of the same k-set (nil: the default,
    /// `LongRangePlan.defaultAccuracy`). Refuses an accuracy outside `LongRangePlan.accuracyRange`,
    /// and `mesh` or an accuracy for a model without a long-range term. Drops a pinned plan.
    public func setLongRange(_ method: LongRangeMethod, accuracy: Double? = nil) throws(CACEError) {
        if let accuracy {
            guard LongRangePlan.accuracyRange.contains(accuracy) else {
                throw .argument("mesh accuracy \(accuracy) is out of range: give a relative force error between "
                    + "\(LongRangePlan.accuracyRange.lowerBound) and \(LongRangePlan.accuracyRange.upperBound)")
            }
        }
        if !model.hasLongRange && (method == .mesh || accuracy != nil) {
            throw .argument("this model has no long-range term: the long-range method"
                + (accuracy != nil ? " and mesh accuracy do" : " 'mesh' does") + " not apply")
        }
        longRangeMethod = method
        meshAccuracy = accuracy ?? LongRangePlan.defaultAccuracy
        pinnedLongRange = nil
    }

    /// The plan the current settings give for this periodic cell and total atom count.
    public func longRangePlan(cell: [Double], atomCount: Int) throws(CACEError) -> LongRangePlan {
        guard let settings = model.ewald else { throw .argument("this model has no long-range term") }
        guard atomCount >= 0 else { throw .argument("atom count \(atomCount) is negative") }
        return try LongRangePlan.choose(cell: cell, atomCount: atomCount, settings: settings, method: longRangeMethod,
                                        accuracy: meshAccuracy)
    }

    /// Fixes the k-set (the kept integer vectors and, for the mesh, its size and order) from this
    /// periodic cell for every later evaluation, until `unpinLongRange` or `setLongRange`: each
    /// evaluation then uses its own cell's k-vectors for those integer vectors, so the energy is
    /// a smooth function of the cell and the virial its exact strain derivative (NPT).
    @discardableResult
    public func pinLongRange(cell: [Double], atomCount: Int) throws(CACEError) -> LongRangePlan {
        let plan = try longRangePlan(cell: cell, atomCount: atomCount)
        pinnedLongRange = plan
        return plan
    }

    /// Back to a k-set chosen from each evaluation's own cell.
    public func unpinLongRange() { pinnedLongRange = nil }

    /// Puts back a plan `pinnedLongRange` returned (after an evaluation on the structure's own k-set).
    public func restorePin(_ plan: LongRangePlan?) { pinnedLongRange = plan }
}
