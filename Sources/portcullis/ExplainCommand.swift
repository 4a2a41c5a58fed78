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

    @Option(name: .shortAndLong, help: "YAML config file. Without it the embedded quickstart config is used.")
    var config: String?

    @Option(name: [.customShort("H"), .long], help: "A request header, 'Name: value' (repeatable).")
    var header: [String] = []

    @Option(name: .long, help: "A file holding the request body (JSON).")
    var body: String?

    @Option(name: .long, help: "The request path.")
    var path = "/v1/chat/completions"

    @Option(name: .long, help: "The request method (default: POST, or GET for /v1/models).")
    var method: String?

    @Option(name: .long, help: "The listener the request arrives on, by name (default: the first).")
    var listener: String?

    func run() async throws {
        var headers: [(String, String)] = []
        for line in self.header {
            guard let colon = line.firstIndex(of: ":") else {
                throw ValidationError("a header is 'Name: value'; got one without ':'")
            }
            headers.append((String(line[..<colon]).trimmingCharacters(in: .whitespaces), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        var body: [UInt8]?
        if let file = self.body {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            body = Array(data)
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { headers.append(("content-type", "application/json")) }
        }
        let method = self.method ?? (self.path.hasPrefix("/v1/models") ? "GET" : "POST")
        let snapshot: ConfigSnapshot
        do {
            snapshot = try GatewayConfigLoader(source: self.config.map { .file($0) } ?? .quickstart).load()
        } catch {
            var output = "\(self.config ?? "quickstart"): \(error.diagnostics.count) problem(s)\n"
            for diagnostic in error.diagnostics { output += "  \(diagnostic)\n" }
            FileHandle.standardError.write(Data(output.utf8))
            throw ExitCode(1)
        }
        let result = try await Explainer.explain(snapshot, request: .init(method: method, path: self.path, headers: headers, body: body, listener: self.listener))
        print(result.text)
        if result.refused { throw ExitCode(2) }
    }
}
