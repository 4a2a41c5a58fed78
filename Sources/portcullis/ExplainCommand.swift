import ArgumentParser
import Foundation
import PortcullisConfig
import PortcullisGateway

struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Print, stage by stage, the decision the gateway would make for one request (no listener, nothing forwarded).",
        discussion: """
            Who the caller is, which check allowed or refused the request, which route and backend it goes to, which \
            limits apply, and whether an external authorization check would run (it is not called). Without --config, \
            the embedded quickstart is used. Exit status: 0 when the request would be forwarded or answered, 2 when it \
            would be refused, 1 when the config is invalid.
            """
    )

    @OptionGroup var options: RequestOptions

    @Option(name: .long, help: "The listener the request arrives on, by name (default: the first).")
    var listener: String?

    func run() async throws {
        let request = try self.options.request(listener: self.listener)
        let snapshot = try self.options.snapshot()
        let result = try await Explainer.explain(snapshot, request: request)
        print(result.text)
        if result.refused { throw ExitCode(2) }
    }
}
