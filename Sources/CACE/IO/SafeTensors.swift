/// A dense float64 tensor read from a safetensors file (row-major).
public struct Tensor: Sendable {
    public let shape: [Int]
    public let values: [Double]

    public var count: Int { values.count }
}

/// Reader for the safetensors container: an 8-byte little-endian header length, a JSON
/// header, then raw little-endian tensor data. Only F64 and F32 tensors are accepted;
/// F32 values are widened to Double.
public struct SafeTensors: Sendable {
    public let tensors: [String: Tensor]
    /// The `__metadata__` object: string keys to string values.
    public let metadata: [String: String]

    /// The header may not claim more than this many bytes (the spec's own limit is 100 MB).
    static let maxHeaderBytes = 100_000_000

    public init(contentsOf path: String) throws(CACEError) {
        let bytes = try readFileBytes(path)
        try self.init(bytes: bytes, name: path)
    }

    public init(bytes: [UInt8], name: String = "<memory>") throws(CACEError) {
        func fail(_ what: String) -> CACEError { .format("\(name): not a valid safetensors file: \(what)") }
        guard bytes.count >= 8 else { throw fail("file is \(bytes.count) bytes, shorter than the 8-byte header length") }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(Self.maxHeaderBytes), Int(headerLength) <= bytes.count - 8 else {
            throw fail("header claims \(headerLength) bytes but the file has \(bytes.count - 8) after the length field")
        }
        let headerEnd = 8 + Int(headerLength)
        let header: JSONValue
        do {
            header = try JSONParser.parse(bytes[8..<headerEnd])
        } catch {
            throw fail("header is not JSON (\(error.description))")
        }
        guard case .object(let entries) = header else { throw fail("header is not a JSON object") }

        let dataCount = bytes.count - headerEnd
        var metadata: [String: String] = [:]
        var ranges: [(name: String, start: Int, end: Int)] = []
        // Bytes the tensors decoded so far claim: the data block is covered without overlaps, so
        // more than it holds means tensors share bytes. Checked before decoding each tensor, so
        // that a small file cannot make many tensors decode the same bytes again and again.
        var claimed = 0
        var tensors: [String: Tensor] = [:]
        for (key, entry) in entries {
            if key == "__metadata__" {
                guard case .object(let members) = entry else { throw fail("__metadata__ is not an object") }
                for (k, v) in members {
                    guard case .string(let s) = v else { throw fail("__metadata__ value '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .string(let dtype)? = entry["dtype"] else { throw fail("tensor '\(key)' has no dtype") }
            let width: Int
            switch dtype {
            case "F64": width = 8
            case "F32": width = 4
            default: throw CACEError.format("\(name): tensor '\(key)' has dtype \(dtype); only F64 and F32 are supported")
            }
            guard case .array(let shapeValues)? = entry["shape"] else { throw fail("tensor '\(key)' has no shape") }
            var shape: [Int] = []
            var elementCount = 1
            for value in shapeValues {
                guard case .number(let n) = value, n >= 0, n <= 1e12, n == n.rounded() else {
                    throw fail("tensor '\(key)' has an invalid shape")
                }
                shape.append(Int(n))
                let (product, overflow) = elementCount.multipliedReportingOverflow(by: Int(n))
                guard !overflow, product <= dataCount else { throw fail("tensor '\(key)' is larger than the file") }
                elementCount = product
            }
            guard case .array(let offsets)? = entry["data_offsets"], offsets.count == 2,
                  case .number(let a) = offsets[0], case .number(let b) = offsets[1],
                  a >= 0, b >= a, b <= Double(dataCount), a == a.rounded(), b == b.rounded() else {
                throw fail("tensor '\(key)' has data_offsets outside the \(dataCount) data bytes")
            }
            let start = Int(a), end = Int(b)
            guard end - start == elementCount * width else {
                throw fail("tensor '\(key)' has \(end - start) bytes but shape \(shape) of \(dtype) needs \(elementCount * width)")
            }
            claimed += end - start
            guard claimed <= dataCount else {
                throw fail("the tensors claim more than the \(dataCount) data bytes (tensor '\(key)' overlaps another)")
            }
            ranges.append((key, start, end))
            let base = headerEnd + start
            var values = [Double](repeating: 0, count: elementCount)
            if width == 8 {
                for i in 0..<elementCount {
                    var bits: UInt64 = 0
                    for byte in 0..<8 { bits |= UInt64(bytes[base + 8 * i + byte]) << (8 * UInt64(byte)) }
                    values[i] = Double(bitPattern: bits)
                }
            } else {
                for i in 0..<elementCount {
                    var bits: UInt32 = 0
                    for byte in 0..<4 { bits |= UInt32(bytes[base + 4 * i + byte]) << (8 * UInt32(byte)) }
                    values[i] = Double(Float(bitPattern: bits))
                }
            }
            tensors[key] = Tensor(shape: shape, values: values)
        }
        // The data block must be covered exactly, without overlaps (safetensors rule).
        ranges.sort { ($0.start, $0.end) < ($1.start, $1.end) }
        var covered = 0
        for range in ranges {
            guard range.start == covered else {
                throw fail(range.start < covered ? "tensor '\(range.name)' overlaps another tensor"
                                                 : "data has a gap before tensor '\(range.name)'")
            }
            covered = range.end
        }
        guard covered == dataCount else { throw fail("\(dataCount - covered) trailing data bytes belong to no tensor") }
        self.tensors = tensors
        self.metadata = metadata
    }
}
