import CACE

/// Periodic images of a structure's atoms, within the cutoff of the cell: the ghosts of a
/// `ReplicatedDomain`.
extension ReplicatedDomain {
    /// Largest |coordinate| and lattice-vector length accepted, in Angstrom.
    static let maximumCoordinate = 1e9

    /// Periodic images are refused beyond this many per atom (a cell far smaller than the
    /// cutoff); a 1-atom fcc cell with a 6 A cutoff needs about 700.
    static let maximumImagesPerAtom = 20_000

    /// Wraps the atoms into the cell along periodic directions and appends every image that
    /// can be within `cutoff` of an atom in the cell.
    static func addImages(cell h: [Double], periodic: [Bool], cutoff: Double, positions: inout [Double],
                                  species: inout [Int32], owner: inout [Int], localCount n: Int) throws(CACEError) {
        let volume = h[0] * (h[4] * h[8] - h[5] * h[7]) - h[1] * (h[3] * h[8] - h[5] * h[6]) + h[2] * (h[3] * h[7] - h[4] * h[6])
        var lengthProduct = 1.0
        for a in 0..<3 {
            let squared: Double = h[3 * a] * h[3 * a] + h[3 * a + 1] * h[3 * a + 1] + h[3 * a + 2] * h[3 * a + 2]
            lengthProduct *= squared.squareRoot()
        }
        guard abs(volume) > 1e-12 * lengthProduct else {
            throw .structure("the cell has zero volume (its lattice vectors are linearly dependent)")
        }
        // Rows of the inverse transpose: fractional coordinate s_a = x . inv[a].
        let inv: [Double] = [
            (h[4] * h[8] - h[5] * h[7]) / volume, (h[5] * h[6] - h[3] * h[8]) / volume, (h[3] * h[7] - h[4] * h[6]) / volume,
            (h[7] * h[2] - h[8] * h[1]) / volume, (h[8] * h[0] - h[6] * h[2]) / volume, (h[6] * h[1] - h[7] * h[0]) / volume,
            (h[1] * h[5] - h[2] * h[4]) / volume, (h[2] * h[3] - h[0] * h[5]) / volume, (h[0] * h[4] - h[1] * h[3]) / volume,
        ]
        var reach = [0, 0, 0]
        var margin = [0.0, 0.0, 0.0]
        var imagesPerAtom = 1.0   // (2 margin + 1) per periodic direction: the volume the images fill, in cells
        for a in 0..<3 where periodic[a] {
            // Spacing of lattice planes a is 1/|inv[a]|; images out to cutoff past the cell are needed.
            let norm = (inv[3 * a] * inv[3 * a] + inv[3 * a + 1] * inv[3 * a + 1] + inv[3 * a + 2] * inv[3 * a + 2]).squareRoot()
            margin[a] = cutoff * norm
            imagesPerAtom *= 2 * margin[a] + 1
        }
        guard imagesPerAtom <= Double(maximumImagesPerAtom) else {
            throw .geometry("the cell is far smaller than the cutoff (\(cutoff) A): each atom would need about "
                + "\(Int(imagesPerAtom.rounded())) periodic images (limit \(maximumImagesPerAtom)). Check the Lattice "
                + "(units are Angstrom), or repeat the cell")
        }
        for a in 0..<3 where periodic[a] { reach[a] = Int(margin[a].rounded(.up)) }
        var fractional = [Double](repeating: 0, count: 3 * n)
        for i in 0..<n {
            for a in 0..<3 {
                var s = positions[3 * i] * inv[3 * a] + positions[3 * i + 1] * inv[3 * a + 1] + positions[3 * i + 2] * inv[3 * a + 2]
                if periodic[a] {
                    var shift = s.rounded(.down)
                    s -= shift
                    // s a hair below 0 rounds to exactly 1 after the shift: wrap it to 0 and move
                    // the atom with it, or its fractional coordinate and position disagree by a
                    // lattice vector and images are missed.
                    if s >= 1 { s -= 1; shift += 1 }
                    for c in 0..<3 { positions[3 * i + c] -= shift * h[3 * a + c] }
                }
                fractional[3 * i + a] = s
            }
        }
        let estimate = Double(n) * imagesPerAtom
        guard estimate <= 2e8 else { throw .geometry("the structure needs too many periodic images (about \(Int(estimate)))") }
        for s0 in -reach[0]...reach[0] {
            for s1 in -reach[1]...reach[1] {
                for s2 in -reach[2]...reach[2] where s0 != 0 || s1 != 0 || s2 != 0 {
                    let shift = [Double(s0), Double(s1), Double(s2)]
                    let offset = (0..<3).map { c in shift[0] * h[c] + shift[1] * h[3 + c] + shift[2] * h[6 + c] }
                    for i in 0..<n {
                        var keep = true
                        for a in 0..<3 where periodic[a] {
                            let s = fractional[3 * i + a] + shift[a]
                            if s < -margin[a] || s > 1 + margin[a] { keep = false; break }
                        }
                        guard keep else { continue }
                        let image = (positions[3 * i] + offset[0], positions[3 * i + 1] + offset[1], positions[3 * i + 2] + offset[2])
                        positions.append(image.0); positions.append(image.1); positions.append(image.2)
                        species.append(species[i])
                        owner.append(i)
                    }
                }
            }
        }
    }
}
