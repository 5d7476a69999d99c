/// The mesh and 3-D FFT of the particle-mesh long-range method, as the host provides it (in C:
/// `struct cace_mesh_host`, cace.h). The library spreads charges onto a brick of mesh points and
/// interpolates back from it; the transform owns the exchanges and the FFT, so a distributed
/// host (LAMMPS's Grid3d, Remap and FFT3d) and a serial FFT (CACEFFTW) look the same.
///
/// Conventions (exactly those of cace.h):
/// * A brick is a [z][y][x] array of Double over `brickLow ... brickHigh` (inclusive global point
///   indices, axis a fastest). Its points outside 0 ..< mesh stand for their periodic images
///   (ghost points); the points this rank owns lie inside.
/// * A spectrum is a [z][y][x] array of complex numbers (re, im) over
///   `spectrumLow ... spectrumHigh` (inside 0 ..< mesh).
/// * An atom at u_a = mesh_a s_a (s: fractional coordinates relative to `origin`) spreads onto the
///   points floor(u_a) - p + 1 ... floor(u_a) of each axis; the library shifts that stencil by a
///   multiple of mesh_a so that it lies inside the brick.
public protocol MeshTransform: AnyObject {
    /// Global mesh points along a, b, c.
    var mesh: [Int] { get }
    var brickLow: [Int] { get }
    var brickHigh: [Int] { get }
    var spectrumLow: [Int] { get }
    var spectrumHigh: [Int] { get }
    /// Cartesian position of mesh point (0, 0, 0).
    var origin: [Double] { get }
    /// Adds the value of every ghost point into the point that owns it.
    func sumGhosts(_ brick: UnsafeMutablePointer<Double>)
    /// Copies the values of owned points onto every ghost point that stands for them.
    func fillGhosts(_ brick: UnsafeMutablePointer<Double>)
    /// Owned points -> spectrum: F(m) = sum_g f(g) exp(-2 pi i sum_a m_a g_a / K_a), unnormalised.
    func forward(_ brick: UnsafePointer<Double>, _ spectrum: UnsafeMutablePointer<Double>)
    /// Spectrum -> owned points: f(g) = Re sum_m F(m) exp(+2 pi i sum_a m_a g_a / K_a), unnormalised.
    func backward(_ spectrum: UnsafePointer<Double>, _ brick: UnsafeMutablePointer<Double>)
}

/// Hands the particle-mesh method a transform for a mesh of a given size: a serial FFT that
/// caches its plans, or the host's distributed mesh (which must have that size).
public protocol MeshTransformProvider: AnyObject {
    /// A transform over `mesh` points whose brick can hold the stencils of B-splines of `order`.
    func transform(mesh: [Int], order: Int) throws(CACEError) -> any MeshTransform
}

extension MeshTransform {
    /// Points of the brick, ghosts included.
    var brickCount: Int { (0..<3).reduce(1) { $0 * max(0, brickHigh[$1] - brickLow[$1] + 1) } }
    /// Points of the spectrum part.
    var spectrumCount: Int { (0..<3).reduce(1) { $0 * max(0, spectrumHigh[$1] - spectrumLow[$1] + 1) } }

    /// Refuses bounds that are inconsistent with the mesh (a host's bug, reported, not trapped on).
    func checkBounds(mesh expected: [Int]) throws(CACEError) {
        guard mesh.count == 3, brickLow.count == 3, brickHigh.count == 3, spectrumLow.count == 3,
              spectrumHigh.count == 3, origin.count == 3 else {
            throw .argument("the mesh transform must give three bounds per axis and a 3-vector origin")
        }
        guard mesh == expected else {
            throw .argument("the host's mesh is \(mesh.map(String.init).joined(separator: "x")) points but the "
                + "long-range plan needs \(expected.map(String.init).joined(separator: "x")): pin the long-range "
                + "term and build the mesh from the plan")
        }
        for a in 0..<3 {
            guard brickHigh[a] - brickLow[a] < 4 * mesh[a] + 64, spectrumLow[a] >= 0, spectrumHigh[a] < mesh[a],
                  spectrumHigh[a] - spectrumLow[a] >= -1, brickHigh[a] - brickLow[a] >= -1 else {
                throw .argument("the host's mesh bounds along axis \(a + 1) are inconsistent: brick "
                    + "\(brickLow[a])...\(brickHigh[a]), spectrum \(spectrumLow[a])...\(spectrumHigh[a]) on a mesh of \(mesh[a])")
            }
        }
        guard origin.allSatisfy({ $0.isFinite }) else { throw .argument("the mesh origin is not finite: \(origin)") }
    }
}
