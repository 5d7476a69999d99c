import CACE
import CACEFFTW
import CCACE

// The long-range entry points of cace.h (ABI 5): the method and accuracy, pinning the k-set, and
// the host's distributed mesh (`cace_mesh_host`) as the particle-mesh method's transform.

@_cdecl("cace_model_set_long_range")
public func caceModelSetLongRange(_ model: OpaquePointer?, _ method: Int32, _ accuracy: Double,
                                  _ err: UnsafeMutablePointer<CChar>?, _ errLength: Int) -> Int32 {
    guard let h = handle(model) else { return argumentError("cace_model_set_long_range: model is NULL", err, errLength) }
    let methods: [Int32: LongRangeMethod] = [Int32(CACE_LONG_RANGE_AUTO.rawValue): .auto,
                                            Int32(CACE_LONG_RANGE_DIRECT.rawValue): .direct,
                                            Int32(CACE_LONG_RANGE_MESH.rawValue): .mesh]
    guard let chosen = methods[method] else {
        return argumentError("long-range method \(method) must be 0 (auto), 1 (direct) or 2 (mesh)", err, errLength)
    }
    do throws(CACEError) {
        try h.evaluator.setLongRange(chosen, accuracy: accuracy == 0 ? nil : accuracy)
        return Int32(CACE_OK.rawValue)
    } catch {
        writeMessage(error.description, err, errLength)
        return status(of: error)
    }
}

@_cdecl("cace_model_pin_long_range")
public func caceModelPinLongRange(_ model: OpaquePointer?, _ cell: UnsafePointer<Double>?, _ natoms: Int64,
                                  _ plan: UnsafeMutablePointer<cace_long_range_plan>?,
                                  _ err: UnsafeMutablePointer<CChar>?, _ errLength: Int) -> Int32 {
    guard let h = handle(model) else { return argumentError("cace_model_pin_long_range: model is NULL", err, errLength) }
    guard let cell else { return argumentError("cace_model_pin_long_range: cell is NULL", err, errLength) }
    guard natoms >= 0, natoms <= 1 << 40 else {
        return argumentError("cace_model_pin_long_range: natoms \(natoms) out of range", err, errLength)
    }
    guard h.evaluator.model.hasLongRange else {
        return argumentError("cace_model_pin_long_range: this model has no long-range term", err, errLength)
    }
    do throws(CACEError) {
        let pinned = try h.evaluator.pinLongRange(cell: (0..<9).map { cell[$0] }, atomCount: Int(natoms))
        if let plan {
            let mesh = pinned.method == .mesh
            plan.pointee.method = Int32(mesh ? CACE_LONG_RANGE_MESH.rawValue : CACE_LONG_RANGE_DIRECT.rawValue)
            plan.pointee.kmax = (Int32(pinned.kmax[0]), Int32(pinned.kmax[1]), Int32(pinned.kmax[2]))
            plan.pointee.kvector_count = Int64(pinned.kvectorCount)
            plan.pointee.mesh = mesh ? (Int32(pinned.mesh[0]), Int32(pinned.mesh[1]), Int32(pinned.mesh[2])) : (0, 0, 0)
            plan.pointee.order = mesh ? Int32(pinned.order) : 0
            plan.pointee.accuracy = mesh ? pinned.accuracy : 0
        }
        return Int32(CACE_OK.rawValue)
    } catch {
        writeMessage(error.description, err, errLength)
        return status(of: error)
    }
}

@_cdecl("cace_model_unpin_long_range")
public func caceModelUnpinLongRange(_ model: OpaquePointer?) {
    handle(model)?.evaluator.unpinLongRange()
}

/// The host's `cace_mesh_host` as the core's `MeshTransform`; its fields are read at each use.
final class HostMeshTransform: MeshTransform {
    let host: UnsafePointer<cace_mesh_host>

    init(_ host: UnsafePointer<cace_mesh_host>) { self.host = host }

    private static func array(_ t: (Int32, Int32, Int32)) -> [Int] { [Int(t.0), Int(t.1), Int(t.2)] }
    var mesh: [Int] { Self.array(host.pointee.mesh) }
    var brickLow: [Int] { Self.array(host.pointee.brick_lo) }
    var brickHigh: [Int] { Self.array(host.pointee.brick_hi) }
    var spectrumLow: [Int] { Self.array(host.pointee.spectrum_lo) }
    var spectrumHigh: [Int] { Self.array(host.pointee.spectrum_hi) }
    var origin: [Double] { host.pointee.origin.map { o in [o[0], o[1], o[2]] } ?? [.nan, .nan, .nan] }

    func sumGhosts(_ brick: UnsafeMutablePointer<Double>) { host.pointee.sum_ghosts?(host.pointee.context, brick) }
    func fillGhosts(_ brick: UnsafeMutablePointer<Double>) { host.pointee.fill_ghosts?(host.pointee.context, brick) }
    func forward(_ brick: UnsafePointer<Double>, _ spectrum: UnsafeMutablePointer<Double>) {
        host.pointee.forward?(host.pointee.context, brick, spectrum)
    }
    func backward(_ spectrum: UnsafePointer<Double>, _ brick: UnsafeMutablePointer<Double>) {
        host.pointee.backward?(host.pointee.context, spectrum, brick)
    }
}

/// Hands the particle-mesh method the host's mesh, after checking that it is complete.
final class HostMeshProvider: MeshTransformProvider {
    let transform: HostMeshTransform

    init(_ host: UnsafePointer<cace_mesh_host>) { transform = HostMeshTransform(host) }

    func transform(mesh: [Int], order: Int) throws(CACEError) -> any MeshTransform {
        let h = transform.host.pointee
        guard h.sum_ghosts != nil, h.fill_ghosts != nil, h.forward != nil, h.backward != nil, h.origin != nil else {
            throw .argument("cace_host.mesh: sum_ghosts, fill_ghosts, forward, backward and origin must all be set")
        }
        return transform
    }
}
