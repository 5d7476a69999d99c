import ArgumentParser
import CACE

struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time energy+force evaluations (not yet implemented).")

    @Argument var model: String
    @Argument var structures: String

    func run() throws {
        throw ValidationError("cace benchmark is not implemented yet")
    }
}
