import CACE
import CACEStructures

/// Text output of evaluation results, with round-trip precision for every number.
enum OutputWriter {
    static func number(_ x: Double) -> String {
        x.isFinite ? "\(x)" : "null"
    }

    static func list(_ values: [Double]) -> String {
        "[" + values.map(number).joined(separator: ", ") + "]"
    }

    /// `spreads`: the committee's spread per frame (`--uncertainty`), or nil.
    static func json(_ results: [StructureResult], spreads: [CommitteeSpread]? = nil) -> String {
        let objects = results.enumerated().map { (index, r) -> String in
            let forces = stride(from: 0, to: r.forces.count, by: 3).map { list(Array(r.forces[$0..<($0 + 3)])) }
            var uncertainty = ""
            if let s = spreads?[index] {
                uncertainty = ", \"energy_sigma\": \(number(s.energy)), \"atom_energy_sigma\": \(list(s.atomEnergies)), "
                    + "\"force_deviation\": \(list(s.forces))"
            }
            return "{\"energy\": \(number(r.energy)), \"atom_energies\": \(list(r.atomEnergies)), "
                + "\"forces\": [\(forces.joined(separator: ", "))], \"virial\": \(list(r.virial)), "
                + "\"stress\": \(r.stress.map(list) ?? "null")\(uncertainty)}"
        }
        return "[\n" + objects.joined(separator: ",\n") + "\n]"
    }

    static func extendedXYZ(_ frames: [Structure], _ results: [StructureResult], spreads: [CommitteeSpread]? = nil) -> String {
        var out = ""
        for (index, (frame, r)) in zip(frames, results).enumerated() {
            let spread = spreads?[index]
            out += "\(frame.count)\n"
            var comment: [String] = []
            if let cell = frame.cell { comment.append("Lattice=\"\(cell.map(number).joined(separator: " "))\"") }
            comment.append("Properties=species:S:1:pos:R:3:forces:R:3:energies:R:1"
                           + (spread == nil ? "" : ":energy_sigma:R:1:force_deviation:R:1"))
            comment.append("energy=\(number(r.energy))")
            if let spread { comment.append("energy_sigma=\(number(spread.energy))") }
            comment.append("virial=\"\(r.virial.map(number).joined(separator: " "))\"")
            if let stress = r.stress { comment.append("stress=\"\(stress.map(number).joined(separator: " "))\"") }
            let flag = { (b: Bool) in b ? "T" : "F" }
            comment.append("pbc=\"\(flag(frame.pbc.0)) \(flag(frame.pbc.1)) \(flag(frame.pbc.2))\"")
            out += comment.joined(separator: " ") + "\n"
            for i in 0..<frame.count {
                let symbol = Elements.symbol(of: frame.atomicNumbers[i]) ?? "X"
                let pos = frame.positions[(3 * i)..<(3 * i + 3)].map(number)
                let force = r.forces[(3 * i)..<(3 * i + 3)].map(number)
                let sigma = spread.map { [number($0.atomEnergies[i]), number($0.forces[i])] } ?? []
                out += ([symbol] + pos + force + [number(r.atomEnergies[i])] + sigma).joined(separator: " ") + "\n"
            }
        }
        return out
    }
}
