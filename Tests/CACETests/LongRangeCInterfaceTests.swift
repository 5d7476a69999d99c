import CCACE
import Foundation
import XCTest
@testable import CACE
@testable import CACECAPI
@testable import CACEFFTW
@testable import CACEStructures

/// The long-range entry points of the C ABI (cace.h, ABI 5): cace_model_set_long_range, pinning,
/// and cace_compute with a host mesh (`cace_mesh_host` backed here by the serial FFTW transform,
/// as a single-rank host would supply it) against the library's own serial mesh and the direct sum.
final class LongRangeCInterfaceTests: XCTestCase {
    func waterModel() throws -> OpaquePointer {
        let root = try requireReference()
        var err = [CChar](repeating: 0, count: 256)
        var model: OpaquePointer? = nil
        let path = root.appendingPathComponent("water_trained/model.safetensors").path
        guard caceModelLoad(path, &model, &err, err.count) == 0, let model else {
            throw CACEError.io("cace_model_load failed: \(message(err))")
        }
        return model
    }

    func frame(_ repeats: Int) throws -> Structure {
        let root = try requireReference()
        let s = try ExtendedXYZ.read(contentsOf: root.appendingPathComponent("water_trained/liquid64_frame0.xyz").path)[0]
        guard repeats > 1, let cell = s.cell else { return s }
        var numbers: [Int] = [], positions: [Double] = []
        for i in 0..<repeats { for j in 0..<repeats { for k in 0..<repeats {
            for atom in 0..<s.count {
                numbers.append(s.atomicNumbers[atom])
                for c in 0..<3 {
                    positions.append(s.positions[3 * atom + c] + Double(i) * cell[c] + Double(j) * cell[3 + c] + Double(k) * cell[6 + c])
                }
            }
        } } }
        return Structure(atomicNumbers: numbers, positions: positions, cell: cell.map { Double(repeats) * $0 },
                         pbc: (true, true, true))
    }

    func testSetLongRangeAndPin() throws {
        let model = try waterModel()
        defer { caceModelFree(model) }
        var err = [CChar](repeating: 0, count: 256)
        XCTAssertEqual(caceModelSetLongRange(model, 7, 0, &err, err.count), Int32(CACE_ERR_ARGUMENT.rawValue))
        XCTAssertEqual(caceModelSetLongRange(model, 2, 1e-13, &err, err.count), Int32(CACE_ERR_ARGUMENT.rawValue))
        XCTAssertTrue(message(err).contains("out of range"), message(err))
        XCTAssertEqual(caceModelSetLongRange(model, Int32(CACE_LONG_RANGE_AUTO.rawValue), 0, &err, err.count), 0)
        var plan = cace_long_range_plan()
        var small = try XCTUnwrap(try frame(1).cell)
        XCTAssertEqual(caceModelPinLongRange(model, &small, 192, &plan, &err, err.count), 0, message(err))
        XCTAssertEqual(plan.method, Int32(CACE_LONG_RANGE_DIRECT.rawValue))
        XCTAssertEqual(plan.kmax.0, 6)
        XCTAssertEqual(plan.mesh.0, 0)
        var big = small.map { 2 * $0 }
        XCTAssertEqual(caceModelPinLongRange(model, &big, 1536, &plan, &err, err.count), 0, message(err))
        XCTAssertEqual(plan.method, Int32(CACE_LONG_RANGE_MESH.rawValue))
        XCTAssertGreaterThan(plan.mesh.0, 2 * plan.kmax.0)
        XCTAssertGreaterThanOrEqual(plan.order, 5)
        XCTAssertEqual(plan.accuracy, LongRangePlan.defaultAccuracy)
        XCTAssertGreaterThan(plan.kvector_count, 4000)
        caceModelUnpinLongRange(model)
        XCTAssertNil(handle(model)?.evaluator.pinnedLongRange)
        XCTAssertEqual(caceModelPinLongRange(model, nil, 1, &plan, &err, err.count), Int32(CACE_ERR_ARGUMENT.rawValue))

        // A model without a long-range term.
        let plain = try loadThroughCInterface(SyntheticModel())
        defer { caceModelFree(plain) }
        XCTAssertEqual(caceModelSetLongRange(plain, Int32(CACE_LONG_RANGE_MESH.rawValue), 0, &err, err.count),
                       Int32(CACE_ERR_ARGUMENT.rawValue))
        XCTAssertTrue(message(err).contains("no long-range term"), message(err))
    }

    /// cace_compute on one domain: the host's mesh (cace_mesh_host over the serial transform, origin
    /// shifted), the library's serial mesh, and the direct sum.
    func testComputeWithTheHostsMesh() throws {
        let model = try waterModel()
        defer { caceModelFree(model) }
        var err = [CChar](repeating: 0, count: 256)
        let s = try frame(2)
        let cell = try XCTUnwrap(s.cell)
        XCTAssertEqual(caceModelSetLongRange(model, Int32(CACE_LONG_RANGE_MESH.rawValue), 0, &err, err.count), 0)
        var plan = cace_long_range_plan()
        var h = cell
        XCTAssertEqual(caceModelPinLongRange(model, &h, Int64(s.count), &plan, &err, err.count), 0, message(err))
        let evaluator = try XCTUnwrap(handle(model)?.evaluator)
        let domain = try ReplicatedDomain(structure: s, species: s.atomicNumbers.map { $0 == 8 ? 1 : 0 },
                                          cutoff: evaluator.model.cutoff)

        // The host's mesh: the serial transform behind C callbacks, with the origin at (-1.5, 0.7, 2).
        let serial = try SerialMeshTransforms().transform(mesh: [Int(plan.mesh.0), Int(plan.mesh.1), Int(plan.mesh.2)],
                                                          order: Int(plan.order))
        var origin: [Double] = [-1.5, 0.7, 2.0]
        let builtMesh = plan.mesh   // the host built its mesh from the first pin
        func run(hostMesh: Bool, expectFailure: Bool = false) throws -> (Double, [Double], [Double]) {
            var forces = [Double](repeating: 0, count: 3 * domain.totalCount)
            var result = cace_result()
            var status: Int32 = -1
            try origin.withUnsafeBufferPointer { o in
                var meshHost = cace_mesh_host()
                meshHost.context = Unmanaged.passUnretained(serial as AnyObject).toOpaque()
                meshHost.mesh = builtMesh
                meshHost.brick_lo = (Int32(serial.brickLow[0]), Int32(serial.brickLow[1]), Int32(serial.brickLow[2]))
                meshHost.brick_hi = (Int32(serial.brickHigh[0]), Int32(serial.brickHigh[1]), Int32(serial.brickHigh[2]))
                meshHost.spectrum_lo = (0, 0, 0)
                meshHost.spectrum_hi = (builtMesh.0 - 1, builtMesh.1 - 1, builtMesh.2 - 1)
                meshHost.origin = o.baseAddress
                func transform(_ c: UnsafeMutableRawPointer?) -> any MeshTransform {
                    Unmanaged<AnyObject>.fromOpaque(c!).takeUnretainedValue() as! any MeshTransform
                }
                meshHost.sum_ghosts = { c, b in transform(c).sumGhosts(b!) }
                meshHost.fill_ghosts = { c, b in transform(c).fillGhosts(b!) }
                meshHost.forward = { c, b, f in transform(c).forward(b!, f!) }
                meshHost.backward = { c, f, b in transform(c).backward(f!, b!) }
                try withUnsafePointer(to: &meshHost) { (meshPointer) throws in
                    var host = cace_host()
                    host.mesh = hostMesh ? meshPointer : nil
                    try forces.withUnsafeMutableBufferPointer { (f) throws in
                        try domain.withAtomsView(boundary: .periodic(cell: cell)) { (atoms) throws(CACEError) in
                            var system = cace_system()
                            system.nlocal = Int32(atoms.localCount); system.nall = Int32(atoms.totalCount)
                            system.x = atoms.positions; system.species = atoms.species
                            system.inum = Int32(atoms.neighbors.count); system.ilist = atoms.neighbors.atoms
                            system.numneigh = atoms.neighbors.counts
                            system.firstneigh = UnsafeRawPointer(atoms.neighbors.lists).assumingMemoryBound(to: UnsafeMutablePointer<Int32>?.self)
                            system.neighmask = -1; system.periodic = 1
                            h.withUnsafeBufferPointer { c in
                                system.cell = c.baseAddress
                                result.forces = f.baseAddress
                                status = caceCompute(model, &system, &host, &result, &err, err.count)
                            }
                        }
                    }
                }
            }
            if !expectFailure { XCTAssertEqual(status, 0, message(err)) } else { XCTAssertNotEqual(status, 0) }
            var folded = forces
            domain.foldGhostRows(&folded, width: 3)
            let w = result.virial
            return (result.energy, Array(folded.prefix(3 * s.count)), [w.0, w.1, w.2, w.3, w.4, w.5])
        }
        let (hostEnergy, hostForces, hostVirial) = try run(hostMesh: true)
        let (serialEnergy, serialForces, serialVirial) = try run(hostMesh: false)
        // The origin moves the mesh relative to the atoms: the same energy within the mesh's accuracy.
        XCTAssertEqual(hostEnergy, serialEnergy, accuracy: 1e-7 * abs(serialEnergy))
        XCTAssertLessThanOrEqual(relativeError(hostForces, serialForces), 1e-5)
        XCTAssertLessThanOrEqual(relativeError(hostVirial, serialVirial), 1e-5)
        // Against the direct sum of the same (pinned) k-set.
        XCTAssertEqual(caceModelSetLongRange(model, Int32(CACE_LONG_RANGE_DIRECT.rawValue), 0, &err, err.count), 0)
        XCTAssertEqual(caceModelPinLongRange(model, &h, Int64(s.count), &plan, &err, err.count), 0)
        let (directEnergy, directForces, _) = try run(hostMesh: false)
        XCTAssertEqual(serialEnergy, directEnergy, accuracy: 1e-7 * abs(directEnergy))
        XCTAssertLessThanOrEqual(relativeError(serialForces, directForces), 1e-5)
        // A host mesh of the wrong size is refused with a message.
        XCTAssertEqual(caceModelSetLongRange(model, Int32(CACE_LONG_RANGE_MESH.rawValue), 1e-3, &err, err.count), 0)
        XCTAssertEqual(caceModelPinLongRange(model, &h, Int64(s.count), &plan, &err, err.count), 0)
        _ = try run(hostMesh: true, expectFailure: true)
        XCTAssertTrue(message(err).contains("the host's mesh is"), message(err))
    }
}
