/// Accumulates the virial and per-atom virials of edge forces.
struct VirialTally {
    var w = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    /// Edge from sender j to receiver i with r = x_i - x_j and gradient g = dE/dr.
    @inline(__always)
    mutating func add(_ r: (Double, Double, Double), _ g: (Double, Double, Double), receiver i: Int, sender j: Int,
                      atomVirials: UnsafeMutablePointer<Double>?) {
        let xx = -r.0 * g.0, yy = -r.1 * g.1, zz = -r.2 * g.2
        let xy = -0.5 * (r.0 * g.1 + r.1 * g.0)
        let xz = -0.5 * (r.0 * g.2 + r.2 * g.0)
        let yz = -0.5 * (r.1 * g.2 + r.2 * g.1)
        w.0 += xx; w.1 += yy; w.2 += zz; w.3 += xy; w.4 += xz; w.5 += yz
        guard let v = atomVirials else { return }
        // Half of the edge's virial to each of its two atoms.
        let vi = v + 6 * i, vj = v + 6 * j
        vi[0] += 0.5 * xx; vi[1] += 0.5 * yy; vi[2] += 0.5 * zz; vi[3] += 0.5 * xy; vi[4] += 0.5 * xz; vi[5] += 0.5 * yz
        vj[0] += 0.5 * xx; vj[1] += 0.5 * yy; vj[2] += 0.5 * zz; vj[3] += 0.5 * xy; vj[4] += 0.5 * xz; vj[5] += 0.5 * yz
    }

    var components: [Double] { [w.0, w.1, w.2, w.3, w.4, w.5] }
}

@inline(__always)
func applyEdgeForce(_ g: (Double, Double, Double), receiver i: Int, sender j: Int, forces: UnsafeMutablePointer<Double>) {
    forces[3 * i] -= g.0; forces[3 * i + 1] -= g.1; forces[3 * i + 2] -= g.2
    forces[3 * j] += g.0; forces[3 * j + 1] += g.1; forces[3 * j + 2] += g.2
}
