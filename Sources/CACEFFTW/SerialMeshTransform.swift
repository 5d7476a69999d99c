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
/// the spectrum is the whole mesh. Complex-to-complex transforms, planned with FFTW_ESTIMATE
/// once per mesh size (docs/long-range.md: the plan choice).
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
        let input = plans.input
        var p = 0
        for z in 0..<kz {
            for y in 0..<ky {
                let row = brick + index(0, y, z)
                for x in 0..<kx { input[2 * p] = row[x]; input[2 * p + 1] = 0; p += 1 }
            }
        }
        plans.execute(forward: true)
        spectrum.update(from: plans.output, count: 2 * plans.points)
    }

    public func backward(_ spectrum: UnsafePointer<Double>, _ brick: UnsafeMutablePointer<Double>) {
        let (kx, ky, kz) = (mesh[0], mesh[1], mesh[2])
        plans.input.update(from: spectrum, count: 2 * plans.points)
        plans.execute(forward: false)
        let output = plans.output
        var p = 0
        for z in 0..<kz {
            for y in 0..<ky {
                let row = brick + index(0, y, z)
                for x in 0..<kx { row[x] = output[2 * p]; p += 1 }
            }
        }
    }
}

/// FFTW's forward and backward plans of one mesh size and their arrays (out of place).
final class FFTWPlans {
    let mesh: [Int]
    let points: Int
    let input: UnsafeMutablePointer<Double>, output: UnsafeMutablePointer<Double>
    private let forwardPlan: fftw_plan, backwardPlan: fftw_plan

    init?(mesh: [Int]) {
        self.mesh = mesh
        points = mesh.reduce(1, *)
        guard let i = fftw_malloc(16 * points), let o = fftw_malloc(16 * points) else { return nil }
        input = i.bindMemory(to: Double.self, capacity: 2 * points)
        output = o.bindMemory(to: Double.self, capacity: 2 * points)
        input.initialize(repeating: 0, count: 2 * points)
        output.initialize(repeating: 0, count: 2 * points)
        // FFTW's planner is not thread-safe: one plan at a time in this process.
        plannerLock.lock()
        defer { plannerLock.unlock() }
        let ci = OpaquePointer(i), co = OpaquePointer(o)
        // fftw_plan_dft_3d takes n0 (slowest) ... n2 (fastest): z, y, x.
        guard let f = fftw_plan_dft_3d(Int32(mesh[2]), Int32(mesh[1]), Int32(mesh[0]), .init(ci), .init(co),
                                       FFTW_FORWARD, FFTW_ESTIMATE),
              let b = fftw_plan_dft_3d(Int32(mesh[2]), Int32(mesh[1]), Int32(mesh[0]), .init(ci), .init(co),
                                       FFTW_BACKWARD, FFTW_ESTIMATE) else {
            fftw_free(i); fftw_free(o)
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
        fftw_free(input)
        fftw_free(output)
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
