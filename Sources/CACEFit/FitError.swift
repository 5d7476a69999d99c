import CACE

/// A fitting failure, with a one-line message.
public enum FitError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Bad or missing training data (no energies, an element missing from the training set, ...).
    case data(String)
    /// A bad option value.
    case argument(String)
    /// A failed or ill-posed solve (a singular system, a failed factorisation).
    case numerical(String)
    /// Reading or writing a file.
    case io(String)
    /// A model or structure error from the core.
    case core(String)
    /// A broken invariant of this module (a bug).
    case `internal`(String)

    public var description: String {
        switch self {
        case .data(let m), .argument(let m), .numerical(let m), .io(let m), .core(let m): return m
        case .internal(let m): return "internal error: \(m)"
        }
    }

    init(_ error: CACEError) { self = .core(error.description) }
}
