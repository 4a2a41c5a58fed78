import ArgumentParser
import Foundation
import PortcullisConfig
import PortcullisGateway

/// The config and the one request that `explain` and `bench-stages` run through the pipeline.
struct RequestOptions: ParsableArguments {
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

    /// The request; a body without a `Content-Type` header is sent as `application/json`.
    func request(listener: String? = nil) throws -> Explainer.Request {
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
        return .init(method: method, path: self.path, headers: headers, body: body, listener: listener)
    }

    /// The config named by `--config`, or the quickstart; an invalid one prints its diagnostics
    /// and exits 1.
    func snapshot() throws -> ConfigSnapshot {
        do {
            return try GatewayConfigLoader(source: self.config.map { .file($0) } ?? .quickstart).load()
        } catch {
            var output = "\(self.config ?? "quickstart"): \(error.diagnostics.count) problem(s)\n"
            for diagnostic in error.diagnostics { output += "  \(diagnostic)\n" }
            FileHandle.standardError.write(Data(output.utf8))
            throw ExitCode(1)
        }
    }
}
