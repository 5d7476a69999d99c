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

    /// Elements asked for by the last `reserve` (capacity may exceed it, untouched).
    private(set) var used = 0

    /// Bytes in use after the last `reserve`.
    var bytes: Int { used * MemoryLayout<Element>.stride }

    /// Returns storage for at least `count` elements, set to zero.
    func zeroed(_ count: Int) -> UnsafeMutablePointer<Element> {
        let p = reserve(count)
        p.initialize(repeating: .zero, count: max(count, 1))
        return p
    }

    /// Returns storage for at least `count` elements with unspecified contents.
    func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        used = count
        if count > capacity {
            pointer.deallocate()
            capacity = count + count / 4
            pointer = .allocate(capacity: capacity)
        }
        return pointer
    }
}

/// Named pieces of one scratch reservation. Each `piece` returns the offset of a new piece,
/// so every piece is bound to its name where it is declared: adding a piece cannot shift
/// another. Pieces are padded to 8 elements (64 bytes of Double), keeping vectors aligned.
struct ScratchLayout {
    private(set) var count = 0

    mutating func piece(_ size: Int) -> Int {
        defer { count += (max(size, 0) + 7) / 8 * 8 }
        return count
    }
}

extension Scratch {
    /// Storage for `layout`: add a piece's offset to the returned pointer.
    func reserve(_ layout: ScratchLayout) -> UnsafeMutablePointer<Element> { reserve(layout.count) }
}

extension Scratch where Element == Double {
    /// Storage for `layout` in elements of `T` (Float pieces take half the space). One
    /// precision uses the buffer at a time.
    func reserve<T: FeatureScalar>(_ layout: ScratchLayout, as type: T.Type) -> UnsafeMutablePointer<T> {
        let bytes = layout.count * MemoryLayout<T>.stride
        return UnsafeMutableRawPointer(reserve((bytes + 7) / 8)).bindMemory(to: T.self, capacity: layout.count)
    }
}

typealias ScratchBuffer = Scratch<Double>
typealias IndexBuffer = Scratch<Int>
