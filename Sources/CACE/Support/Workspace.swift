/// A growable scratch array that is reused between evaluations, so that hot loops never
/// allocate.
final class Scratch<Element: Numeric> {
    private(set) var pointer: UnsafeMutablePointer<Element>
    private(set) var capacity: Int

    init(_ capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Returns storage for at least `count` elements, set to zero.
    func zeroed(_ count: Int) -> UnsafeMutablePointer<Element> {
        let p = reserve(count)
        p.initialize(repeating: .zero, count: max(count, 1))
        return p
    }

    /// Returns storage for at least `count` elements with unspecified contents.
    func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            capacity = count + count / 4
            pointer = .allocate(capacity: capacity)
        }
        return pointer
    }
}

extension Scratch {
    /// Consecutive pieces of one reservation, one per size.
    func carve(_ sizes: [Int]) -> [UnsafeMutablePointer<Element>] {
        var cursor = reserve(sizes.reduce(0, +))
        var parts: [UnsafeMutablePointer<Element>] = []
        for size in sizes { parts.append(cursor); cursor += size }
        return parts
    }
}

extension Scratch where Element == Double {
    /// Consecutive pieces of one reservation, one per size, holding `T` (Float pieces take
    /// half the space). One precision uses the buffer at a time.
    func carve<T: FeatureScalar>(_ sizes: [Int], as type: T.Type) -> [UnsafeMutablePointer<T>] {
        let padded = sizes.map { ($0 + 7) / 8 * 8 }   // keep every piece 64-byte aligned relative to the start
        let bytes = padded.reduce(0, +) * MemoryLayout<T>.stride
        let raw = UnsafeMutableRawPointer(reserve((bytes + 7) / 8))
        var cursor = raw.bindMemory(to: T.self, capacity: padded.reduce(0, +))
        var parts: [UnsafeMutablePointer<T>] = []
        for size in padded { parts.append(cursor); cursor += size }
        return parts
    }
}

typealias ScratchBuffer = Scratch<Double>
typealias IndexBuffer = Scratch<Int>
