import ArgumentParser
import Foundation
import PortcullisConfig
import PortcullisGateway

/// Kept in the product binary, like `openssl speed`: an operator measures their own config's
/// stage costs on their own machine, with the binary they run.
struct BenchStagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-stages",
        abstract: "Measure the CPU each pipeline stage costs per request, in-process (no socket, nothing forwarded).",
        discussion: """
            Runs the config's stages on one request many times on one event loop and prints nanoseconds per request \
            by stage, summed into authentication, validation and policy, and limits. The request must be one the config \
            forwards, and no stage may need to wait (a remote JWKS, an external check, Redis). Without --config, the \
            embedded quickstart is used. Under valgrind --tool=callgrind, use --no-per-stage and a few thousand iterations.
            """
    )

    @OptionGroup var options: RequestOptions

    @Option(name: .long, help: "How many requests to run (after a warm-up of up to 1,000).")
    var iterations = 200_000

    @Flag(inversion: .prefixedNo, help: "Read the clock around every stage (a second run, after the whole-iteration one).")
    var perStage = true

    func run() async throws {
        guard self.iterations > 0 else { throw ValidationError("--iterations must be at least 1") }
        let request = try self.options.request()
        let snapshot = try self.options.snapshot()
        do {
            let report = try await StageBenchmark.run(snapshot, request: request, iterations: self.iterations, perStage: self.perStage)
            print(report.text)
        } catch let failure as StageBenchmark.Failure {
            FileHandle.standardError.write(Data("bench-stages: \(failure)\n".utf8))
            throw ExitCode(2)
        }
    }
}
