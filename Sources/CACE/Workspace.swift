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

typealias ScratchBuffer = Scratch<Double>
typealias IndexBuffer = Scratch<Int>
