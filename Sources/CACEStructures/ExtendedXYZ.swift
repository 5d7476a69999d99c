import CACE

/// Reader for (extended) XYZ files: one or many frames, each a count line, a comment line
/// of key=value pairs (Lattice, Properties, pbc), and one line per atom.
public enum ExtendedXYZ {
    public static func read(contentsOf path: String) throws(CACEError) -> [Structure] {
        let bytes = try readFileBytes(path, limit: 1 << 33)
        if let offset = bytes.firstIndex(of: 0) {
            throw .structure("\(path): not a text file (a NUL byte at offset \(offset)); expected extended XYZ")
        }
        return try parse(String(decoding: bytes, as: UTF8.self), name: path)
    }

    public static func parse(_ text: String, name: String = "<input>") throws(CACEError) -> [Structure] {
        // "\r\n" is one Character in Swift: Windows line ends must be split on explicitly.
        var lines: [Substring] = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        if let last = lines.last, last.allSatisfy({ $0 == " " || $0 == "\r" || $0 == "\t" }) { lines.removeLast() }
        var frames: [Structure] = []
        var index = 0
        while index < lines.count {
            let countLine = lines[index].trimmingWhitespace()
            if countLine.isEmpty { index += 1; continue }
            func fail(_ line: Int, _ what: String) -> CACEError { .structure("\(name):\(line + 1): \(what)") }
            guard let count = Int(countLine), count >= 0 else {
                throw fail(index, "expected an atom count, found '\(printable(countLine.prefix(40)))'")
            }
            guard count > 0 else { throw fail(index, "frame \(frames.count + 1) has no atoms") }
            guard count < lines.count, index + 1 + count < lines.count else {
                throw fail(index, "frame \(frames.count + 1) announces \(count) atoms but the file ends early")
            }
            let info = try parseComment(String(lines[index + 1]), fail: { fail(index + 1, $0) })
            var cell: [Double]? = nil
            if let lattice = info["lattice"] {
                let values = lattice.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Double($0) }
                guard values.count == 9, values.allSatisfy({ $0.isFinite }) else {
                    throw fail(index + 1, "Lattice must hold 9 numbers")
                }
                cell = values
            }
            var pbc = (cell != nil, cell != nil, cell != nil)
            if let p = info["pbc"] {
                let flags = p.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { $0.uppercased() }
                guard flags.count == 3, flags.allSatisfy({ ["T", "F", "TRUE", "FALSE", "1", "0"].contains($0) }) else {
                    throw fail(index + 1, "pbc must be three of T/F")
                }
                let b = flags.map { $0 == "T" || $0 == "TRUE" || $0 == "1" }
                pbc = (b[0], b[1], b[2])
            }
            if (pbc.0 || pbc.1 || pbc.2) && cell == nil { throw fail(index + 1, "pbc is set but there is no Lattice") }
            let declared = info["properties"]
            let columns = try propertyColumns(declared ?? "species:S:1:pos:R:3", fail: { fail(index + 1, $0) })
            var labels = try labels(info, fail: { fail(index + 1, $0) })
            var forces: [Double] = []
            var numbers: [Int] = []
            var positions: [Double] = []
            numbers.reserveCapacity(count)
            positions.reserveCapacity(3 * count)
            for a in 0..<count {
                let line = index + 2 + a
                let fields = lines[line].split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
                guard fields.count == columns.width else {
                    let spec = declared.map { "Properties=\($0) describes \(columns.width)" }
                        ?? "without Properties= a line holds 4 (species x y z); declare the extra columns with Properties="
                    throw fail(line, "atom line has \(fields.count) fields, but \(spec)")
                }
                let label = String(fields[columns.species])
                if columns.speciesIsNumber {
                    guard let z = Int(label), Elements.symbol(of: z) != nil else {
                        throw fail(line, "bad atomic number '\(printable(label.prefix(40)))'")
                    }
                    numbers.append(z)
                } else {
                    guard let z = Elements.atomicNumber(of: label) else {
                        throw fail(line, "unknown element '\(printable(label.prefix(40)))'")
                    }
                    numbers.append(z)
                }
                for c in 0..<3 {
                    guard let v = Double(fields[columns.position + c]), v.isFinite else {
                        throw fail(line, "bad coordinate '\(printable(fields[columns.position + c].prefix(40)))'")
                    }
                    positions.append(v)
                }
                if columns.forces >= 0 {
                    for c in 0..<3 {
                        guard let v = Double(fields[columns.forces + c]), v.isFinite else {
                            throw fail(line, "bad force component '\(printable(fields[columns.forces + c].prefix(40)))'")
                        }
                        forces.append(v)
                    }
                }
            }
            if columns.forces >= 0 { labels.forces = forces }
            var frame = Structure(atomicNumbers: numbers, positions: positions, cell: cell, pbc: pbc)
            frame.labels = labels
            frames.append(frame)
            index += 2 + count
        }
        guard !frames.isEmpty else { throw .structure("\(name): no frames found") }
        return frames
    }

    /// Text from the file as it may appear in a one-line message: control characters and
    /// undecodable bytes become '?'.
    static func printable<S: StringProtocol>(_ text: S) -> String {
        String(text.unicodeScalars.map { $0.value < 32 || $0.value == 127 || $0 == "\u{FFFD}" ? "?" : Character($0) })
    }

    /// key=value pairs; values may be double-quoted. Keys are lower-cased.
    static func parseComment(_ line: String, fail: (String) -> CACEError) throws(CACEError) -> [String: String] {
        var result: [String: String] = [:]
        let chars = Array(line)
        var i = 0
        func skipSpace() { while i < chars.count, chars[i] == " " || chars[i] == "\t" || chars[i] == "\r" { i += 1 } }
        while true {
            skipSpace()
            guard i < chars.count else { break }
            var key = ""
            while i < chars.count, chars[i] != "=", chars[i] != " ", chars[i] != "\t" { key.append(chars[i]); i += 1 }
            skipSpace()
            guard i < chars.count, chars[i] == "=" else { result[key.lowercased()] = "T"; continue }
            i += 1
            skipSpace()
            var value = ""
            if i < chars.count, chars[i] == "\"" || chars[i] == "'" {
                let quote = chars[i]
                i += 1
                while i < chars.count, chars[i] != quote { value.append(chars[i]); i += 1 }
                guard i < chars.count else { throw fail("unterminated quote in the comment line") }
                i += 1
            } else {
                while i < chars.count, chars[i] != " ", chars[i] != "\t" { value.append(chars[i]); i += 1 }
            }
            result[key.lowercased()] = value
        }
        return result
    }

    /// The reference values of a comment line (`StructureLabels`): energy=, virial= (9 numbers),
    /// stress= (9, or 6 in Voigt order xx yy zz yz xz xy), config_type=.
    static func labels(_ info: [String: String], fail: (String) -> CACEError) throws(CACEError) -> StructureLabels {
        var labels = StructureLabels()
        if let text = info["energy"] {
            guard let e = Double(text), e.isFinite else { throw fail("energy must be a finite number, got '\(printable(text.prefix(40)))'") }
            labels.energy = e
        }
        func matrix(_ key: String, voigt: Bool) throws(CACEError) -> [Double]? {
            guard let text = info[key] else { return nil }
            let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            let values = parts.compactMap { Double($0) }
            guard values.count == parts.count, values.allSatisfy({ $0.isFinite }) else {
                throw fail("\(key) must hold finite numbers")
            }
            if values.count == 9 { return values }
            if voigt, values.count == 6 {   // xx yy zz yz xz xy
                let v = values
                return [v[0], v[5], v[4], v[5], v[1], v[3], v[4], v[3], v[2]]
            }
            throw fail("\(key) must hold 9 numbers (3x3)\(voigt ? " or 6 (Voigt xx yy zz yz xz xy)" : ""), got \(values.count)")
        }
        labels.virial = try matrix("virial", voigt: false)
        labels.stress = try matrix("stress", voigt: true)
        labels.configType = info["config_type"]
        return labels
    }

    struct Columns {
        var species = -1
        var speciesIsNumber = false
        var position = -1
        var forces = -1
        var width = 0
    }

    /// Column positions of species (or Z) and pos in a Properties string.
    static func propertyColumns(_ spec: String, fail: (String) -> CACEError) throws(CACEError) -> Columns {
        let parts = spec.split(separator: ":")
        guard parts.count % 3 == 0 else { throw fail("Properties must be name:type:count triples") }
        var columns = Columns()
        var column = 0
        for p in stride(from: 0, to: parts.count, by: 3) {
            guard let width = Int(parts[p + 2]), width > 0, width < 1000 else { throw fail("bad column count in Properties") }
            switch parts[p].lowercased() {
            case "species": columns.species = column
            case "z" where columns.species < 0: columns.species = column; columns.speciesIsNumber = true
            case "pos":
                guard width == 3 else { throw fail("pos must have 3 columns") }
                columns.position = column
            case "forces", "force":
                guard width == 3 else { throw fail("\(parts[p]) must have 3 columns") }
                columns.forces = column
            default: break
            }
            column += width
        }
        guard columns.species >= 0, columns.position >= 0 else { throw fail("Properties has no species or no pos column") }
        columns.width = column
        return columns
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[start...end]
    }
}
