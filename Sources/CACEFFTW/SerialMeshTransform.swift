import CACE
import CFFTW
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The whole mesh on one domain with FFTW3: the brick is the mesh plus p - 1 ghost points below
/// each axis (so any stencil, shifted by whole periods, fits), ghosts fold periodically, and
/// the spectrum is the whole mesh. The mesh values are real, so the transforms are real-to-complex
/// and complex-to-real (half the work of complex transforms), planned with FFTW_ESTIMATE once
/// per mesh size (docs/long-range.md: the plan choice). `forward` fills the other half of the
/// spectrum from F(-m) = conj F(m); `backward` reads the half m_x <= K_x / 2, which is the whole
/// answer because the library's spectra are Hermitian (the influence function is even in m).
public final class SerialMeshTransform: MeshTransform {
    public let mesh: [Int]
    public let brickLow: [Int]
    public let brickHigh: [Int]
    public let spectrumLow: [Int]
    public let spectrumHigh: [Int]
    public let origin: [Double] = [0, 0, 0]
    private let plans: FFTWPlans
    private let ghosts: Int
    private let brickRow: Int, brickPlane: Int

    init(plans: FFTWPlans, order: Int) {
        mesh = plans.mesh
        ghosts = max(order - 1, 0)
        brickLow = [-ghosts, -ghosts, -ghosts]
        brickHigh = mesh.map { $0 - 1 }
        spectrumLow = [0, 0, 0]
        spectrumHigh = mesh.map { $0 - 1 }
        self.plans = plans
        brickRow = mesh[0] + ghosts
        brickPlane = brickRow * (mesh[1] + ghosts)
    }

    /// Brick index of global point (x, y, z), ghosts at negative coordinates.
    @inline(__always) private func index(_ x: Int, _ y: Int, _ z: Int) -> Int {
        (z + ghosts) * brickPlane + (y + ghosts) * brickRow + (x + ghosts)
    }

    public func sumGhosts(_ brick: UnsafeMutablePointer<Double>) {
        let (kx, ky, kz) = (mesh[0], mesh[1], mesh[2])
        // Axis by axis: a corner ghost moves along x, then y, then z into its owner.
        for z in -ghosts..<kz { for y in -ghosts..<ky { for x in -ghosts..<0 { brick[index(x + kx, y, z)] += brick[index(x, y, z)] } } }
        for z in -ghosts..<kz { for y in -ghosts..<0 { for x in 0..<kx { brick[index(x, y + ky, z)] += brick[index(x, y, z)] } } }
        for z in -ghosts..<0 { for y in 0..<ky { for x in 0..<kx { brick[index(x, y, z + kz)] += brick[index(x, y, z)] } } }
    }

    public func fillGhosts(_ brick: UnsafeMutablePointer<Double>) {
        let (kx, ky, kz) = (mesh[0], mesh[1], mesh[2])
        for z in 0..<kz { for y in 0..<ky { for x in -ghosts..<0 { brick[index(x, y, z)] = brick[index(x + kx, y, z)] } } }
        for z in 0..<kz { for y in -ghosts..<0 { for x in -ghosts..<kx { brick[index(x, y, z)] = brick[index(x, y + ky, z)] } } }
        for z in -ghosts..<0 { for y in -ghosts..<ky { for x in -ghosts..<kx { brick[index(x, y, z)] = brick[index(x, y, z + kz)] } } }
    }

    public func forward(_ brick: UnsafePointer<Double>, _ spectrum: UnsafeMutablePointer<Double>) {
        let (kx, ky, kz) = (mesh[0], mesh[1], mesh[2])
        let real = plans.real
        for z in 0..<kz {
            for y in 0..<ky { (real + (z * ky + y) * kx).update(from: brick + index(0, y, z), count: kx) }
        }
        plans.execute(forward: true)
        // half[z][y][m], m = 0 ... kx/2, to the whole spectrum; m > kx/2 from the conjugate at -(x, y, z).
        let half = plans.half, halfRow = plans.halfRow
        for z in 0..<kz {
            let zm = (kz - z) % kz
            for y in 0..<ky {
                let ym = (ky - y) % ky
                let target = spectrum + 2 * (z * ky + y) * kx
                target.update(from: half + 2 * (z * ky + y) * halfRow, count: 2 * halfRow)
                let mirror = half + 2 * (zm * ky + ym) * halfRow
                for m in halfRow..<kx {
                    target[2 * m] = mirror[2 * (kx - m)]
                    target[2 * m + 1] = -mirror[2 * (kx - m) + 1]
                }
            }
        }
    }

    public func backward(_ spectrum: UnsafePointer<Double>, _ brick: UnsafeMutablePointer<Double>) {
        let (kx, ky, kz) = (mesh[0], mesh[1], mesh[2])
        let half = plans.half, halfRow = plans.halfRow
        for row in 0..<(ky * kz) { (half + 2 * row * halfRow).update(from: spectrum + 2 * row * kx, count: 2 * halfRow) }
        plans.execute(forward: false)
        let real = plans.real
        for z in 0..<kz {
            for y in 0..<ky { (brick + index(0, y, z)).update(from: real + (z * ky + y) * kx, count: kx) }
        }
    }
}

/// FFTW's real-to-complex and complex-to-real plans of one mesh size and their arrays (out of
/// place): `real` holds K_z K_y K_x values, `half` K_z K_y (K_x / 2 + 1) complex numbers.
final class FFTWPlans {
    let mesh: [Int]
    let points: Int
    /// Complex numbers per row of the half spectrum.
    let halfRow: Int
    let real: UnsafeMutablePointer<Double>, half: UnsafeMutablePointer<Double>
    private let forwardPlan: fftw_plan, backwardPlan: fftw_plan

    init?(mesh: [Int]) {
        self.mesh = mesh
        points = mesh.reduce(1, *)
        halfRow = mesh[0] / 2 + 1
        let halfCount = mesh[1] * mesh[2] * halfRow
        guard let r = fftw_malloc(8 * points), let h = fftw_malloc(16 * halfCount) else { return nil }
        real = r.bindMemory(to: Double.self, capacity: points)
        half = h.bindMemory(to: Double.self, capacity: 2 * halfCount)
        real.initialize(repeating: 0, count: points)
        half.initialize(repeating: 0, count: 2 * halfCount)
        // FFTW's planner is not thread-safe: one plan at a time in this process.
        plannerLock.lock()
        defer { plannerLock.unlock() }
        let complex = OpaquePointer(h)
        // fftw_plan_dft_*_3d take n0 (slowest) ... n2 (fastest): z, y, x. The complex-to-real
        // transform overwrites its input (a copy of the spectrum), which FFTW_ESTIMATE allows.
        guard let f = fftw_plan_dft_r2c_3d(Int32(mesh[2]), Int32(mesh[1]), Int32(mesh[0]), real, .init(complex),
                                           FFTW_ESTIMATE),
              let b = fftw_plan_dft_c2r_3d(Int32(mesh[2]), Int32(mesh[1]), Int32(mesh[0]), .init(complex), real,
                                           FFTW_ESTIMATE) else {
            fftw_free(r); fftw_free(h)
            return nil
        }
        forwardPlan = f
        backwardPlan = b
    }

    func execute(forward: Bool) { fftw_execute(forward ? forwardPlan : backwardPlan) }

    deinit {
        plannerLock.lock()
        fftw_destroy_plan(forwardPlan)
        fftw_destroy_plan(backwardPlan)
        plannerLock.unlock()
        fftw_free(real)
        fftw_free(half)
    }
}

/// Serial transforms for the particle-mesh method, keeping the plans of the last mesh size
/// (a pinned run, or a CLI run over frames of one cell, plans once).
public final class SerialMeshTransforms: MeshTransformProvider {
    private var plans: FFTWPlans? = nil
    private var last: SerialMeshTransform? = nil

    public init() {}

    public func transform(mesh: [Int], order: Int) throws(CACEError) -> any MeshTransform {
        if let last, last.mesh == mesh, last.brickLow[0] == -max(order - 1, 0) { return last }
        if plans?.mesh != mesh {
            plans = nil   // free the old arrays first
            guard mesh.count == 3, mesh.allSatisfy({ $0 >= 1 }), let made = FFTWPlans(mesh: mesh) else {
                throw .geometry("FFTW could not plan a \(mesh.map(String.init).joined(separator: "x")) mesh (out of memory?)")
            }
            plans = made
        }
        guard let plans else { throw .geometry("no FFTW plan") }
        let transform = SerialMeshTransform(plans: plans, order: order)
        last = transform
        return transform
    }
}

/// Serialises FFTW's planner across threads (evaluators of several models in one process).
final class PlannerLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    func lock() { pthread_mutex_lock(&mutex) }
    func unlock() { pthread_mutex_unlock(&mutex) }
}

let plannerLock = PlannerLock()
