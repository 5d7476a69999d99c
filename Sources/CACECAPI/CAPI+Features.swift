import CACE
import CCACE

/// Copies of the arrays a `cace_features` points into, alive until `cace_features_release`.
final class FeatureStorage {
    private var buffers: [UnsafeMutableRawPointer] = []

    /// A library-owned copy of `values` (nil when empty).
    func copy<T>(_ values: [T]) -> UnsafePointer<T>? {
        guard !values.isEmpty else { return nil }
        let buffer = UnsafeMutablePointer<T>.allocate(capacity: values.count)
        buffer.initialize(from: values, count: values.count)
        buffers.append(UnsafeMutableRawPointer(buffer))
        return UnsafePointer(buffer)
    }

    deinit { for buffer in buffers { buffer.deallocate() } }
}

@_cdecl("cace_compute_features")
public func caceComputeFeatures(_ model: OpaquePointer?, _ system: UnsafePointer<cace_system>?,
                                _ host: UnsafePointer<cace_host>?, _ derivatives: Int32,
                                _ out: UnsafeMutablePointer<cace_features>?, _ err: UnsafeMutablePointer<CChar>?,
                                _ errLength: Int) -> Int32 {
    guard let h = handle(model) else { return argumentError("cace_compute_features: model is NULL", err, errLength) }
    guard let out else { return argumentError("cace_compute_features: out is NULL", err, errLength) }
    out.pointee = cace_features()
    return withAtomsView(system, "cace_compute_features", err, errLength) { (atoms) throws(CACEError) in
        let d = try h.evaluator.descriptors(atoms, derivatives: derivatives != 0,
                                            communicator: HostCommunicator(host: host?.pointee))
        let storage = FeatureStorage()
        out.pointee.feature_count = Int32(d.featureCount)
        out.pointee.atom_count = Int32(d.atoms.count)
        out.pointee.atoms = storage.copy(d.atoms.map { Int32($0) })
        out.pointee.features = storage.copy(d.features)
        out.pointee.edge_count = Int64(d.edgeReceivers.count)
        out.pointee.edge_receiver = storage.copy(d.edgeReceivers.map { Int32($0) })
        out.pointee.edge_sender = storage.copy(d.edgeSenders.map { Int32($0) })
        out.pointee.edge_vector = storage.copy(d.edgeVectors)
        out.pointee.jacobian = storage.copy(d.jacobians)
        out.pointee.stacked_feature_count = Int32(d.stackedFeatureCount)
        out.pointee.stacked_features = d.stackedFeatures.flatMap { storage.copy($0) }
        out.pointee.internal = Unmanaged.passRetained(storage).toOpaque()
    }
}

@_cdecl("cace_features_release")
public func caceFeaturesRelease(_ features: UnsafeMutablePointer<cace_features>?) {
    guard let features, let storage = features.pointee.internal else { return }
    Unmanaged<FeatureStorage>.fromOpaque(storage).release()
    features.pointee = cace_features()
}
