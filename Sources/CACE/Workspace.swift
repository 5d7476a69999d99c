/// A growable scratch buffer of Doubles that is reused between evaluations, so that hot
/// loops never allocate.
final class ScratchBuffer {
    private(set) var pointer: UnsafeMutablePointer<Double>
    private(set) var capacity: Int

    init(_ capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Returns a buffer of at least `count` doubles, set to zero.
    func zeroed(_ count: Int) -> UnsafeMutablePointer<Double> {
        let p = reserve(count)
        p.initialize(repeating: 0, count: max(count, 1))
        return p
    }

    /// Returns a buffer of at least `count` doubles with unspecified contents.
    func reserve(_ count: Int) -> UnsafeMutablePointer<Double> {
        if count > capacity {
            pointer.deallocate()
            capacity = count + count / 4
            pointer = .allocate(capacity: capacity)
        }
        return pointer
    }
}

/// Integer counterpart of `ScratchBuffer`.
final class IndexBuffer {
    private(set) var pointer: UnsafeMutablePointer<Int>
    private(set) var capacity: Int

    init(_ capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
    }

    deinit { pointer.deallocate() }

    func reserve(_ count: Int) -> UnsafeMutablePointer<Int> {
        if count > capacity {
            pointer.deallocate()
            capacity = count + count / 4
            pointer = .allocate(capacity: capacity)
        }
        return pointer
    }
}
