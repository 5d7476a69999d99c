import CACE
import CACEStructures
import CCACE

// cace_compute_structure: a whole structure in, the library builds the periodic images and the
// neighbour list (CACEStructures, the code `cace evaluate` runs). For hosts without their own
// neighbour lists: the Python package's ASE calculator.

/// The `Structure` a host's `cace_structure` describes, after checking its pointers and counts.
func makeStructure(from s: cace_structure, model: CACEModel) -> Result<Structure, CACEError> {
    let n = Int(s.natoms)
    guard n > 0 else { return .failure(.argument("the structure has no atoms")) }
    guard let positions = s.positions else { return .failure(.argument("positions is NULL")) }
    let pbc = (s.pbc.0 != 0, s.pbc.1 != 0, s.pbc.2 != 0)
    var cell: [Double]? = nil
    if let c = s.cell {
        cell = (0..<9).map { c[$0] }
    } else if pbc.0 || pbc.1 || pbc.2 {
        return .failure(.argument("the structure is periodic (pbc \(s.pbc.0) \(s.pbc.1) \(s.pbc.2)) but cell is NULL"))
    }
    var numbers = [Int](repeating: 0, count: n)
    switch (s.atomic_numbers, s.species) {
    case (let z?, nil):
        for i in 0..<n { numbers[i] = Int(z[i]) }
    case (nil, let species?):
        for i in 0..<n {
            let index = Int(species[i])
            guard index >= 0, index < model.elementCount else {
                return .failure(.argument("atom \(i) has element index \(index); the model has \(model.elementCount) "
                    + "elements (\(model.elementSymbols.joined(separator: " ")))"))
            }
            numbers[i] = model.atomicNumbers[index]
        }
    default:
        return .failure(.argument("give exactly one of atomic_numbers and species"))
    }
    return .success(Structure(atomicNumbers: numbers, positions: (0..<(3 * n)).map { positions[$0] },
                              cell: cell, pbc: pbc))
}

@_cdecl("cace_compute_structure")
public func caceComputeStructure(_ model: OpaquePointer?, _ structure: UnsafePointer<cace_structure>?,
                                 _ result: UnsafeMutablePointer<cace_structure_result>?,
                                 _ err: UnsafeMutablePointer<CChar>?, _ errLength: Int) -> Int32 {
    let caller = "cace_compute_structure: "
    guard let h = handle(model) else { return argumentError(caller + "model is NULL", err, errLength) }
    guard let structure else { return argumentError(caller + "structure is NULL", err, errLength) }
    guard let result else { return argumentError(caller + "result is NULL", err, errLength) }
    result.pointee.energy = 0
    result.pointee.long_range_energy = 0
    result.pointee.virial = (0, 0, 0, 0, 0, 0)
    let evaluator = h.evaluator
    do throws(CACEError) {
        let s = try makeStructure(from: structure.pointee, model: evaluator.model).get()
        let n = s.count
        let wantsVirials = result.pointee.atom_virial != nil
        evaluator.includeAtomicEnergies = result.pointee.include_e0 != 0
        // A whole structure: the serial FFT, and the structure's own k-set (a pin is for cace_compute).
        evaluator.meshTransforms = h.serialMesh
        let pinned = evaluator.pinnedLongRange
        evaluator.unpinLongRange()
        defer { evaluator.restorePin(pinned) }
        let evaluation = try evaluator.evaluate(s, atomVirials: wantsVirials)
        let r = evaluation.result
        let w = r.virial   // 3x3 row-major
        result.pointee.energy = r.energy
        result.pointee.long_range_energy = r.longRangeEnergy
        result.pointee.virial = (w[0], w[4], w[8], w[1], w[2], w[5])
        if let forces = result.pointee.forces {
            for k in 0..<(3 * n) { forces[k] = r.forces[k] }
        }
        if let energies = result.pointee.atom_energy {
            for i in 0..<n { energies[i] = r.atomEnergies[i] }
        }
        if let virials = result.pointee.atom_virial, let v = evaluation.atomVirials {
            for k in 0..<(6 * n) { virials[k] = v[k] }
        }
        return Int32(CACE_OK.rawValue)
    } catch {
        writeMessage(error.description, err, errLength)
        return status(of: error)
    }
}
