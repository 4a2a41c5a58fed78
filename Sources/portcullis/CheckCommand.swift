import ArgumentParser
import Foundation
import PortcullisConfig
import PortcullisGateway

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config file: exit 0 when it would serve, 1 with every problem listed.",
        discussion: """
            Each problem names its YAML path and line, for example: routes[0].backend (line 12): \
            unknown backend 'vllm'. Every file the config names is opened as serve would open it \
            (certificates, keys, CA bundles, JWKS files, the access log); relative paths resolve \
            against the config file's folder.
            """
    )

    @Option(name: .shortAndLong, help: "YAML config file.")
    var config: String

    func run() throws {
        do {
            let snapshot = try GatewayConfigLoader(source: .file(self.config)).load()
            print(
                "\(self.config): OK (\(snapshot.listeners.count) listener(s), \(snapshot.backends.count) backend(s), \(snapshot.source.routes.count) route(s))"
            )
        } catch {
            var output = "\(self.config): \(error.diagnostics.count) problem(s)\n"
            for diagnostic in error.diagnostics { output += "  \(diagnostic)\n" }
            FileHandle.standardError.write(Data(output.utf8))
            throw ExitCode(1)
        }
    }
}
