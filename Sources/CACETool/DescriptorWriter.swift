#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CACE
import CACEStructures

/// Output of `cace features`: JSON text, or NumPy .npy files (format version 1.0).
enum DescriptorWriter {
    static func json(_ d: Descriptors) -> String {
        func rows(_ values: [Double], width: Int) -> String {
            guard width > 0 else { return "[]" }
            let lines = stride(from: 0, to: values.count, by: width).map { OutputWriter.list(Array(values[$0..<($0 + width)])) }
            return "[" + lines.joined(separator: ", ") + "]"
        }
        var fields = ["\"feature_count\": \(d.featureCount)", "\"atoms\": \(d.atoms)",
                      "\"features\": \(rows(d.features, width: d.featureCount))"]
        if !d.edgeReceivers.isEmpty || !d.jacobians.isEmpty {
            let jacobians = stride(from: 0, to: d.jacobians.count, by: 3 * d.featureCount).map {
                rows(Array(d.jacobians[$0..<($0 + 3 * d.featureCount)]), width: 3)
            }
            fields += ["\"edge_receivers\": \(d.edgeReceivers)", "\"edge_senders\": \(d.edgeSenders)",
                       "\"edge_vectors\": \(rows(d.edgeVectors, width: 3))",
                       "\"jacobians\": [\(jacobians.joined(separator: ", "))]"]
        }
        if let stacked = d.stackedFeatures {
            fields.append("\"stacked_features\": \(rows(stacked, width: d.stackedFeatureCount))")
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    static func npy(_ d: Descriptors, directory: String, prefix: String) throws {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw CLIError("cannot create directory '\(directory)': \(String(cString: strerror(errno)))")
        }
        let path = { (name: String) in directory + "/" + prefix + name + ".npy" }
        try write(doubles: d.features, shape: [d.atoms.count, d.featureCount], to: path("features"))
        if !d.jacobians.isEmpty || !d.edgeReceivers.isEmpty {
            let edges = zip(d.edgeReceivers, d.edgeSenders).flatMap { [Int64($0), Int64($1)] }
            try write(integers: edges, shape: [d.edgeReceivers.count, 2], to: path("edges"))
            try write(doubles: d.edgeVectors, shape: [d.edgeReceivers.count, 3], to: path("edge_vectors"))
            try write(doubles: d.jacobians, shape: [d.edgeReceivers.count, d.featureCount, 3], to: path("jacobians"))
        }
        if let stacked = d.stackedFeatures {
            try write(doubles: stacked, shape: [d.atoms.count, d.stackedFeatureCount], to: path("stacked_features"))
        }
    }

    static func write(doubles values: [Double], shape: [Int], to path: String) throws {
        var bytes = header(descr: "<f8", shape: shape)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try writeFile(bytes, to: path)
    }

    static func write(integers values: [Int64], shape: [Int], to path: String) throws {
        var bytes = header(descr: "<i8", shape: shape)
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        try writeFile(bytes, to: path)
    }

    /// The magic, version 1.0 and a dictionary padded so that the data starts at a multiple of 64.
    static func header(descr: String, shape: [Int]) -> [UInt8] {
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var text = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        while (10 + text.utf8.count + 1) % 64 != 0 { text += " " }
        text += "\n"
        let length = UInt16(text.utf8.count)
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(text.utf8)
    }

    /// Whole or not at all: a temporary file renamed into place (AtomicFile), so a failed or
    /// killed run leaves an earlier file of the same name as it was.
    static func writeFile(_ bytes: [UInt8], to path: String) throws {
        do {
            try AtomicFile.write(bytes, to: path)
        } catch {
            throw CLIError(error.description)
        }
    }
}
