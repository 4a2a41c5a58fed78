import Foundation
import PortcullisTestSupport
import Testing

/// `portcullis explain` answers "why was I refused?" without a socket: the binary is run on a
/// config and a request, and its account names the caller, the stage that decided, the route,
/// the backend, the limits and an external check it would make.
@Suite("portcullis explain", .serialized)
struct ExplainCommandTests {
    static let yaml = """
        listeners: [{ address: 127.0.0.1:0 }]
        http: { maxRequestBytes: 2KiB }
        region: us-east
        externalAuthorization:
          policy: { url: "http://127.0.0.1:1/check", timeout: 150ms }
        backends:
          eu: { endpoints: [http://127.0.0.1:9], region: eu-west }
          us: { endpoints: [http://127.0.0.1:10] }
        routes:
          - { name: chat, match: { model: chat }, backends: [us, eu] }
          - { name: guarded, match: { model: guarded }, backend: us, externalAuthorization: policy }
        authentication:
          apiKeys:
            - { name: eu-key, tenant: eu-co, sha256: \(AuthFixture.sha("pc-eu-0123456789abcdef")) }
            - { name: free-key, tenant: freebie, sha256: \(AuthFixture.sha("pc-free-0123456789abcdef")) }
        tenants:
          eu-co: { plan: pro, regions: [eu-west] }
          freebie: { plan: free }
        plans:
          pro: { limits: { requestsPerMinute: 100, maxTokens: 500 } }
          free: { features: [streaming], models: [chat] }
        """

    static func explain(_ key: String?, body: String?, in dir: String, extra: [String] = []) async throws -> (Int32, String) {
        try Self.yaml.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        var arguments = ["explain", "--config", dir + "/c.yaml"] + extra
        if let key { arguments += ["-H", "Authorization: Bearer \(key)"] }
        if let body {
            try body.write(toFile: dir + "/body.json", atomically: true, encoding: .utf8)
            arguments += ["--body", dir + "/body.json"]
        }
        let process = try ChildProcess(executable: TestPaths.portcullisBinary, arguments: arguments)
        let status = try await process.waitForExit()
        return (status, process.capturedOutput)
    }

    @Test func anAllowedRequestShowsTheCallerRouteBackendAndLimits() async throws {
        try await withTemporaryDirectory { dir in
            let (status, output) = try await Self.explain(
                "pc-eu-0123456789abcdef", body: #"{"model":"chat","messages":[{"role":"user","content":"secret prompt"}]}"#, in: dir)
            #expect(status == 0, "\(output)")
            for expected in [
                "authenticate: pass (tenant 'eu-co' by apiKey 'eu-key', plan 'pro'", "route: pass (route 'chat'",
                "region(model): pass (backend 'eu' in region 'eu-west')", "decision: forward to backend 'eu'",
                "limits: plan 'pro' with tenant 'eu-co' overrides: rpm=100, max-tokens=500",
                "token-cap: pass", "body: forwarded as",
            ] {
                #expect(output.contains(expected), "missing '\(expected)' in:\n\(output)")
            }
            #expect(!output.contains("pc-eu-0123456789abcdef") && !output.contains("secret prompt"), "\(output)")
        }
    }

    @Test func refusalsNameTheStageAndTheAnswer() async throws {
        try await withTemporaryDirectory { dir in
            let tools = #"{"model":"chat","messages":[{"role":"user"}],"tools":[{"type":"function","function":{"name":"f"}}]}"#
            var (status, output) = try await Self.explain("pc-free-0123456789abcdef", body: tools, in: dir)
            #expect(status == 2 && output.contains("fields: REFUSED") && output.contains("403 feature_not_allowed (param tools)"), "\(output)")
            (status, output) = try await Self.explain("pc-free-0123456789abcdef", body: #"{"model":"guarded","messages":[{"role":"user"}]}"#, in: dir)
            #expect(status == 2 && output.contains("plan(model): REFUSED") && output.contains("404 model_not_found"), "\(output)")
            (status, output) = try await Self.explain("pc-nope-0123456789abcdef", body: #"{"model":"chat"}"#, in: dir)
            #expect(status == 2 && output.contains("authenticate: REFUSED") && output.contains("401 invalid_api_key"), "\(output)")
            (status, output) = try await Self.explain("pc-free-0123456789abcdef", body: #"{"model":"chat","messages":[{"role":"robot"}]}"#, in: dir)
            #expect(status == 2 && output.contains("(param messages[0].role)"), "\(output)")
            let large = #"{"model":"chat","messages":[{"role":"user","content":""# + String(repeating: "a", count: 3000) + #""}]}"#
            (status, output) = try await Self.explain("pc-free-0123456789abcdef", body: large, in: dir)
            #expect(status == 2 && output.contains("body: REFUSED") && output.contains("413 request_too_large"), "\(output)")
        }
    }

    @Test func anExternalCheckIsNamedNotCalled() async throws {
        try await withTemporaryDirectory { dir in
            let (status, output) = try await Self.explain("pc-eu-0123456789abcdef", body: #"{"model":"guarded","messages":[{"role":"user"}]}"#, in: dir)
            // eu-co may only use eu-west, and the guarded route has a us backend only.
            #expect(status == 2 && output.contains("403 region_not_allowed"), "\(output)")
            try Self.yaml.replacingOccurrences(of: "eu-co: { plan: pro, regions: [eu-west] }", with: "eu-co: { plan: pro }")
                .write(toFile: dir + "/c2.yaml", atomically: true, encoding: .utf8)
            let process = try ChildProcess(
                executable: TestPaths.portcullisBinary,
                arguments: ["explain", "--config", dir + "/c2.yaml", "-H", "Authorization: Bearer pc-eu-0123456789abcdef", "--body", dir + "/body.json"])
            #expect(try await process.waitForExit() == 0)
            #expect(process.capturedOutput.contains("ext-authz: would call 'policy' (envoy, http://127.0.0.1:1/check, timeout 150 ms, fails closed)"), "\(process.capturedOutput)")
        }
    }

    @Test func theQuickstartIsExplainedWithoutAConfig() async throws {
        let process = try ChildProcess(
            executable: TestPaths.portcullisBinary, arguments: ["explain", "--path", "/v1/models", "-H", "Authorization: Bearer pc-quickstart-demo-key"])
        #expect(try await process.waitForExit() == 0)
        #expect(process.capturedOutput.contains("tenant 'demo'") && process.capturedOutput.contains("answered by the gateway itself"))
    }
}
