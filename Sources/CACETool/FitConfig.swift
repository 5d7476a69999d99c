import Foundation

/// `cace fit --config FILE.json`: a JSON object whose keys are the long option names of
/// `cace fit` without the dashes' prefix ("max-l": 2, "solver": "qr", "config-weight":
/// {"liquid": 2}), plus "training" for the data. Options given on the command line override
/// the file. Relative paths in the file are relative to the file's directory, so a config and
/// its data can move together.
struct FitConfig {
    enum Kind { case string, path, number, integer, flag, weights }

    /// Every key the file may hold, with its type.
    static let keys: [String: Kind] = [
        "training": .path, "output": .path, "validation": .path, "predictions": .path, "parity-plot": .path,
        "cutoff": .number, "lambda": .number, "smoothness": .number,
        "energy-weight": .number, "force-weight": .number, "virial-weight": .number,
        "max-l": .integer, "max-nu": .integer, "radial": .integer, "committee": .integer, "seed": .integer, "threads": .integer,
        "transform": .string, "table": .string, "basis": .string, "solver": .string,
        "config-weight": .weights, "quiet": .flag, "stream": .flag,
    ]

    let path: String
    private let file: Values
    private var integers: [String: Int] = [:]

    /// The file's values, typed by JSONDecoder (a wrong type is a DecodingError naming the key).
    private struct Values: Decodable {
        var training, output, validation, predictions, parityPlot: String?
        var cutoff, lambda, smoothness, energyWeight, forceWeight, virialWeight: Double?
        // whole numbers are read as numbers and checked here (JSONDecoder's own error for 4.5
        // as an Int names no key on Linux)
        var maxL, maxNu, radial, committee, threads, seed: Double?
        var transform, table, basis, solver: String?
        var configWeight: [String: Double]?
        var quiet, stream: Bool?

        enum CodingKeys: String, CodingKey {
            case training, output, validation, predictions, parityPlot = "parity-plot"
            case cutoff, lambda, smoothness, energyWeight = "energy-weight", forceWeight = "force-weight", virialWeight = "virial-weight"
            case maxL = "max-l", maxNu = "max-nu", radial, committee, threads, seed
            case transform, table, basis, solver, configWeight = "config-weight", quiet, stream
        }
    }

    init(path: String) throws {
        self.path = path
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CLIError("--config \(path): cannot read the file")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let keys = (object as? [String: Any])?.keys else {
            throw CLIError("--config \(path): the file must hold one JSON object of option names and values")
        }
        for key in keys.sorted() where Self.keys[key] == nil {
            throw CLIError("--config \(path): unknown key '\(key)' (known: \(Self.keys.keys.sorted().joined(separator: ", ")))")
        }
        do {
            file = try JSONDecoder().decode(Values.self, from: data)
        } catch let DecodingError.typeMismatch(type, context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw CLIError("--config \(path): '\(key)' must be \(Self.describe(type))")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            // e.g. 4.5 for an integer: JSONDecoder reports a number that does not fit
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            let kind = context.codingPath.first.flatMap { Self.keys[$0.stringValue] }
            throw CLIError("--config \(path): '\(key)' must be \(kind == .integer ? "a whole number" : "a valid value")")
        } catch {
            throw CLIError("--config \(path): the file does not match the options (\(error))")
        }
        for (key, value) in [("max-l", file.maxL), ("max-nu", file.maxNu), ("radial", file.radial),
                             ("committee", file.committee), ("threads", file.threads), ("seed", file.seed)] {
            guard let value else { continue }
            guard value == value.rounded(), value >= 0, value <= 9.007199254740992e15 else {
                throw CLIError("--config \(path): '\(key)' must be a whole number >= 0, got \(value)")
            }
            integers[key] = Int(value)
        }
        for (key, kind) in Self.keys where kind == .path {
            if let p = pathValue(key), p.isEmpty { throw CLIError("--config \(path): '\(key)' is an empty path") }
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type: return "a number"
        case is Int.Type, is UInt64.Type: return "a whole number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        default: return "an object of config_type: weight"
        }
    }

    private func pathValue(_ key: String) -> String? {
        switch key {
        case "training": return file.training
        case "output": return file.output
        case "validation": return file.validation
        case "predictions": return file.predictions
        case "parity-plot": return file.parityPlot
        default: return nil
        }
    }

    /// A path from the file, relative to the file's directory unless absolute.
    func path(_ key: String) -> String? {
        guard let s = pathValue(key), !s.isEmpty else { return nil }
        if s.hasPrefix("/") { return s }
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? s : (directory as NSString).appendingPathComponent(s)
    }

    var cutoff: Double? { file.cutoff }
    var lambda: Double? { file.lambda }
    var smoothness: Double? { file.smoothness }
    var energyWeight: Double? { file.energyWeight }
    var forceWeight: Double? { file.forceWeight }
    var virialWeight: Double? { file.virialWeight }
    var maxL: Int? { integers["max-l"] }
    var maxNu: Int? { integers["max-nu"] }
    var radial: Int? { integers["radial"] }
    var committee: Int? { integers["committee"] }
    var threads: Int? { integers["threads"] }
    var seed: UInt64? { integers["seed"].map { UInt64($0) } }
    var configWeights: [String: Double] { file.configWeight ?? [:] }
    var quiet: Bool { file.quiet ?? false }
    var stream: Bool { file.stream ?? false }

    /// One of `T`'s cases by raw value ("transform", "table", "basis", "solver").
    func choice<T: RawRepresentable & CaseIterable>(_ key: String, _: T.Type) throws -> T? where T.RawValue == String {
        let raw: String?
        switch key {
        case "transform": raw = file.transform
        case "table": raw = file.table
        case "basis": raw = file.basis
        case "solver": raw = file.solver
        default: raw = nil
        }
        guard let raw else { return nil }
        guard let v = T(rawValue: raw) else {
            throw CLIError("--config \(path): '\(key)' must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got '\(raw)'")
        }
        return v
    }
}
