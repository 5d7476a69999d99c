import CACE
import CACEFFTW
import CCACE

// The C ABI declared in CInterop/include/cace.h. Every entry point validates its
// arguments and converts Swift errors into a status code plus message: nothing here
// may trap, because a trap would kill an MPI rank without a LAMMPS error message.

/// What a `cace_model *` points to: the model plus a reusable evaluator.
final class ModelHandle {
    let evaluator: Evaluator
    /// The serial FFT of the particle-mesh method, for hosts without a distributed mesh.
    let serialMesh = SerialMeshTransforms()
    init(model: CACEModel) { evaluator = Evaluator(model: model) }
}

/// Copies `message` into a caller's buffer, truncated and NUL-terminated.
func writeMessage(_ message: String, _ buffer: UnsafeMutablePointer<CChar>?, _ length: Int) {
    guard let buffer, length > 0 else { return }
    var count = 0
    for byte in message.utf8 where count < length - 1 {
        buffer[count] = CChar(bitPattern: byte)
        count += 1
    }
    buffer[count] = 0
}

func status(of error: CACEError) -> Int32 {
    switch error {
    case .io: return Int32(CACE_ERR_IO.rawValue)
    case .format: return Int32(CACE_ERR_FORMAT.rawValue)
    case .unsupported: return Int32(CACE_ERR_UNSUPPORTED.rawValue)
    case .argument, .structure: return Int32(CACE_ERR_ARGUMENT.rawValue)
    case .geometry: return Int32(CACE_ERR_GEOMETRY.rawValue)
    }
}

func handle(_ pointer: OpaquePointer?) -> ModelHandle? {
    guard let pointer else { return nil }
    return Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

@_cdecl("cace_abi_version")
public func caceABIVersion() -> Int32 { CACE_ABI_VERSION }

@_cdecl("cace_model_load")
public func caceModelLoad(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                          _ err: UnsafeMutablePointer<CChar>?, _ errLength: Int) -> Int32 {
    guard let path, let out else {
        writeMessage("cace_model_load: path and out must not be NULL", err, errLength)
        return Int32(CACE_ERR_ARGUMENT.rawValue)
    }
    out.pointee = nil
    do throws(CACEError) {
        let model = try CACEModel(contentsOf: String(cString: path))
        out.pointee = OpaquePointer(Unmanaged.passRetained(ModelHandle(model: model)).toOpaque())
        return Int32(CACE_OK.rawValue)
    } catch {
        writeMessage(error.description, err, errLength)
        return status(of: error)
    }
}

@_cdecl("cace_model_free")
public func caceModelFree(_ model: OpaquePointer?) {
    guard let model else { return }
    Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(model)).release()
}

@_cdecl("cace_model_cutoff")
public func caceModelCutoff(_ model: OpaquePointer?) -> Double { handle(model)?.evaluator.model.cutoff ?? 0 }

@_cdecl("cace_model_num_elements")
public func caceModelNumElements(_ model: OpaquePointer?) -> Int32 {
    Int32(handle(model)?.evaluator.model.elementCount ?? 0)
}

@_cdecl("cace_model_atomic_number")
public func caceModelAtomicNumber(_ model: OpaquePointer?, _ index: Int32) -> Int32 {
    guard let m = handle(model)?.evaluator.model, index >= 0, Int(index) < m.elementCount else { return -1 }
    return Int32(m.atomicNumbers[Int(index)])
}

@_cdecl("cace_model_element_index")
public func caceModelElementIndex(_ model: OpaquePointer?, _ symbol: UnsafePointer<CChar>?) -> Int32 {
    guard let m = handle(model)?.evaluator.model, let symbol else { return -1 }
    return Int32(m.elementIndex(symbol: String(cString: symbol)) ?? -1)
}

@_cdecl("cace_model_num_message_passing")
public func caceModelNumMessagePassing(_ model: OpaquePointer?) -> Int32 {
    Int32(handle(model)?.evaluator.model.messagePassingCount ?? 0)
}

@_cdecl("cace_model_has_long_range")
public func caceModelHasLongRange(_ model: OpaquePointer?) -> Int32 {
    handle(model)?.evaluator.model.hasLongRange == true ? 1 : 0
}

@_cdecl("cace_model_exchange_width")
public func caceModelExchangeWidth(_ model: OpaquePointer?) -> Int32 {
    Int32(handle(model)?.evaluator.model.exchangeWidth ?? 0)
}

@_cdecl("cace_model_set_threads")
public func caceModelSetThreads(_ model: OpaquePointer?, _ threads: Int32, _ err: UnsafeMutablePointer<CChar>?,
                                _ errLength: Int) -> Int32 {
    guard let h = handle(model) else {
        writeMessage("cace_model_set_threads: model is NULL", err, errLength)
        return Int32(CACE_ERR_ARGUMENT.rawValue)
    }
    guard threads >= 1, threads <= 1024 else {
        writeMessage("thread count \(threads) must be between 1 and 1024", err, errLength)
        return Int32(CACE_ERR_ARGUMENT.rawValue)
    }
    h.evaluator.threadCount = Int(threads)
    return Int32(CACE_OK.rawValue)
}

@_cdecl("cace_model_set_precision")
public func caceModelSetPrecision(_ model: OpaquePointer?, _ single: Int32, _ err: UnsafeMutablePointer<CChar>?,
                                  _ errLength: Int) -> Int32 {
    guard let h = handle(model) else {
        writeMessage("cace_model_set_precision: model is NULL", err, errLength)
        return Int32(CACE_ERR_ARGUMENT.rawValue)
    }
    guard single == 0 || single == 1 else {
        writeMessage("precision flag \(single) must be 0 (double) or 1 (single)", err, errLength)
        return Int32(CACE_ERR_ARGUMENT.rawValue)
    }
    h.evaluator.precision = single == 1 ? .single : .double
    return Int32(CACE_OK.rawValue)
}

/// Forwards the core's collective operations to the host's callbacks.
struct HostCommunicator: DomainCommunicator {
    let host: cace_host?

    func forwardExchange(_ rows: UnsafeMutablePointer<Double>, width: Int) {
        guard let host, let f = host.forward_exchange else { return }
        f(host.context, rows, Int32(width))
    }

    func reverseExchange(_ rows: UnsafeMutablePointer<Double>, width: Int) {
        guard let host, let f = host.reverse_exchange else { return }
        f(host.context, rows, Int32(width))
    }

    func sumOverRanks(_ values: UnsafeMutablePointer<Double>, count: Int) {
        guard let host, let f = host.sum_over_ranks else { return }
        f(host.context, values, Int32(count))
    }

    /// Float rows through the host's float callback; a host without any forward exchange has
    /// nothing to move; otherwise false, and the core stages the rows through Double.
    func forwardExchange(floats rows: UnsafeMutablePointer<Float>, width: Int) -> Bool {
        guard let host else { return true }
        if let f = host.forward_exchange_float { f(host.context, rows, Int32(width)); return true }
        return host.forward_exchange == nil
    }

    func reverseExchange(floats rows: UnsafeMutablePointer<Float>, width: Int) -> Bool {
        guard let host else { return true }
        if let f = host.reverse_exchange_float { f(host.context, rows, Int32(width)); return true }
        return host.reverse_exchange == nil
    }
}

@_cdecl("cace_compute")
public func caceCompute(_ model: OpaquePointer?, _ system: UnsafePointer<cace_system>?, _ host: UnsafePointer<cace_host>?,
                        _ result: UnsafeMutablePointer<cace_result>?, _ err: UnsafeMutablePointer<CChar>?,
                        _ errLength: Int) -> Int32 {
    guard let h = handle(model) else { return argumentError("cace_compute: model is NULL", err, errLength) }
    guard let result else { return argumentError("cace_compute: result is NULL", err, errLength) }
    guard result.pointee.forces != nil || (system?.pointee.nall ?? 0) == 0 else {
        return argumentError("cace_compute: result.forces is NULL", err, errLength)
    }
    // Empty domains (an MPI rank without atoms) may pass NULL arrays.
    let dummyForce = UnsafeMutablePointer<Double>.allocate(capacity: 3)
    defer { dummyForce.deallocate() }
    return withAtomsView(system, "cace_compute", err, errLength) { (atoms) throws(CACEError) in
        let targets = EvaluationTargets(forces: result.pointee.forces ?? dummyForce, atomEnergies: result.pointee.atom_energy,
                                        atomVirials: result.pointee.atom_virial)
        h.evaluator.includeAtomicEnergies = result.pointee.include_e0 != 0
        // The host's distributed mesh, or the serial FFT (right for a single domain only).
        if let mesh = host?.pointee.mesh {
            h.evaluator.meshTransforms = HostMeshProvider(mesh)
        } else {
            h.evaluator.meshTransforms = h.serialMesh
        }
        defer { h.evaluator.meshTransforms = h.serialMesh }
        let summary = try h.evaluator.evaluate(atoms, into: targets, communicator: HostCommunicator(host: host?.pointee))
        result.pointee.energy = summary.energy
        result.pointee.virial = (summary.virial[0], summary.virial[1], summary.virial[2],
                                 summary.virial[3], summary.virial[4], summary.virial[5])
    }
}

@_cdecl("cace_model_check_boundary")
public func caceModelCheckBoundary(_ model: OpaquePointer?, _ x: Int32, _ y: Int32, _ z: Int32,
                                   _ err: UnsafeMutablePointer<CChar>?, _ errLength: Int) -> Int32 {
    guard let h = handle(model) else { return argumentError("cace_model_check_boundary: model is NULL", err, errLength) }
    do throws(CACEError) {
        try h.evaluator.checkBoundary(periodic: (x != 0, y != 0, z != 0))
        return Int32(CACE_OK.rawValue)
    } catch {
        writeMessage(error.description, err, errLength)
        return status(of: error)
    }
}
