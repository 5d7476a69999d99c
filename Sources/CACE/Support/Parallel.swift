#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits 0..<count into `workers` contiguous chunks and runs them concurrently, chunk 0 on
/// the calling thread; the chunk boundaries depend only on (count, workers), so results are
/// reproducible. The first error thrown by any chunk is rethrown.
///
/// Plain POSIX threads, not Dispatch: libdispatch's pool on Linux sizes itself by the load it
/// sees, while a `threads N` request should mean N threads; the plugin also avoids keeping
/// Dispatch worker threads alive inside LAMMPS.
func parallelChunks(count: Int, workers: Int, _ body: (Int, Range<Int>) throws(CACEError) -> Void) throws(CACEError) {
    if workers <= 1 {
        try body(0, 0..<count)
        return
    }
    var errors = [CACEError?](repeating: nil, count: workers)
    errors.withUnsafeMutableBufferPointer { buffer in
        let slots = buffer.baseAddress.unsafelyUnwrapped
        withoutActuallyEscaping(body) { escapable in
            let chunk = { (worker: Int) in
                let range = (count * worker / workers)..<(count * (worker + 1) / workers)
                do throws(CACEError) { try escapable(worker, range) } catch { slots[worker] = error }
            }
            var threads: [pthread_t] = []
            for worker in 1..<workers {
                let task = Unmanaged.passRetained(WorkerTask { chunk(worker) })
                var thread = pthread_t()
                if pthread_create(&thread, nil, { context in
                    let task = Unmanaged<WorkerTask>.fromOpaque(context!).takeRetainedValue()
                    task.run()
                    return nil
                }, task.toOpaque()) == 0 {
                    threads.append(thread)
                } else {
                    task.release()
                    chunk(worker)   // no thread could be had: run this chunk here
                }
            }
            chunk(0)
            for thread in threads { pthread_join(thread, nil) }
        }
    }
    if let error = errors.compactMap({ $0 }).first { throw error }
}

/// A chunk of work handed to a POSIX thread. Each chunk touches only its own slot, its own
/// atoms and its own buffers, hence the unchecked Sendable.
private final class WorkerTask: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
