import CACE
import CCACE

func argumentError(_ message: String, _ err: UnsafeMutablePointer<CChar>?, _ errLength: Int) -> Int32 {
    writeMessage(message, err, errLength)
    return Int32(CACE_ERR_ARGUMENT.rawValue)
}

/// Checks a host's `cace_system` and runs `body` on it as an `AtomsView`; returns CACE_OK, or
/// the status of the first error with its message in `err`. Empty domains (an MPI rank
/// without atoms) may pass NULL arrays: they get valid empty ones.
func withAtomsView(_ system: UnsafePointer<cace_system>?, _ caller: String,
                   _ err: UnsafeMutablePointer<CChar>?, _ errLength: Int,
                   _ body: (AtomsView) throws(CACEError) -> Void) -> Int32 {
    func fail(_ message: String) -> Int32 { argumentError(caller + ": " + message, err, errLength) }
    guard let s = system?.pointee else { return fail("system is NULL") }
    guard s.nlocal >= 0, s.nall >= s.nlocal, s.inum >= 0, s.inum <= s.nlocal else {
        return fail("inconsistent counts nlocal=\(s.nlocal) nall=\(s.nall) inum=\(s.inum)")
    }
    if s.nall > 0 && (s.x == nil || s.species == nil) { return fail("x and species must not be NULL") }
    if s.inum > 0 && (s.ilist == nil || s.numneigh == nil || s.firstneigh == nil) {
        return fail("the neighbour list arrays must not be NULL")
    }
    let boundary: Boundary
    if s.periodic == 1 {
        guard let cell = s.cell else { return fail("periodic system without a cell") }
        boundary = .periodic(cell: (0..<9).map { cell[$0] })
    } else if s.periodic == 0 {
        boundary = .open(tags: s.tag, atomCount: s.tag == nil ? Int(s.nlocal) : Int(s.natoms))
    } else {
        boundary = .mixed
    }
    var dummyDouble = 0.0
    var dummyInt: Int32 = 0
    var dummyList: UnsafeMutablePointer<Int32>? = nil
    return withUnsafeMutablePointer(to: &dummyDouble) { dd in
        withUnsafeMutablePointer(to: &dummyInt) { di in
            withUnsafeMutablePointer(to: &dummyList) { dl in
                let list = NeighborListView(count: Int(s.inum), atoms: s.ilist ?? UnsafePointer(di),
                                            counts: s.numneigh ?? UnsafePointer(di),
                                            lists: s.firstneigh.map { UnsafePointer($0) } ?? UnsafePointer(dl),
                                            mask: s.neighmask)
                let atoms = AtomsView(localCount: Int(s.nlocal), totalCount: Int(s.nall),
                                      positions: s.x ?? UnsafePointer(dd), species: s.species ?? UnsafePointer(di),
                                      neighbors: list, boundary: boundary)
                do throws(CACEError) {
                    try body(atoms)
                    return Int32(CACE_OK.rawValue)
                } catch {
                    writeMessage(error.description, err, errLength)
                    return status(of: error)
                }
            }
        }
    }
}
