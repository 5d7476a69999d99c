import CACE
import CACEStructures

// Structure-aware fuzzer for the model metadata (the JSON `__metadata__["cace"]` and the tensor
// table of a model file) and its semantic validation (Model/Readers, Model+Consistency).
//
// Inputs are whole model files. libFuzzer's byte mutations almost never keep a 500 KB model
// loadable past the JSON parser, so a custom mutator (LLVMFuzzerCustomMutator) decodes the file
// (header, tensors, the metadata JSON with its key order and number texts), applies one to four
// mutations of valid fields -- numbers to edge values, option names swapped, arrays and tables
// shortened, lengthened or reordered, keys removed, duplicated or renamed, values replaced by
// another type or another subtree, tensor shapes, dtypes and values changed (with their data
// resized so the container stays valid) -- and re-serialises it. libFuzzer keeps the mutants
// that reach new code, so the corpus grows into the validation branches; a tenth of the time
// the metadata text gets libFuzzer's own byte mutations instead (the parser). The target loads
// the model and, if it loads, evaluates small open and periodic structures: a model that loads
// must evaluate or refuse with an error, never trap.

// MARK: - The target

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelMetadata(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let model: CACEModel
    do {
        let container = try SafeTensors(bytes: bytes, name: "fuzz")
        model = try CACEModel(container: container, name: "fuzz")
    } catch {
        _ = error.description
        return 0
    }
    _ = model.elementSymbols
    _ = model.operationsPerAtom(edgesPerAtom: 10)
    let zs = model.atomicNumbers
    guard !zs.isEmpty else { return 0 }
    // A small cluster (distances 0.9-2.6 Angstrom) and the same atoms in a 5.5 Angstrom cell.
    let offsets: [Double] = [0, 0, 0,  1.1, 0.2, 0,  0.3, 1.4, 0.1,  -0.4, 0.5, 1.2,  1.6, 1.5, 0.9]
    let numbers = (0..<5).map { zs[$0 % zs.count] }
    let open = Structure(atomicNumbers: numbers, positions: offsets, cell: nil, pbc: (false, false, false))
    let periodic = Structure(atomicNumbers: numbers, positions: offsets.map { $0 + 1.0 },
                             cell: [5.5, 0, 0, 0.3, 5.5, 0, 0, 0.2, 5.5], pbc: (true, true, true))
    let evaluator = Evaluator(model: model)
    evaluator.includeAtomicEnergies = true
    for structure in [open, periodic] {
        do {
            let result = try evaluator.evaluate(structure, atomVirials: true)
            _ = result.result.energy
        } catch {
            _ = error.description
        }
    }
    if model.messagePassingCount == 0 {
        let single = Evaluator(model: model)
        single.precision = .single
        do { _ = try single.evaluate(open).energy } catch { _ = error.description }
    }
    return 0
}

// MARK: - JSON that keeps key order, duplicate keys and the text of numbers

indirect enum J {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([J])
    case object([(String, J)])
}

struct JReader {
    let b: [UInt8]
    var i = 0
    var depth = 0

    init(_ bytes: [UInt8]) { b = bytes }

    static func parse(_ bytes: [UInt8]) -> J? {
        var r = JReader(bytes)
        r.space()
        guard let v = r.value() else { return nil }
        r.space()
        return r.i == r.b.count ? v : nil
    }

    mutating func space() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }

    mutating func literal(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard i + u.count <= b.count, Array(b[i..<(i + u.count)]) == u else { return false }
        i += u.count
        return true
    }

    mutating func value() -> J? {
        guard i < b.count, depth < 64 else { return nil }
        switch b[i] {
        case UInt8(ascii: "{"):
            depth += 1; defer { depth -= 1 }
            i += 1; space()
            var members: [(String, J)] = []
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                space()
                guard let k = string() else { return nil }
                space()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
                i += 1; space()
                guard let v = value() else { return nil }
                members.append((k, v))
                space()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                return nil
            }
        case UInt8(ascii: "["):
            depth += 1; defer { depth -= 1 }
            i += 1; space()
            var items: [J] = []
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                space()
                guard let v = value() else { return nil }
                items.append(v)
                space()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                return nil
            }
        case UInt8(ascii: "\""):
            return string().map { .string($0) }
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        default:
            let start = i
            while i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: ".")
                    || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") || (b[i] >= 0x30 && b[i] <= 0x39) { i += 1 }
            guard i > start else { return nil }
            return .number(String(decoding: b[start..<i], as: UTF8.self))
        }
    }

    mutating func string() -> String? {
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        var out: [UInt8] = []
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < b.count else { return nil }
                let e = b[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard i + 4 <= b.count, let code = UInt32(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
                    i += 4
                    let scalar = Unicode.Scalar(code) ?? "?"
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: out.append(e)
                }
                continue
            }
            out.append(c)
            i += 1
        }
        return nil
    }
}

func escape(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

func write(_ v: J, into out: inout String) {
    switch v {
    case .null: out += "null"
    case .bool(let x): out += x ? "true" : "false"
    case .number(let t): out += t
    case .string(let s): out += escape(s)
    case .array(let items):
        out += "["
        for (n, item) in items.enumerated() { if n > 0 { out += ", " }; write(item, into: &out) }
        out += "]"
    case .object(let members):
        out += "{"
        for (n, (k, item)) in members.enumerated() { if n > 0 { out += ", " }; out += escape(k) + ": "; write(item, into: &out) }
        out += "}"
    }
}

// MARK: - The decoded model file

struct RawTensor {
    var name: String
    var dtype: String
    var shape: [Int]
    var data: [UInt8]
}

struct ModelFile {
    var tensors: [RawTensor]
    /// `__metadata__` members other than "cace", kept as they are.
    var otherMetadata: [(String, J)]
    var cace: J?
    /// The metadata text when a byte mutation left it unparseable.
    var caceText: String?

    init?(_ bytes: [UInt8]) {
        guard bytes.count >= 8 else { return nil }
        var length = 0
        for k in 0..<8 { length |= Int(bytes[k]) << (8 * k) }
        guard length >= 0, length <= bytes.count - 8, case .object(let entries)? = JReader.parse(Array(bytes[8..<(8 + length)])) else { return nil }
        let base = 8 + length
        tensors = []
        otherMetadata = []
        cace = nil
        caceText = nil
        for (key, entry) in entries {
            if key == "__metadata__" {
                guard case .object(let members) = entry else { return nil }
                for (k, v) in members {
                    if k == "cace", case .string(let text) = v, let parsed = JReader.parse(Array(text.utf8)) {
                        cace = parsed
                    } else if k == "cace", case .string(let text) = v {
                        caceText = text
                    } else {
                        otherMetadata.append((k, v))
                    }
                }
                continue
            }
            guard case .object(let fields) = entry else { return nil }
            var dtype = "F64", shape: [Int] = [], range: [Int] = []
            for (k, v) in fields {
                switch (k, v) {
                case ("dtype", .string(let s)): dtype = s
                case ("shape", .array(let dims)):
                    for d in dims { guard case .number(let t) = d, let n = Int(t), n >= 0, n < 1 << 24 else { return nil }; shape.append(n) }
                case ("data_offsets", .array(let ends)):
                    for d in ends { guard case .number(let t) = d, let n = Int(t), n >= 0 else { return nil }; range.append(n) }
                default: break
                }
            }
            guard range.count == 2, range[0] <= range[1], base + range[1] <= bytes.count else { return nil }
            tensors.append(RawTensor(name: key, dtype: dtype, shape: shape, data: Array(bytes[(base + range[0])..<(base + range[1])])))
        }
    }

    func serialised() -> [UInt8] {
        var header = "{"
        var meta: [(String, J)] = otherMetadata
        if let cace {
            var text = ""
            write(cace, into: &text)
            meta.append(("cace", .string(text)))
        } else if let caceText {
            meta.append(("cace", .string(caceText)))
        }
        var text = ""
        write(.object(meta), into: &text)
        header += "\"__metadata__\": " + text
        var offset = 0
        var data: [UInt8] = []
        for t in tensors {
            let shape = t.shape.map(String.init).joined(separator: ", ")
            header += ", " + escape(t.name) + ": {\"dtype\": " + escape(t.dtype) + ", \"shape\": [\(shape)], \"data_offsets\": [\(offset), \(offset + t.data.count)]}"
            offset += t.data.count
            data += t.data
        }
        header += "}"
        let h = Array(header.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(8 + h.count + data.count)
        for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: h.count >> (8 * k))) }
        return out + h + data
    }
}

// MARK: - Mutations

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    mutating func chance(_ n: Int) -> Bool { below(n) == 0 }
}

/// Names a valid model file may hold, so that swaps reach other branches of the readers.
let optionWords = [
    "bessel", "gaussian", "exponential", "exponential_decay", "expdecay", "polynomial", "cosine", "mollifier",
    "switching", "EdgeEncoder", "M", "Ar", "Bchi", "Atomwise", "identity", "silu", "SiLU", "ssp", "tanh", "relu",
    "sigmoid", "ewald", "Ewald", "CACE_LR", "q", "CACE_energy", "ewald_potential", "node_feats", "energy", "n_atoms",
    "", "x", "NaN", "1", "true", "null",
]

let edgeNumbers = [
    "0", "-0.0", "1", "-1", "2", "3", "4", "5", "8", "0.5", "1e-300", "5e-324", "1e300", "1.7976931348623157e308",
    "-1e308", "1e12", "1e18", "2147483647", "2147483648", "4294967297", "9223372036854775807", "18446744073709551616",
    "1e400", "-1e400", "65", "1000", "100000000", "1.0000000000000002", "0.1",
]

extension J {
    var nodeCount: Int {
        switch self {
        case .array(let items): return 1 + items.reduce(0) { $0 + $1.nodeCount }
        case .object(let members): return 1 + members.reduce(0) { $0 + $1.1.nodeCount }
        default: return 1
        }
    }

    /// The node with pre-order index `n`.
    func node(_ n: Int) -> J? {
        var k = n
        return find(&k)
    }

    private func find(_ k: inout Int) -> J? {
        if k == 0 { return self }
        k -= 1
        switch self {
        case .array(let items): for item in items { if let hit = item.find(&k) { return hit } }
        case .object(let members): for (_, item) in members { if let hit = item.find(&k) { return hit } }
        default: break
        }
        return nil
    }

    /// Applies `body` to the node with pre-order index `n`.
    mutating func update(_ n: Int, _ body: (inout J) -> Void) {
        var k = n
        apply(&k, body)
    }

    private mutating func apply(_ k: inout Int, _ body: (inout J) -> Void) {
        if k < 0 { return }
        if k == 0 { body(&self); k = -1; return }
        k -= 1
        switch self {
        case .array(var items):
            for i in items.indices { items[i].apply(&k, body); if k < 0 { break } }
            self = .array(items)
        case .object(var members):
            for i in members.indices { members[i].1.apply(&k, body); if k < 0 { break } }
            self = .object(members)
        default: break
        }
    }

    func collectStrings(into out: inout [String]) {
        switch self {
        case .string(let s): if out.count < 4096 { out.append(s) }
        case .array(let items): for item in items { item.collectStrings(into: &out) }
        case .object(let members): for (k, item) in members { if out.count < 4096 { out.append(k) }; item.collectStrings(into: &out) }
        default: break
        }
    }
}

func mutateNumber(_ text: String, _ rng: inout SplitMix) -> String {
    let x = Double(text) ?? 0
    switch rng.below(6) {
    case 0, 1: return edgeNumbers[rng.below(edgeNumbers.count)]
    case 2: return x == x.rounded() && abs(x) < 1e15 ? String(Int(x) + (rng.chance(2) ? 1 : -1)) : String(x * 1.0000001)
    case 3: return x == x.rounded() && abs(x) < 1e15 ? String(Int(x) * 2) : String(x * 2)
    case 4: return x == x.rounded() && abs(x) < 1e15 ? String(Int(x) / 2) : String(-x)
    default: return String(rng.below(20) - 2)
    }
}

func mutateNode(_ v: inout J, root: J, words: [String], _ rng: inout SplitMix) {
    // A tenth of the time: another type, or another subtree of the document.
    if rng.chance(10) {
        let total = root.nodeCount
        switch rng.below(8) {
        case 0: v = .null
        case 1: v = .bool(rng.chance(2))
        case 2: v = .number(edgeNumbers[rng.below(edgeNumbers.count)])
        case 3: v = .string(words.isEmpty ? "x" : words[rng.below(words.count)])
        case 4: v = .array([])
        case 5: v = .object([])
        case 6: v = .array([v])
        default: if let other = root.node(rng.below(total)), other.nodeCount < 5000 { v = other }
        }
        return
    }
    switch v {
    case .null: v = .number(edgeNumbers[rng.below(edgeNumbers.count)])
    case .bool(let x): v = rng.chance(3) ? .number(x ? "1" : "0") : .bool(!x)
    case .number(let t): v = .number(mutateNumber(t, &rng))
    case .string(let s):
        if rng.chance(3) {
            v = .string(optionWords[rng.below(optionWords.count)])
        } else if rng.chance(4), !s.isEmpty {
            var u = Array(s.utf8)
            u[rng.below(u.count)] = UInt8(truncatingIfNeeded: 0x21 + rng.below(94))
            v = .string(String(decoding: u, as: UTF8.self))
        } else {
            v = .string(words.isEmpty ? s : words[rng.below(words.count)])
        }
    case .array(var items):
        switch rng.below(7) {
        case 0: if !items.isEmpty { items.remove(at: rng.below(items.count)) }
        case 1: if !items.isEmpty, items.count < 4096 { let k = rng.below(items.count); items.insert(items[k], at: k) }
        case 2: if items.count > 1 { items.swapAt(rng.below(items.count), rng.below(items.count)) }
        case 3: items = Array(items.prefix(rng.below(items.count + 1)))
        case 4: if let first = items.first { items.append(first) } else { items.append(.number("0")) }
        case 5: items.reverse()
        default: if !items.isEmpty { let k = rng.below(items.count); var item = items[k]; mutateNode(&item, root: root, words: words, &rng); items[k] = item }
        }
        v = .array(items)
    case .object(var members):
        switch rng.below(5) {
        case 0: if !members.isEmpty { members.remove(at: rng.below(members.count)) }
        case 1:   // a duplicate key: the same name twice, with its value or another
            if !members.isEmpty {
                let k = rng.below(members.count)
                var item = members[k].1
                if rng.chance(2) { mutateNode(&item, root: root, words: words, &rng) }
                members.append((members[k].0, item))
            }
        case 2: if !members.isEmpty, !words.isEmpty { members[rng.below(members.count)].0 = words[rng.below(words.count)] }
        case 3: if !words.isEmpty { members.append((words[rng.below(words.count)], .number(edgeNumbers[rng.below(edgeNumbers.count)]))) }
        default: if members.count > 1 { members.swapAt(rng.below(members.count), rng.below(members.count)) }
        }
        v = .object(members)
    }
}

func resize(_ t: inout RawTensor, shape: [Int]) {
    let width = t.dtype == "F32" ? 4 : 8
    var count = 1
    for d in shape { count = count &* d; if count > 1 << 20 || count < 0 { return } }
    let old = t.data
    var data = [UInt8](repeating: 0, count: count * width)
    if !old.isEmpty { for k in data.indices { data[k] = old[k % old.count] } }
    t.shape = shape
    t.data = data
}

func mutateTensor(_ t: inout RawTensor, _ rng: inout SplitMix) {
    switch rng.below(6) {
    case 0, 1:   // one dimension changed, the data resized to match
        var shape = t.shape
        if shape.isEmpty { shape = [2] } else {
            let k = rng.below(shape.count)
            switch rng.below(5) {
            case 0: shape[k] += 1
            case 1: shape[k] = max(0, shape[k] - 1)
            case 2: shape[k] = 0
            case 3: shape[k] *= 2
            default: shape[k] = 1
            }
        }
        resize(&t, shape: shape)
    case 2:   // a dimension dropped or added
        var shape = t.shape
        if !shape.isEmpty, rng.chance(2) { shape.remove(at: rng.below(shape.count)) } else { shape.insert(1, at: rng.below(shape.count + 1)) }
        resize(&t, shape: shape)
    case 3:   // F64 <-> F32
        if t.dtype == "F64" {
            var data: [UInt8] = []
            for k in stride(from: 0, to: t.data.count - 7, by: 8) {
                var bits: UInt64 = 0
                for b in 0..<8 { bits |= UInt64(t.data[k + b]) << (8 * UInt64(b)) }
                let f = Float(Double(bitPattern: bits)).bitPattern
                for b in 0..<4 { data.append(UInt8(truncatingIfNeeded: f >> (8 * UInt32(b)))) }
            }
            t.dtype = "F32"; t.data = data
        } else {
            t.dtype = rng.chance(2) ? "F64" : "I64"
            resize(&t, shape: t.shape)
        }
    default:   // values: NaN, infinities, huge, zero, or one element changed
        guard t.dtype == "F64", t.data.count >= 8 else { return }
        let specials: [Double] = [.nan, .infinity, -.infinity, 1e300, -1e300, 0, 1e-320, 1e6]
        let value = specials[rng.below(specials.count)]
        let n = t.data.count / 8
        let lo = rng.chance(3) ? 0 : rng.below(n)
        let hi = lo == 0 && rng.chance(2) ? n : lo + 1
        for k in lo..<hi {
            let bits = value.bitPattern
            for b in 0..<8 { t.data[8 * k + b] = UInt8(truncatingIfNeeded: bits >> (8 * UInt64(b))) }
        }
    }
}

@_silgen_name("LLVMFuzzerMutate")
func libFuzzerMutate(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int) -> Int

func mutateModel(_ file: inout ModelFile, _ rng: inout SplitMix) {
    var words = optionWords
    file.cace?.collectStrings(into: &words)
    for t in file.tensors { words.append(t.name) }
    let rounds = 1 + rng.below(4)
    for _ in 0..<rounds {
        let what = rng.below(20)
        if what < 14, let cace = file.cace {          // the metadata JSON
            var root = cace
            let n = rng.below(root.nodeCount)
            root.update(n) { mutateNode(&$0, root: cace, words: words, &rng) }
            file.cace = root
        } else if what < 18, !file.tensors.isEmpty {  // the tensor table
            let k = rng.below(file.tensors.count)
            if rng.chance(8) {
                if rng.chance(2) { file.tensors.remove(at: k) } else {
                    var copy = file.tensors[k]
                    copy.name = words[rng.below(words.count)]
                    if !file.tensors.contains(where: { $0.name == copy.name }) { file.tensors.append(copy) }
                }
            } else {
                mutateTensor(&file.tensors[k], &rng)
            }
        } else {                                      // the metadata text, byte by byte
            var text: [UInt8]
            if let cace = file.cace { var s = ""; write(cace, into: &s); text = Array(s.utf8) } else { text = Array((file.caceText ?? "{}").utf8) }
            let size = text.count
            text += [UInt8](repeating: 0, count: 64)
            let newSize = text.withUnsafeMutableBufferPointer { libFuzzerMutate($0.baseAddress!, size, $0.count) }
            let mutated = Array(text.prefix(max(0, min(newSize, text.count))))
            if let parsed = JReader.parse(mutated) { file.cace = parsed; file.caceText = nil } else {
                file.cace = nil; file.caceText = String(decoding: mutated, as: UTF8.self)
            }
        }
    }
}

@_cdecl("LLVMFuzzerCustomMutator")
public func customMutator(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    var rng = SplitMix(state: UInt64(seed) &* 0x2545F4914F6CDD1D)
    guard var file = ModelFile(Array(UnsafeBufferPointer(start: data, count: size))) else {
        return libFuzzerMutate(data, size, maxSize)
    }
    mutateModel(&file, &rng)
    let out = file.serialised()
    guard out.count <= maxSize else { return libFuzzerMutate(data, size, maxSize) }
    out.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: out.count) }
    return out.count
}

// SwiftPM renames an executable's entry point to <module>_main, so libFuzzer's own main is
// never linked; start its driver from here instead.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("FuzzModelMetadata_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzModelMetadata)
}
