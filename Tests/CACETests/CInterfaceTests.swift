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
        XCTAssertEqual(CACE_ABI_VERSION, 6)
    }

    func testLoadQueryComputeAndErrors() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]
        spec.layers = 1
        spec.messageTypes = ["M", "Ar", "Bchi"]
        var err = [CChar](repeating: 0, count: 256)
        let model: OpaquePointer? = try loadThroughCInterface(spec)
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
    /// cace_compute_structure builds the images and the neighbour list in the library: the
    /// same numbers as `Evaluator.evaluate(_ structure:)` (the CLI), per-atom virials that sum to
    /// the virial, element indices as an alternative to atomic numbers, and errors with messages.
    func testComputeStructure() throws {
        for ewald in [false, true] {
            var spec = SyntheticModel()
            spec.zs = [1, 8]
            spec.layers = ewald ? 0 : 1
            spec.messageTypes = ewald ? [] : ["M", "Ar", "Bchi"]
            spec.ewald = ewald
            spec.atomicEnergies = [1: -0.5, 8: -2.25]
            var err = [CChar](repeating: 0, count: 256)
            let model: OpaquePointer? = try loadThroughCInterface(spec)
            defer { caceModelFree(model) }
            // Triclinic periodic cell smaller than twice the cutoff: atoms see their own images.
            let cell = [4.6, 0, 0, 0.9, 4.3, 0, -0.7, 0.6, 4.9]
            var positions = [0.1, 0.2, 0.3, 1.05, 0.1, 0.2, -0.2, 0.95, 0.4, 2.5, 2.4, 2.6, 3.4, 2.3, 2.9, 2.2, 3.3, 2.7]
            var numbers: [Int32] = [8, 1, 1, 8, 1, 1]
            let reference = Evaluator(model: try spec.model())
            reference.includeAtomicEnergies = true
            let expected = try reference.evaluate(Structure(atomicNumbers: numbers.map(Int.init), positions: positions,
                                                            cell: cell, pbc: (true, true, true)))
            var forces = [Double](repeating: .nan, count: 18)
            var energies = [Double](repeating: .nan, count: 6)
            var virials = [Double](repeating: .nan, count: 36)
            var h = cell
            var result = cace_structure_result()
            result.include_e0 = 1
            func run(_ species: [Int32]?, pbc: (Int32, Int32, Int32) = (1, 1, 1), withCell: Bool = true,
                     count: Int32 = 6) -> Int32 {
                var s = cace_structure()
                s.natoms = count
                s.pbc = pbc
                var ids = species ?? numbers
                return positions.withUnsafeBufferPointer { x in
                    h.withUnsafeBufferPointer { c in
                        ids.withUnsafeMutableBufferPointer { z in
                            forces.withUnsafeMutableBufferPointer { f in
                                energies.withUnsafeMutableBufferPointer { e in
                                    virials.withUnsafeMutableBufferPointer { v in
                                        s.positions = x.baseAddress
                                        s.cell = withCell ? c.baseAddress : nil
                                        if species == nil { s.atomic_numbers = UnsafePointer(z.baseAddress) }
                                        else { s.species = UnsafePointer(z.baseAddress) }
                                        result.forces = f.baseAddress; result.atom_energy = e.baseAddress
                                        result.atom_virial = v.baseAddress
                                        return caceComputeStructure(model, &s, &result, &err, err.count)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            XCTAssertEqual(run(nil), 0, message(err))
            XCTAssertEqual(result.energy, expected.energy, accuracy: 1e-12 * max(1, abs(expected.energy)))
            XCTAssertEqual(result.long_range_energy, expected.longRangeEnergy, accuracy: 1e-12)
            XCTAssertEqual(ewald, result.long_range_energy != 0)
            XCTAssertLessThanOrEqual(relativeError(forces, expected.forces), 1e-12)
            XCTAssertLessThanOrEqual(relativeError(energies, expected.atomEnergies), 1e-12)
            let w = expected.virial
            let lammps = [w[0], w[4], w[8], w[1], w[2], w[5]]
            let got = [result.virial.0, result.virial.1, result.virial.2, result.virial.3, result.virial.4, result.virial.5]
            XCTAssertLessThanOrEqual(relativeError(got, lammps), 1e-12)
            let summed = (0..<6).map { c in (0..<6).reduce(0.0) { $0 + virials[6 * $1 + c] } }
            XCTAssertLessThanOrEqual(relativeError(summed, lammps), 1e-10, "per-atom virials sum to the virial")
            XCTAssertNotEqual(virials[0], virials[6])

            // Element indices give the same answer.
            let energy = result.energy
            XCTAssertEqual(run([1, 0, 0, 1, 0, 0]), 0, message(err))
            XCTAssertEqual(result.energy, energy)

            // Errors: status and a one-line message.
            XCTAssertEqual(run([1, 0, 0, 1, 0, 2]), Int32(CACE_ERR_ARGUMENT.rawValue))
            XCTAssertTrue(message(err).contains("element index 2"), message(err))
            numbers[2] = 14
            XCTAssertEqual(run(nil), Int32(CACE_ERR_ARGUMENT.rawValue))
            XCTAssertTrue(message(err).contains("element Si (atom 2) is not in the model"), message(err))
            numbers[2] = 1
            XCTAssertEqual(run(nil, withCell: false), Int32(CACE_ERR_ARGUMENT.rawValue))
            XCTAssertTrue(message(err).contains("cell is NULL"), message(err))
            XCTAssertEqual(run(nil, count: 0), Int32(CACE_ERR_ARGUMENT.rawValue))
            XCTAssertTrue(message(err).contains("no atoms"), message(err))
            positions[4] = .nan
            XCTAssertEqual(run(nil), Int32(CACE_ERR_GEOMETRY.rawValue))
            XCTAssertTrue(message(err).contains("atom 1"), message(err))
            positions[4] = 0.1
            h = [0.05, 0, 0, 0, 0.05, 0, 0, 0, 0.05]
            XCTAssertEqual(run(nil), Int32(CACE_ERR_GEOMETRY.rawValue))
            XCTAssertTrue(message(err).contains("far smaller than the cutoff"), message(err))
            XCTAssertEqual(caceComputeStructure(model, nil, &result, &err, err.count), Int32(CACE_ERR_ARGUMENT.rawValue))
            XCTAssertEqual(caceComputeStructure(nil, nil, nil, &err, err.count), Int32(CACE_ERR_ARGUMENT.rawValue))
        }
    }
}
