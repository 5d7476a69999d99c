import CCACE
import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures
@testable import CACECAPI

/// The C ABI as a host calls it: load, query, compute on a hand-made neighbour list, errors.
final class CInterfaceTests: XCTestCase {
    /// The library reports the version its header declares (a host compares the two).
    func testABIVersionMatchesTheHeader() {
        XCTAssertEqual(caceABIVersion(), CACE_ABI_VERSION)
        XCTAssertEqual(CACE_ABI_VERSION, 3)
    }

    func testLoadQueryComputeAndErrors() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]
        spec.layers = 1
        spec.messageTypes = ["M", "Ar", "Bchi"]
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cabi-\(UUID().uuidString).safetensors").path
        try Data(spec.fileBytes()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var err = [CChar](repeating: 0, count: 256)
        var model: OpaquePointer? = nil
        XCTAssertEqual(caceModelLoad(path, &model, &err, err.count), 0)
        defer { caceModelFree(model) }
        XCTAssertEqual(caceModelCutoff(model), 4.0)
        XCTAssertEqual(caceModelElementIndex(model, "O"), 1)
        XCTAssertEqual(caceModelElementIndex(model, "Si"), -1)
        XCTAssertEqual(caceModelNumMessagePassing(model), 1)
        XCTAssertGreaterThan(caceModelExchangeWidth(model), 0)

        // Three atoms, all owned, full neighbour list by hand; compare with the Swift API.
        let structure = Structure(atomicNumbers: [8, 1, 1], positions: [0, 0, 0, 0.96, 0, 0, -0.24, 0.93, 0.1],
                                  cell: nil, pbc: (false, false, false))
        let expected = try Evaluator(model: spec.model()).evaluate(structure)
        var x = structure.positions
        var species: [Int32] = [1, 0, 0]
        var ilist: [Int32] = [0, 1, 2]
        var numneigh: [Int32] = [2, 2, 2]
        var neighbours: [[Int32]] = [[1, 2], [0, 2], [0, 1]].map { $0.map(Int32.init) }
        var forces = [Double](repeating: 0, count: 9)
        var atomEnergy = [Double](repeating: 0, count: 3)
        let pointers = neighbours.indices.map { i in neighbours[i].withUnsafeMutableBufferPointer { $0.baseAddress } }
        var firstneigh: [UnsafeMutablePointer<Int32>?] = pointers
        var tags: [Int64] = [1, 2, 3]
        var system = cace_system()
        system.nlocal = 3; system.nall = 3; system.inum = 3; system.neighmask = -1; system.periodic = 0; system.natoms = 3
        var result = cace_result()
        let status = x.withUnsafeMutableBufferPointer { xp in
            species.withUnsafeMutableBufferPointer { sp in
                ilist.withUnsafeMutableBufferPointer { ip in
                    numneigh.withUnsafeMutableBufferPointer { np in
                        firstneigh.withUnsafeMutableBufferPointer { fp in
                            tags.withUnsafeMutableBufferPointer { tp in
                                forces.withUnsafeMutableBufferPointer { f in
                                    atomEnergy.withUnsafeMutableBufferPointer { ae in
                                        system.x = UnsafePointer(xp.baseAddress); system.species = UnsafePointer(sp.baseAddress)
                                        system.ilist = UnsafePointer(ip.baseAddress); system.numneigh = UnsafePointer(np.baseAddress)
                                        system.firstneigh = UnsafePointer(fp.baseAddress); system.tag = UnsafePointer(tp.baseAddress)
                                        result.forces = f.baseAddress; result.atom_energy = ae.baseAddress
                                        return caceCompute(model, &system, nil, &result, &err, err.count)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        _ = neighbours
        XCTAssertEqual(status, 0, message(err))
        XCTAssertEqual(result.energy, expected.energy, accuracy: 1e-12)
        XCTAssertLessThanOrEqual(relativeError(forces, expected.forces), 1e-12)
        XCTAssertEqual(atomEnergy.reduce(0, +), expected.energy, accuracy: 1e-12)

        // Errors come back as codes with a message.
        var bad: OpaquePointer? = nil
        XCTAssertEqual(caceModelLoad("/nonexistent", &bad, &err, err.count), Int32(CACE_ERR_IO.rawValue))
        XCTAssertTrue(message(err).contains("/nonexistent"))
        XCTAssertNil(bad)
        XCTAssertEqual(caceModelSetThreads(model, 0, &err, err.count), Int32(CACE_ERR_ARGUMENT.rawValue))
        var broken = cace_system()
        broken.nlocal = 5; broken.nall = 2
        XCTAssertEqual(caceCompute(model, &broken, nil, &result, &err, err.count), Int32(CACE_ERR_ARGUMENT.rawValue))
        // A neighbour index outside the atoms passed is refused, not read.
        species = [1, 0, 0]
        var wild: [Int32] = [7]
        numneigh = [1, 0, 0]
        let wildStatus = x.withUnsafeMutableBufferPointer { xp in
            species.withUnsafeMutableBufferPointer { sp in
                ilist.withUnsafeMutableBufferPointer { ip in
                    numneigh.withUnsafeMutableBufferPointer { np in
                        wild.withUnsafeMutableBufferPointer { wp in
                            var lists: [UnsafeMutablePointer<Int32>?] = [wp.baseAddress, nil, nil]
                            return lists.withUnsafeMutableBufferPointer { fp in
                                forces.withUnsafeMutableBufferPointer { f in
                                    system.x = UnsafePointer(xp.baseAddress); system.species = UnsafePointer(sp.baseAddress)
                                    system.ilist = UnsafePointer(ip.baseAddress); system.numneigh = UnsafePointer(np.baseAddress)
                                    system.firstneigh = UnsafePointer(fp.baseAddress)
                                    result.forces = f.baseAddress; result.atom_energy = nil
                                    return caceCompute(model, &system, nil, &result, &err, err.count)
                                }
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(wildStatus, Int32(CACE_ERR_ARGUMENT.rawValue))
        XCTAssertTrue(message(err).contains("neighbour 7"), message(err))
    }
}
