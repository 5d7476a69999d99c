import ArgumentParser
import CACE
import CACEFit

/// `cace convert --basis canonical IN OUT`: the same model (weights, table, read-out) with the
/// canonical invariants, sums over pairwise distinct edges (model-format §9), or back.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a model file with the canonical (self-interaction-free) invariants, or back.",
        discussion: """
            --basis canonical sets symmetrizer.self_interaction to false and format_version to 2; --basis self \
            removes the flag (the file keeps its format_version). Weights and every other field are copied \
            unchanged, so the two files differ only in which tuples of edges the invariants sum over. The \
            canonical basis is defined for models without message passing. The output is written atomically \
            (a temporary file, then a rename) and loaded again before the command succeeds.
            """)

    enum Basis: String, ExpressibleByArgument, CaseIterable {
        case canonical
        case selfInteracting = "self"
    }

    @Option(help: "Target basis: canonical or self.")
    var basis: Basis

    @Argument(help: "Model file to read (.safetensors).")
    var input: String

    @Argument(help: "Model file to write (.safetensors).")
    var output: String

    func run() throws {
        let model = try loadModel(input)
        guard model.messagePassingCount == 0 || basis == .selfInteracting else {
            throw CLIError("\(input): the canonical basis is defined for models without message passing; this model has \(model.messagePassingCount) message-passing layer(s)")
        }
        do {
            let container = try SafeTensors(contentsOf: input)
            let writer = try ModelConversion.convert(container, canonical: basis == .canonical, name: input)
            try writer.write(to: output)
        } catch let error as CACEError {
            throw CLIError(error.description)
        } catch let error as FitError {
            throw CLIError(error.description)
        }
        let converted = try loadModel(output)
        guard converted.selfInteraction == (basis == .selfInteracting) else {
            throw CLIError("\(output) does not read back as the \(basis.rawValue) basis: please report this")
        }
        print("\(output): \(converted.selfInteraction ? "self-interacting" : "canonical") invariants, format_version \(converted.formatVersion), \(converted.parameterCount) parameters (from \(input))")
    }
}

/// The file-level rewrite behind `cace convert`: metadata edited, tensors copied.
enum ModelConversion {
    static func convert(_ container: SafeTensors, canonical: Bool, name: String) throws(CACEError) -> SafeTensorsWriter {
        guard let text = container.metadata["cace"], case .object(var meta)? = try? parseJSON(text) else {
            throw .format("\(name): no readable 'cace' metadata")
        }
        guard case .object(var symmetrizer)? = meta["symmetrizer"] else { throw .format("\(name): no symmetrizer section") }
        guard case .number(let version)? = meta["format_version"] else { throw .format("\(name): no format_version") }
        if canonical {
            symmetrizer["self_interaction"] = .bool(false)
            meta["format_version"] = .number(max(version, 2))
        } else {
            symmetrizer["self_interaction"] = nil
        }
        meta["symmetrizer"] = .object(symmetrizer)
        var writer = SafeTensorsWriter()
        for (key, tensor) in container.tensors { writer.add(key, tensor.shape, tensor.values) }
        writer.metadata = container.metadata.keys.sorted().map { key in
            (key, key == "cace" ? written(.object(meta)).text : container.metadata[key]!)
        }
        return writer
    }

    private static func parseJSON(_ text: String) throws -> CACE.JSONValue {
        try CACE.JSONValue(parsing: text)
    }

    /// The core's parsed value as the writer's, keys sorted; integral numbers are written as integers.
    private static func written(_ v: CACE.JSONValue) -> CACEFit.JSONValue {
        switch v {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let x): return x == x.rounded() && abs(x) < 9e15 ? .int(Int(x)) : .number(x)
        case .string(let s): return .string(s)
        case .array(let items): return .array(items.map(written))
        case .object(let members): return .object(members.keys.sorted().map { ($0, written(members[$0]!)) })
        }
    }
}
