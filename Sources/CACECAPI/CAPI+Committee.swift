import CACE
import CACEStructures
import CCACE

// The committee of a fitted model: its size, and its spread for a whole structure (the Python
// calculator's uncertainty properties).

@_cdecl("cace_model_committee_size")
public func caceModelCommitteeSize(_ model: OpaquePointer?) -> Int32 {
    guard let h = handle(model) else { return 0 }
    return Int32(h.evaluator.model.committee?.count ?? 0)
}

@_cdecl("cace_compute_committee_spread")
public func caceComputeCommitteeSpread(_ model: OpaquePointer?, _ structure: UnsafePointer<cace_structure>?,
                                       _ out: UnsafeMutablePointer<cace_committee_spread>?,
                                       _ err: UnsafeMutablePointer<CChar>?, _ errLength: Int) -> Int32 {
    let caller = "cace_compute_committee_spread: "
    guard let h = handle(model) else { return argumentError(caller + "model is NULL", err, errLength) }
    guard let structure else { return argumentError(caller + "structure is NULL", err, errLength) }
    guard let out else { return argumentError(caller + "out is NULL", err, errLength) }
    out.pointee.energy_sigma = 0
    do throws(CACEError) {
        let s = try makeStructure(from: structure.pointee, model: h.evaluator.model).get()
        guard let spread = try h.evaluator.committeeSpread(s) else {
            throw .argument("the model has no committee (fit one with cace fit --committee K)")
        }
        out.pointee.energy_sigma = spread.energy
        if let sigma = out.pointee.atom_energy_sigma { for i in 0..<s.count { sigma[i] = spread.atomEnergies[i] } }
        if let deviation = out.pointee.force_deviation { for i in 0..<s.count { deviation[i] = spread.forces[i] } }
        return Int32(CACE_OK.rawValue)
    } catch {
        writeMessage(error.description, err, errLength)
        return status(of: error)
    }
}

@_cdecl("cace_compute_committee_atom_spread")
public func caceComputeCommitteeAtomSpread(_ model: OpaquePointer?, _ system: UnsafePointer<cace_system>?,
                                           _ host: UnsafePointer<cace_host>?, _ sigma: UnsafeMutablePointer<Double>?,
                                           _ err: UnsafeMutablePointer<CChar>?, _ errLength: Int) -> Int32 {
    let caller = "cace_compute_committee_atom_spread"
    guard let h = handle(model) else { return argumentError(caller + ": model is NULL", err, errLength) }
    guard sigma != nil || (system?.pointee.nlocal ?? 0) == 0 else {
        return argumentError(caller + ": atom_energy_sigma is NULL", err, errLength)
    }
    return withAtomsView(system, caller, err, errLength) { (atoms) throws(CACEError) in
        guard let spread = try h.evaluator.committeeAtomSpread(atoms, communicator: HostCommunicator(host: host?.pointee)) else {
            throw .argument("the model has no committee (fit one with cace fit --committee K)")
        }
        for i in 0..<atoms.localCount { sigma?[i] = spread[i] }
    }
}

@_cdecl("cace_compute_committee_force_deviation")
public func caceComputeCommitteeForceDeviation(_ model: OpaquePointer?, _ system: UnsafePointer<cace_system>?,
                                               _ host: UnsafePointer<cace_host>?, _ deviation: UnsafeMutablePointer<Double>?,
                                               _ err: UnsafeMutablePointer<CChar>?, _ errLength: Int) -> Int32 {
    let caller = "cace_compute_committee_force_deviation"
    guard let h = handle(model) else { return argumentError(caller + ": model is NULL", err, errLength) }
    guard deviation != nil || (system?.pointee.nlocal ?? 0) == 0 else {
        return argumentError(caller + ": force_deviation is NULL", err, errLength)
    }
    return withAtomsView(system, caller, err, errLength) { (atoms) throws(CACEError) in
        guard let spread = try h.evaluator.committeeForceDeviation(atoms, communicator: HostCommunicator(host: host?.pointee)) else {
            throw .argument("the model has no committee (fit one with cace fit --committee K)")
        }
        for i in 0..<atoms.localCount { deviation?[i] = spread[i] }
    }
}
