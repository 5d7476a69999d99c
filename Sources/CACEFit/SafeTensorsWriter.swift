import CACE
import CACEStructures
import Foundation

/// Writes a safetensors file the way the exporter does (model-format §1): `__metadata__` first,
/// then the tensors sorted by name, packed in that order as little-endian F64, compact JSON
/// header padded with spaces to a multiple of 8 bytes.
public struct SafeTensorsWriter {
    public struct Tensor: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Double]
        public init(_ name: String, _ shape: [Int], _ values: [Double]) {
            self.name = name; self.shape = shape; self.values = values
        }
    }

    public var tensors: [Tensor] = []
    public var metadata: [(String, String)] = []

    public init() {}

    public mutating func add(_ name: String, _ shape: [Int], _ values: [Double]) {
        tensors.append(Tensor(name, shape, values))
    }

    /// The file's bytes. Refuses a shape that does not match its values, a repeated name and a
    /// non-finite value.
    public func bytes() throws(FitError) -> [UInt8] {
        let sorted = tensors.sorted { $0.name < $1.name }
        var seen = Set<String>()
        var entries: [(String, JSONValue)] = [("__metadata__", .object(metadata.map { ($0.0, .string($0.1)) }))]
        var offset = 0
        for t in sorted {
            guard seen.insert(t.name).inserted else { throw .internal("tensor \(t.name) written twice") }
            guard t.shape.reduce(1, *) == t.values.count else {
                throw .internal("tensor \(t.name): shape \(t.shape) does not hold \(t.values.count) values")
            }
            guard t.values.allSatisfy({ $0.isFinite }) else { throw .numerical("tensor \(t.name) has a non-finite value") }
            let size = 8 * t.values.count
            entries.append((t.name, .object([("dtype", .string("F64")), ("shape", .ints(t.shape)),
                                              ("data_offsets", .ints([offset, offset + size]))])))
            offset += size
        }
        var header = Array(JSONValue.object(entries).text.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out += header
        for t in sorted {
            for v in t.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        }
        return out
    }

    /// Writes the file atomically: a temporary file in the same directory, then a rename, so a
    /// reader never sees half a file and a failed write leaves an existing file untouched.
    public func write(to path: String) throws(FitError) {
        let data = try bytes()
        try Self.writeAtomically(data, to: path)
    }

    static func writeAtomically(_ data: [UInt8], to path: String) throws(FitError) {
        do {
            try AtomicFile.write(data, to: path)
        } catch {
            throw .io(error.description)
        }
    }
}
