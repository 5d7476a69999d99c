/// The format version and what version 2 adds to version 1 (docs/model-format.md §9).
///
/// Version 1 files read exactly as before. Version 2 is version 1 plus optional fields, each read
/// by its own reader below and collected in `FormatAdditions`; a field that changes the function
/// is refused in a version-1 file, so that a reader that knows only version 1 can never evaluate
/// it the wrong way (it refuses the version instead).
extension ModelFileReader {
    /// What version-2 fields say; the defaults are version 1's meaning.
    struct FormatAdditions {
        /// `symmetrizer.self_interaction`: false selects the canonical invariants (sums over
        /// pairwise distinct edges; canonical-cace.md).
        var selfInteraction = true
    }

    /// The versions this build reads.
    static let readableVersions = 1...2

    func readFormatVersion() throws(CACEError) -> Int {
        let version = try integer(meta["format_version"], "format_version", in: 0...1000)
        guard Self.readableVersions.contains(version) else {
            throw unsupported("format_version \(version) (this build reads versions \(Self.readableVersions.lowerBound)-\(Self.readableVersions.upperBound))")
        }
        return version
    }

    mutating func readFormatAdditions(version: Int, _ s: Sizes) throws(CACEError) -> FormatAdditions {
        var additions = FormatAdditions()
        additions.selfInteraction = try readSelfInteraction(version: version, s)
        return additions
    }

    /// `symmetrizer.self_interaction` (absent or null: true). False needs version 2 and a model
    /// without message passing: layers t >= 1 mix the neighbours' environments into each edge's
    /// message, so "distinct edges" has no body-order meaning there (canonical-cace.md §9).
    private func readSelfInteraction(version: Int, _ s: Sizes) throws(CACEError) -> Bool {
        guard let v = meta["symmetrizer"]?["self_interaction"], !v.isNull else { return true }
        let selfInteraction = try bool(v, "symmetrizer.self_interaction")
        guard !selfInteraction else { return true }
        guard version >= 2 else {
            throw fail("symmetrizer.self_interaction = false needs format_version 2 (the file says 1)")
        }
        guard s.layerCount == 0 else {
            throw unsupported("symmetrizer.self_interaction = false (the canonical basis) is defined for models without message passing; this model has num_message_passing = \(s.layerCount)")
        }
        return false
    }
}
