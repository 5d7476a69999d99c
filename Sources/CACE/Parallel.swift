import Dispatch

/// Splits 0..<count into `workers` contiguous chunks and runs them concurrently; the chunk
/// boundaries depend only on (count, workers), so results are reproducible. The first error
/// thrown by any chunk is rethrown.
func parallelChunks(count: Int, workers: Int, _ body: (Int, Range<Int>) throws(CACEError) -> Void) throws(CACEError) {
    if workers <= 1 {
        try body(0, 0..<count)
        return
    }
    var errors = [CACEError?](repeating: nil, count: workers)
    errors.withUnsafeMutableBufferPointer { slots in
        withoutActuallyEscaping(body) { escapable in
            let box = UncheckedBox(body: escapable, slots: slots.baseAddress.unsafelyUnwrapped)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let range = (count * worker / workers)..<(count * (worker + 1) / workers)
                do throws(CACEError) { try box.body(worker, range) } catch { box.slots[worker] = error }
            }
        }
    }
    if let error = errors.compactMap({ $0 }).first { throw error }
}

/// Carries non-Sendable values into concurrentPerform; each worker touches only its own
/// slot and its own chunk of atoms.
private struct UncheckedBox: @unchecked Sendable {
    let body: (Int, Range<Int>) throws(CACEError) -> Void
    let slots: UnsafeMutablePointer<CACEError?>
}
