import CCACE
import Foundation
import XCTest
@testable import CACE
@testable import CACEStructures
@testable import CACECAPI

/// Physical bad input (issue 18, item 6): non-finite positions, atoms closer than the distance
/// floor, degenerate cells. Each gives a one-line error naming what is wrong; left-handed cells
/// and atoms the model does not handle stay legal. The LAMMPS side is in
/// lammps-plugin/tests/test_bad_input.py; the CLI side in CommandLineTests.
final class PhysicalBadInputTests: XCTestCase {
    func evaluator(_ spec: SyntheticModel = SyntheticModel()) throws -> Evaluator { Evaluator(model: try spec.model()) }

    func pair(_ distance: Double) -> Structure {
        Structure(atomicNumbers: [14, 14, 14], positions: [0, 0, 0, distance, 0, 0, 0, 2.3, 0], cell: nil,
                  pbc: (false, false, false))
    }

    func assertError(_ body: @autoclosure () throws -> Any, containing texts: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            for text in texts {
                XCTAssertTrue("\(error)".contains(text), "'\(error)' lacks '\(text)'", file: file, line: line)
            }
            XCTAssertFalse("\(error)".contains("\n"), "one-line message", file: file, line: line)
        }
    }

    func testAtomsCloserThanTheFloorAreRefusedNamingBoth() throws {
        let evaluator = try evaluator()
        XCTAssertEqual(Evaluator.minimumDistance, 0.1)
        assertError(try evaluator.evaluate(pair(0.05)), containing: ["atoms 0 and 1 are 0.05", "closer than the 0.1 A"])
        assertError(try evaluator.evaluate(pair(0.0999)), containing: ["atoms 0 and 1", "closer than the 0.1 A"])
        assertError(try evaluator.evaluate(pair(0)), containing: ["atoms 0 and 1 are at the same position"])
        XCTAssertTrue(try evaluator.evaluate(pair(0.1001)).energy.isFinite)
        // the descriptor API validates the same way
        assertError(try evaluator.descriptors(pair(0.05), derivatives: false), containing: ["closer than the 0.1 A"])
        // a periodic image within the floor: the atom and the image of its neighbour
        let image = Structure(atomicNumbers: [14, 14], positions: [0.02, 2, 2, 5.98, 2, 2], cell: [6, 0, 0, 0, 6, 0, 0, 0, 6],
                              pbc: (true, true, true))
        assertError(try evaluator.evaluate(image), containing: ["are 0.04", "closer than"])
    }

    func testNonFiniteCoordinatesAndCells() throws {
        let evaluator = try evaluator()
        for bad in [Double.nan, .infinity, -.infinity] {
            var s = pair(1.5)
            s.positions[7] = bad
            assertError(try evaluator.evaluate(s), containing: ["atom 2 has coordinate \(bad)"])
            var cell = Structure(atomicNumbers: [14], positions: [0, 0, 0], cell: [5, 0, 0, 0, 5, 0, 0, 0, bad],
                                 pbc: (true, true, true))
            assertError(try evaluator.evaluate(cell), containing: ["lattice vector 3", "non-finite"])
            cell.pbc = (false, false, false)   // an open structure's cell is not used
            XCTAssertNoThrow(try evaluator.evaluate(cell))
        }
    }

    /// Zero volume is refused; a left-handed cell (negative determinant) is the same lattice
    /// as a right-handed one and gives the same answer.
    func testDegenerateAndLeftHandedCells() throws {
        let evaluator = try evaluator()
        let positions = [0.0, 0, 0, 1.4, 1.3, 1.2]
        for h in [[5.0, 0, 0, 5, 0, 0, 0, 0, 5], [5, 0, 0, 0, 5, 0, 5, 5, 0], [5, 0, 0, 0, 5, 0, 5, 5, 1e-20]] {
            let flat = Structure(atomicNumbers: [14, 14], positions: positions, cell: h, pbc: (true, true, true))
            assertError(try evaluator.evaluate(flat), containing: ["zero volume"])
        }
        let right = Structure(atomicNumbers: [14, 14], positions: positions, cell: [5, 0, 0, 0, 5.5, 0, 0.5, 0, 6],
                              pbc: (true, true, true))
        var left = right
        left.cell = [0, 5.5, 0, 5, 0, 0, 0.5, 0, 6]   // rows a and b swapped: determinant < 0
        let r = try evaluator.evaluate(right), l = try evaluator.evaluate(left)
        XCTAssertEqual(l.energy, r.energy, accuracy: 1e-12 * abs(r.energy))
        XCTAssertLessThanOrEqual(relativeError(l.forces, r.forces), 1e-12)
        XCTAssertLessThanOrEqual(relativeError(l.stress ?? [], r.stress ?? [1]), 1e-12)
    }

    /// cace_compute on a host's arrays (LAMMPS's path): the same refusals, with the host's
    /// indices; atoms of species -1 (types another pair style handles) may overlap.
    func testHostArraysThroughCInterface() throws {
        var spec = SyntheticModel()
        spec.zs = [1, 8]; spec.ewald = true
        let model = try loadThroughCInterface(spec)
        defer { caceModelFree(model) }
        var err = [CChar](repeating: 0, count: 512)
        var energy = 0.0
        func compute(_ x: [Double], species: [Int32], cell: [Double]? = nil) -> Int32 {
            let n = species.count
            var x = x, species = species
            var ilist = (0..<n).map(Int32.init)
            var numneigh = [Int32](repeating: Int32(n - 1), count: n)
            var neighbours = (0..<n).map { i in (0..<n).filter { $0 != i }.map(Int32.init) }
            var forces = [Double](repeating: 0, count: 3 * n)
            var h = cell ?? [Double](repeating: 0, count: 9)
            var tags = (1...n).map(Int64.init)
            let pointers = neighbours.indices.map { i in neighbours[i].withUnsafeMutableBufferPointer { $0.baseAddress } }
            var firstneigh: [UnsafeMutablePointer<Int32>?] = pointers
            var system = cace_system()
            system.nlocal = Int32(n); system.nall = Int32(n); system.inum = Int32(n); system.neighmask = -1
            system.periodic = cell == nil ? 0 : 1; system.natoms = Int64(n)
            var result = cace_result()
            let status = x.withUnsafeMutableBufferPointer { xp in
                species.withUnsafeMutableBufferPointer { sp in
                    ilist.withUnsafeMutableBufferPointer { ip in
                        numneigh.withUnsafeMutableBufferPointer { np in
                            firstneigh.withUnsafeMutableBufferPointer { fp in
                                forces.withUnsafeMutableBufferPointer { f in
                                    h.withUnsafeMutableBufferPointer { hp in
                                        tags.withUnsafeMutableBufferPointer { tp in
                                            system.x = UnsafePointer(xp.baseAddress); system.species = UnsafePointer(sp.baseAddress)
                                            system.ilist = UnsafePointer(ip.baseAddress); system.numneigh = UnsafePointer(np.baseAddress)
                                            system.firstneigh = UnsafePointer(fp.baseAddress)
                                            system.cell = cell == nil ? nil : UnsafePointer(hp.baseAddress)
                                            system.tag = cell == nil ? UnsafePointer(tp.baseAddress) : nil
                                            result.forces = f.baseAddress
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
            energy = result.energy
            return status
        }
        let water: [Double] = [0, 0, 0, 0.96, 0, 0, -0.24, 0.93, 0.1]
        let geometry = Int32(CACE_ERR_GEOMETRY.rawValue)
        XCTAssertEqual(compute(water, species: [1, 0, 0]), 0, message(err))
        for bad in [Double.nan, .infinity] {
            var x = water
            x[4] = bad
            XCTAssertEqual(compute(x, species: [1, 0, 0]), geometry)
            XCTAssertTrue(message(err).contains("atom 1 has a non-finite coordinate"), message(err))
        }
        var close = water
        close[6] = 0.9; close[7] = 0.05; close[8] = 0   // atom 2 0.05 A from atom 1
        XCTAssertEqual(compute(close, species: [1, 0, 0]), geometry)
        XCTAssertTrue(message(err).contains("atoms 1 and 2 are 0.0"), message(err))
        XCTAssertTrue(message(err).contains("closer than the 0.1 A"), message(err))
        XCTAssertEqual(compute(close, species: [1, 0, -1]), 0, "an atom the model does not handle: \(message(err))")
        // the periodic long-range term needs a cell with a volume; a left-handed one is fine
        let box = [8.0, 0, 0, 0, 8, 0, 0, 0, 8], mirrored = [8.0, 0, 0, 0, 8, 0, 0, 0, -8]
        XCTAssertEqual(compute(water, species: [1, 0, 0], cell: box), 0, message(err))
        let right = energy
        XCTAssertEqual(compute(water, species: [1, 0, 0], cell: mirrored), 0, message(err))
        XCTAssertEqual(energy, right, accuracy: 1e-12 * abs(right), "the same lattice, left-handed")
        XCTAssertEqual(compute(water, species: [1, 0, 0], cell: [8, 0, 0, 8, 0, 0, 0, 0, 8]), geometry)
        XCTAssertTrue(message(err).contains("zero volume"), message(err))
    }
}
