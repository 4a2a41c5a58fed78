import Foundation
import NIOCore
import PortcullisTestSupport
import Testing

/// The access log over real sockets: one JSON line per request with the fields operators read
/// (identity, route, statuses, timings, tokens, bytes, retries, outcome), for requests refused
/// before their head was complete too, and never a credential, prompt text, query string or a
/// line a client could forge.
@Suite("The access log")
struct AccessLogTests {
    static let canaryPrompt = "CANARY-PROMPT-5d1f"
    static let canaryQuery = "CANARY-QUERY-9a2c"

    @Test func linesCarryTheFieldsAndNothingSecret() async throws {
        let key = try TestSigningKey.rsa(kid: "k1")
        try await withTemporaryDirectory { dir in
            let log = dir + "/access.log"
            try await withAuthGateway(keys: [key.jwk(alg: "RS256")], yaml: { AuthFixture.yaml(mockURL: $0, jwks: $1, accessLog: log) }) {
                gateway, _, _ in
                let base = gateway.baseURL
                let auth = [("x-api-key", AuthFixture.acmeKey), ("content-type", "application/json")]
                let body = #"{"model":"demo-chat","messages":[{"role":"user","content":"\#(Self.canaryPrompt)"}]}"#
                let ok = try await TestHTTP.request(
                    base + "/v1/chat/completions?api_key=\(Self.canaryQuery)", headers: auth + [("x-request-id", "log-ok")], body: body)
                #expect(ok.status == 200)
                let stream = try await TestHTTP.chat(base, stream: true, extraHeaders: [("x-api-key", AuthFixture.acmeKey), ("x-request-id", "log-stream")])
                #expect(stream.body.contains("[DONE]"))
                // A model name with CR and LF in it (JSON-escaped in the body) cannot forge a line.
                let forged = #"{"model":"evil\r\n{\"id\":\"forged\"}","messages":[{"role":"user","content":"hi"}]}"#
                let evil = try await TestHTTP.request(
                    base + "/v1/chat/completions", headers: auth + [("x-request-id", "log-evil")], body: forged)
                #expect(evil.status == 404)
                // A head the gateway cannot read is logged too.
                let garbage = try await RawConnection.connect(port: gateway.port)
                try await garbage.send("NOT HTTP AT ALL\r\n\r\n")
                _ = try await garbage.waitFor("HTTP/1.1 400")
                await garbage.close()

                let text = try await eventually { () -> String? in
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    let lines = text.split(separator: "\n")
                    return lines.count >= 4 && ["log-ok", "log-stream", "log-evil"].allSatisfy(text.contains) ? text : nil
                }
                let objects = text.split(separator: "\n").map { line -> [String: Any] in
                    let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
                    #expect(object != nil, "not JSON: \(line)")
                    return object ?? [:]
                }
                #expect(objects.count == 4, "one line per request, none forged")
                let byID = Dictionary(objects.map { ($0["id"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })

                let line = try #require(byID["log-ok"])
                #expect(line["tenant"] as? String == "acme")
                #expect(line["org"] as? String == "acme-corp")
                #expect(line["plan"] as? String == "pro")
                #expect(line["auth"] as? String == "apiKey")
                #expect(line["method"] as? String == "POST")
                #expect(line["path"] as? String == "/v1/chat/completions")
                #expect(line["model"] as? String == "demo-chat")
                #expect(line["route"] as? String == "chat")
                #expect(line["backend"] as? String == "mock")
                #expect(line["upstream"] as? String != nil)
                #expect(line["status"] as? Int == 200)
                #expect(line["upstream_status"] as? Int == 200)
                #expect(line["outcome"] as? String == "completed")
                #expect(line["bytes_in"] as? Int == body.utf8.count)
                #expect((line["bytes_out"] as? Int ?? 0) == ok.body.utf8.count)
                #expect(line["retries"] as? Int == 0)
                #expect((line["prompt_tokens"] as? Int ?? 0) > 0)
                #expect((line["completion_tokens"] as? Int ?? 0) > 0)
                #expect(line["ts"] as? Int != nil)
                let duration = try #require(line["duration_ms"] as? Double)
                let overhead = try #require(line["overhead_ms"] as? Double)
                #expect(overhead >= 0 && overhead <= duration)
                #expect(line["ttft_ms"] == nil, "not a stream")

                let streamed = try #require(byID["log-stream"])
                let ttft = try #require(streamed["ttft_ms"] as? Double)
                #expect(ttft > 0 && ttft <= (streamed["duration_ms"] as? Double ?? 0))

                let refused = try #require(byID["log-evil"])
                #expect(refused["outcome"] as? String == "refused")
                #expect(refused["model"] as? String == "evil\r\n{\"id\":\"forged\"}")
                #expect(refused["upstream_status"] == nil)

                let unreadable = try #require(objects.first { $0["status"] as? Int == 400 })
                #expect(unreadable["method"] as? String == "-")
                #expect(unreadable["outcome"] as? String == "refused")

                for secret in [AuthFixture.acmeKey, Self.canaryPrompt, Self.canaryQuery] {
                    #expect(!text.contains(secret), "\(secret) reached the access log")
                }
                #expect(!text.contains("\r"))
                #expect(byID["forged"] == nil)
            }
        }
    }
}
