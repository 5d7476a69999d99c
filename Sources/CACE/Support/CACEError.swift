/// Every failure the core reports. Messages are one line and say what to fix.
public enum CACEError: Error, CustomStringConvertible, Sendable {
    /// A file is missing or cannot be read.
    case io(String)
    /// A model file is malformed.
    case format(String)
    /// A valid model file uses an option this implementation does not provide.
    case unsupported(String)
    /// The caller passed inconsistent arguments (counts, indices, element names).
    case argument(String)
    /// The structure cannot be evaluated (coincident atoms, a bad cell).
    case geometry(String)
    /// A structure file (extended XYZ) is malformed.
    case structure(String)

    public var description: String {
        switch self {
        case .io(let m), .format(let m), .unsupported(let m), .argument(let m), .geometry(let m),
             .structure(let m):
            return m
        }
    }
}
