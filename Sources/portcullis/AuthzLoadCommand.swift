import ArgumentParser
import Foundation
import PortcullisAuthz

/// `portcullis authz-load`: the benchmark's load loop for the `authz:` listener (hidden: a
/// measuring tool, not an operator's command). Prints one JSON line.
struct AuthzLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authz-load", abstract: "Send a bounded load of ext_authz Check calls (benchmarks).", shouldDisplay: false)

    @Option(help: "The authz listener, host:port.") var target = "127.0.0.1:9191"
    @Option(help: "The API key the checks carry.") var apiKey = "pc-quickstart-demo-key"
    @Option(help: "A file holding the request body (default: a small chat request).") var bodyFile: String?
    @Option(help: "Calls in all.") var calls = 20000
    @Option(help: "Calls in flight at once, over one HTTP/2 connection.") var concurrency = 64
    @Option(help: "Stop after this many seconds even if calls remain.") var maxSeconds = 60.0

    func run() async throws {
        let parts = self.target.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), self.calls > 0, self.concurrency > 0 else {
            throw ValidationError("--target is host:port, --calls and --concurrency above 0")
        }
        let body = try self.bodyFile.map { try String(contentsOfFile: $0, encoding: .utf8) }
            ?? #"{"model":"demo-chat","messages":[{"role":"user","content":"Hello"}]}"#
        let result = try await AuthzLoad.run(
            host: String(parts[0]), port: port, apiKey: self.apiKey, body: body, calls: self.calls,
            concurrency: min(self.concurrency, self.calls), maxSeconds: self.maxSeconds)
        print(
            #"{"calls":\#(result.calls),"allowed":\#(result.allowed),"failed":\#(result.failed),"seconds":\#(result.seconds),"calls_per_second":\#(Double(result.calls) / result.seconds),"p50_us":\#(result.p50Micros),"p99_us":\#(result.p99Micros)}"#)
    }
}
