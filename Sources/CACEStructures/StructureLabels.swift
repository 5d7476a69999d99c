/// Reference values an extended-XYZ frame may carry for fitting and validation: the comment
/// keys energy=, virial= (3x3, eV, W = -dE/d(strain)), stress= (ASE sign, eV/Angstrom^3, 9 or 6
/// Voigt values xx yy zz yz xz xy), config_type=, and a forces:R:3 column. Absent values are nil.
public struct StructureLabels: Sendable {
    public var energy: Double?
    /// [N][3], eV/Angstrom.
    public var forces: [Double]?
    /// 3x3 row-major, eV (W = -V sigma).
    public var virial: [Double]?
    /// 3x3 row-major, eV/Angstrom^3, ASE sign (sigma = -W / V).
    public var stress: [Double]?
    public var configType: String?

    public init(energy: Double? = nil, forces: [Double]? = nil, virial: [Double]? = nil, stress: [Double]? = nil,
                configType: String? = nil) {
        self.energy = energy
        self.forces = forces
        self.virial = virial
        self.stress = stress
        self.configType = configType
    }

    /// The virial W (3x3, eV): the `virial` value, or -V sigma from the stress and the cell
    /// volume; nil if neither is given or the structure has no volume.
    public func referenceVirial(volume: Double?) -> [Double]? {
        if let virial { return virial }
        guard let stress, let volume, volume > 0 else { return nil }
        return stress.map { -$0 * volume }
    }
}
