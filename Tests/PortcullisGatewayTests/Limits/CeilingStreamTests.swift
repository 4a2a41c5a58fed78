import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import PortcullisTestSupport
import Testing

/// A hard ceiling over real sockets: against a scripted backend whose stream ignores
/// `max_tokens` and whose reads end in the middle of an event, the client still receives only
/// whole events, then the limit's error as the final one, then a clean end; over HTTP/2 (TLS,
/// against the mock) the stream ends the same way and its connection serves the next request.
@Suite struct CeilingStreamTests {
    static let key = "pc-ceiling-stream-0123456789"

    static func yaml(port: Int, quota: Int, http: String = "") -> String {
        """
        listeners: [{ address: 127.0.0.1:0 }]
        \(http)
        accessLog: { destination: "off" }
        backends: { scripted: { endpoints: ["http://127.0.0.1:\(port)"] } }
        routes: [{ match: { model: demo-chat }, backend: scripted }]
        authentication:
          apiKeys: [{ name: k, tenant: acme, sha256: \(AuthFixture.sha(Self.key)) }]
        tenants:
          acme: { limits: { tokensPerMinute: \(quota), maxTokens: 5, ceiling: [tokensPerMinute] } }
        """
    }

    static let event = #"data: {"choices":[{"index":0,"delta":{"content":"w"}}],"usage":null}"# + "\n\n"

    /// With the client's own `include_usage`, its events pass as they come (a read may end
    /// inside one); without it, through the usage filter, which hands on only whole events.
    @Test(arguments: [true, false])
    func aReadEndingMidEventIsFinishedBeforeTheFinalErrorEvent(asksForUsage: Bool) async throws {
        let options = asksForUsage ? #""stream_options":{"include_usage":true},"# : ""
        let body = #"{\#(options)"model":"demo-chat","stream":true,"messages":[{"role":"user","content":"Hello there"}]}"#
        // The prompt estimate the limit stage sees (a token per 3 bytes, with the plan's cap
        // spliced in): the quota leaves room for 30 fragments, so the first part (20 and a half
        // events) stays under it and the second part's first read takes the stream past it.
        let prompt = (body.utf8.count + #""max_completion_tokens":5,"#.utf8.count + 2) / 3
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        let events = String(repeating: Self.event, count: 121)
        let split = head.utf8.count + Self.event.utf8.count * 20 + 30
        let backend = try await ScriptedBackend.start(
            response: head + events, closeAfterResponse: true, pauseAfter: split, pause: .milliseconds(100))
        defer { Task { await backend.close() } }
        let yaml = Self.yaml(port: backend.port, quota: prompt + 30)
        let reply = try await withHarness(yaml: yaml, threads: 1) { (gateway: GatewayHarness) async throws in
            try await TestHTTP.request(
                gateway.baseURL + "/v1/chat/completions",
                headers: [("content-type", "application/json"), ("authorization", "Bearer \(Self.key)")], body: body)
        }
        #expect(reply.status == 200)
        let received = reply.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        let last = try #require(received.last)
        #expect(last.hasPrefix(#"data: {"error":{"message":"The response was cut off"#), "\(last)")
        // Every event before it is whole: the half event is finished first (its read went on to
        // the end of the event), or, through the filter, held back and dropped.
        #expect(received.dropLast().allSatisfy { $0 + "\n\n" == Self.event }, "\(received.dropLast().suffix(2))")
        #expect(received.count - 1 == (asksForUsage ? 21 : 20), "\(received.count - 1) events before the error")
    }

    @Test func aConnectionIdleAfterACutStreamStillTimesOut() async throws {
        // The cut drops the upstream mid-read: the connection's clock must go on without it, or
        // its idle timer would never fire.
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        let backend = try await ScriptedBackend.start(
            response: head + String(repeating: Self.event, count: 200), closeAfterResponse: true)
        defer { Task { await backend.close() } }
        let body = #"{"stream_options":{"include_usage":true},"model":"demo-chat","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#
        let yaml = Self.yaml(port: backend.port, quota: 80, http: "http: { idleTimeout: 300ms }")
        try await withHarness(yaml: yaml, threads: 1) { (gateway: GatewayHarness) async throws in
            let connection = try await RawConnection.connect(port: gateway.port)
            try await connection.send(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Authorization: Bearer \(Self.key)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let answer = try await connection.waitFor("\r\n0\r\n\r\n")
            #expect(answer.contains("The response was cut off"))
            #expect(try await connection.waitForClose(timeout: .seconds(5)), "closed by the idle timeout")
            await connection.close()
        }
    }

    @Test func aHardCeilingEndsAnHTTP2StreamWithAFinalErrorEventAndKeepsTheConnection() async throws {
        let authentication = """
            authentication:
              apiKeys:
                - { name: k, tenant: acme, sha256: \(AuthFixture.sha("pc-ceiling-0123456789abcdef")) }
            tenants:
              acme: { limits: { tokensPerMinute: 120, maxTokens: 5, ceiling: [tokensPerMinute] } }
            """
        try await withTLSGateway(authentication: authentication) { gateway, _, certificates in
            let headers = [
                ("authorization", "Bearer pc-ceiling-0123456789abcdef"), ("x-mock-ignore-max-tokens", "1"), ("x-mock-chunks", "400"),
                ("x-mock-chunk-delay-ms", "1"),
            ]
            let (cut, next) = try await TLSClients.with(ca: certificates.caPath) { h2 in
                (try await tlsChat(h2, port: gateway.port, headers: headers, stream: true), try await tlsChat(h2, port: gateway.port, headers: headers))
            }
            #expect(cut.status == 200 && cut.version == .http2)
            let events = cut.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.count > 20, "the stream ran until the ceiling")
            #expect(events.last?.hasPrefix(#"data: {"error":{"message":"The response was cut off"#) == true, "\(events.last ?? "")")
            #expect(events.last?.contains(#""code":"rate_limit_exceeded""#) == true)
            #expect(!cut.body.contains("[DONE]"))
            #expect(next.status == 429 && next.version == .http2, "the minute's tokens are spent")
        }
    }
}
