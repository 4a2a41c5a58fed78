import Foundation
import PortcullisTestSupport
import Testing

/// HTTP/2 toward backends (`http2: true`), over real sockets: h2c with prior knowledge to a
/// `portcullis mock --http2`, h2 by ALPN to a TLS gateway in front of a mock, and what a
/// backend that does not speak it costs the client (a fast 502, never a hang).
@Suite(.serialized) struct UpstreamHTTP2Tests {
    @Test func priorKnowledgeH2CarriesAnswersStreamsAndConcurrentRequestsOnOneConnection() async throws {
        let mock = try await MockProcess.start(["--http2", "--chunks", "4", "--chunk-delay-ms", "5"])
        defer { mock.stop() }
        let yaml = ResilienceTests.config(
            backends: "  h2: { endpoints: [\(mock.url)], http2: true }",
            routes: "  - { match: { model: demo-chat }, backend: h2 }")
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            let plain = try await TestHTTP.chat(gateway.baseURL)
            #expect(plain.status == 200 && plain.body.contains(#""object":"chat.completion""#), "\(plain.body)")
            let streamed = try await TestHTTP.chat(gateway.baseURL, stream: true)
            #expect(streamed.status == 200)
            #expect(streamed.body.components(separatedBy: "data: ").count - 1 >= 5, "four chunks, then [DONE]")
            #expect(streamed.body.hasSuffix("data: [DONE]\n\n"))
            // Sixteen at once: streams on this loop's connection, not a connection each.
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<16 { group.addTask { try await TestHTTP.chat(gateway.baseURL).status } }
                for try await status in group { #expect(status == 200) }
            }
            let recorded = try await TestHTTP.recorded(mock.url)
            let chats = recorded.filter { ($0["uri"] as? String) == "/v1/chat/completions" }
            #expect(chats.count == 18)
            #expect(chats.allSatisfy { ($0["version"] as? String) == "2.0" }, "every request came over HTTP/2")
            let first = try #require(chats.first)
            let headers = (first["headers"] as? [[String]]) ?? []
            #expect(headers.contains { $0[0] == "x-request-id" }, "the gateway's headers arrive, lowercase")
            let backends = try await ResilienceTests.admin(gateway, "/backends").body
            #expect(backends.contains(#""http2":true"#))
            let connections = try #require(
                backends.range(of: #""connections":(\d+)"#, options: .regularExpression).map { backends[$0] }.flatMap {
                    Int($0.split(separator: ":")[1])
                })
            #expect(connections >= 1 && connections <= 2, "one connection per event loop (two), not per request")
        }
    }

    @Test func aStreamTheBackendResetsMidWayEndsWithAnErrorEventAndTheConnectionLivesOn() async throws {
        let mock = try await MockProcess.start(["--http2", "--chunks", "6", "--chunk-delay-ms", "5"])
        defer { mock.stop() }
        let yaml = ResilienceTests.config(
            backends: "  h2: { endpoints: [\(mock.url)], http2: true, outlierDetection: off }",
            routes: "  - { match: { model: demo-chat }, backend: h2 }")
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            let broken = try await TestHTTP.chat(gateway.baseURL, stream: true, extraHeaders: [("x-mock-drop-after", "2")])
            #expect(broken.status == 200)
            #expect(broken.body.contains(#""code":"upstream_error""#), "\(broken.body)")
            #expect(!broken.body.contains("[DONE]"))
            // Only that stream was reset: the next requests share the same connection's other streams.
            for _ in 0..<3 { #expect(try await TestHTTP.chat(gateway.baseURL).status == 200) }
        }
    }

    @Test func anIdleH2ConnectionIsClosedAfterTheKeepAliveTimeout() async throws {
        let mock = try await MockProcess.start(["--http2"])
        defer { mock.stop() }
        let yaml = ResilienceTests.config(
            backends: "  h2: { endpoints: [\(mock.url)], http2: true, keepAliveTimeout: 1s }",
            routes: "  - { match: { model: demo-chat }, backend: h2 }")
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            #expect(try await TestHTTP.chat(gateway.baseURL).status == 200)
            let open = try await ResilienceTests.admin(gateway, "/backends").body
            #expect(!open.contains(#""connections":0"#), "the connection stays for the next request")
            // The sweep runs every second: within a few, its maxConnections place is given back.
            _ = try await eventually { () async throws -> Bool? in
                try await ResilienceTests.admin(gateway, "/backends").body.contains(#""connections":0"#) ? true : nil
            }
            #expect(try await TestHTTP.chat(gateway.baseURL).status == 200, "a fresh connection serves the next one")
        }
    }

    @Test func aPeerThatAcceptsTCPAndNeverSpeaksH2FailsTheConnectWithinItsTimeout() async throws {
        let silent = try await ScriptedBackend.start(response: "")  // reads the preface, says nothing
        let yaml = ResilienceTests.config(
            backends: """
                  mute: { endpoints: [http://127.0.0.1:\(silent.port)], http2: true, connectTimeout: 300ms, retries: off, outlierDetection: off }
                """,
            routes: "  - { match: { model: demo-chat }, backend: mute }")
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            for _ in 0..<2 {
                let started = Date()
                let reply = try await TestHTTP.chat(gateway.baseURL)
                #expect(reply.status == 504 && reply.body.contains("upstream_timeout"), "\(reply.status) \(reply.body)")
                #expect(Date().timeIntervalSince(started) < 3, "the whole open is held to the connect timeout")
            }
            // Nothing stays held: no pending connect, no connection.
            _ = try await eventually { () async throws -> Bool? in
                let body = try await ResilienceTests.admin(gateway, "/backends").body
                return body.contains(#""pendingRequests":0"#) && body.contains(#""connections":0"#) ? true : nil
            }
        }
        await silent.close()
    }

    @Test func aStreamRefusedUnprocessedIsSentOnceMoreEvenForAPost() async throws {
        let backend = try await RefusingHTTP2Backend.start(refusals: 1)
        let yaml = ResilienceTests.config(
            backends: "  refusing: { endpoints: [http://127.0.0.1:\(backend.port)], http2: true, retries: off }",
            routes: "  - { match: { model: demo-chat }, backend: refusing }")
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            let reply = try await TestHTTP.chat(gateway.baseURL)
            #expect(reply.status == 200, "\(reply.body)")
            #expect(backend.streamsSeen == 2, "refused once, then answered")
        }
        await backend.close()
        // Refused again and again: one more try only, then 502.
        let stubborn = try await RefusingHTTP2Backend.start(refusals: 100)
        let again = ResilienceTests.config(
            backends: "  refusing: { endpoints: [http://127.0.0.1:\(stubborn.port)], http2: true, retries: off }",
            routes: "  - { match: { model: demo-chat }, backend: refusing }")
        try await withHarness(yaml: again) { (gateway: GatewayHarness) async throws in
            let reply = try await TestHTTP.chat(gateway.baseURL)
            #expect(reply.status == 502, "\(reply.body)")
            #expect(stubborn.streamsSeen == 2, "one retry on a fresh stream, not more")
        }
        await stubborn.close()
    }

    @Test func aBackendThatDoesNotSpeakH2IsAFast502() async throws {
        let mock = try await MockProcess.start()  // HTTP/1.1 only
        defer { mock.stop() }
        let yaml = ResilienceTests.config(
            backends: "  h2: { endpoints: [\(mock.url)], http2: true, retries: off, outlierDetection: off }",
            routes: "  - { match: { model: demo-chat }, backend: h2 }")
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            let started = Date()
            let reply = try await TestHTTP.chat(gateway.baseURL)
            #expect(reply.status == 502, "\(reply.body)")
            #expect(reply.body.contains("upstream_error"))
            #expect(Date().timeIntervalSince(started) < 5)
        }
    }

    @Test func h2ByALPNOverTLSAndARefusalWhenTheServerOnlyOffersHTTP11() async throws {
        for offersH2 in [true, false] {
            try await withTLSGateway(http2: offersH2 ? "" : "http2: { enabled: false }") { front, mock, certificates in
                let yaml = ResilienceTests.config(
                    backends: """
                          secure: { endpoints: [https://localhost:\(front.port)], tls: { ca: \(certificates.caPath) }, http2: true, retries: off }
                        """,
                    routes: "  - { match: { model: demo-chat }, backend: secure }")
                try await withHarness(yaml: yaml) { (edge: GatewayHarness) async throws in
                    let plain = try await TestHTTP.chat(edge.baseURL)
                    let streamed = try await TestHTTP.chat(edge.baseURL, stream: true)
                    if offersH2 {
                        #expect(plain.status == 200)
                        #expect(streamed.status == 200 && streamed.body.hasSuffix("data: [DONE]\n\n"))
                    } else {
                        // Only h2 is offered: a server that selects nothing fails the connect.
                        #expect(plain.status == 502 && streamed.status == 502)
                    }
                }
                let recorded = try await TestHTTP.recorded(mock.url).filter { ($0["uri"] as? String) == "/v1/chat/completions" }
                #expect(recorded.count == (offersH2 ? 2 : 0))
            }
        }
    }
}
