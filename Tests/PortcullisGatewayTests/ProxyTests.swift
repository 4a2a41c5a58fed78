import PortcullisHTTP
import NIOPosix
import NIOConcurrencyHelpers
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PortcullisTestSupport
import Testing

@Suite("Proxying through the gateway to the mock process")
struct ProxyTests {
    @Test func nonStreamingChatReachesTheMockAndComesBack() async throws {
        try await withGateway { gateway, mock in
            let reply = try await TestHTTP.chat(gateway.baseURL)
            #expect(reply.status == 200)
            let usage = reply.json?["usage"] as? [String: Any]
            #expect(usage?["total_tokens"] as? Int != nil)
            let requestID = try #require(reply.headers.first(name: "x-request-id"))
            #expect(requestID.count == 32)
            let overhead = try #require(reply.headers.first(name: "x-portcullis-overhead-ms").flatMap(Double.init))
            #expect(overhead >= 0 && overhead < 1000)
            let recorded = try await TestHTTP.recorded(mock.url)
            #expect(recorded.count == 1)
            #expect(recorded[0].recordedHeader("x-request-id") == [requestID])
            #expect(recorded[0].recordedHeader("host") == ["127.0.0.1:\(mock.port)"])
            #expect(recorded[0]["uri"] as? String == "/v1/chat/completions")
        }
    }

    @Test func completionsAndEmbeddingsAndGlobRoutes() async throws {
        try await withGateway { gateway, _ in
            let completion = try await TestHTTP.request(
                gateway.baseURL + "/v1/completions", body: #"{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi"}"#)
            #expect(completion.status == 200)
            #expect(completion.json?["object"] as? String == "text_completion")
            let embedding = try await TestHTTP.request(
                gateway.baseURL + "/v1/embeddings", body: #"{"model":"demo-embed","input":["a","b"]}"#)
            #expect(embedding.status == 200)
            #expect((embedding.json?["data"] as? [Any])?.count == 2)
        }
    }

    @Test func modelsListAndRetrieve() async throws {
        try await withGateway { gateway, mock in
            let list = try await TestHTTP.request(gateway.baseURL + "/v1/models", method: .GET, headers: [])
            #expect(list.status == 200)
            #expect(list.json?["object"] as? String == "list")
            let ids = (list.json?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids == ["demo-chat", "demo-embed"])
            let one = try await TestHTTP.request(gateway.baseURL + "/v1/models/demo-chat", method: .GET, headers: [])
            #expect(one.json?["id"] as? String == "demo-chat")
            let missing = try await TestHTTP.request(gateway.baseURL + "/v1/models/nope", method: .GET, headers: [])
            #expect(missing.status == 404)
            #expect(missing.errorCode == "model_not_found")
            #expect(try await TestHTTP.recorded(mock.url).isEmpty)
        }
    }

    @Test func routeRewritesTheModelSentUpstream() async throws {
        let extra = """
              - name: alias
                match: { model: friendly-name }
                backend: mock
                rewriteModel: org/real-model-v2
            """
        try await withGateway(extra: extra) { gateway, mock in
            let reply = try await TestHTTP.chat(gateway.baseURL, model: "friendly-name")
            #expect(reply.status == 200)
            let recorded = try await TestHTTP.recorded(mock.url)
            let body = try #require(recorded.first?["body"] as? String)
            #expect(body.contains(#""model":"org/real-model-v2""#))
            #expect(!body.contains("friendly-name"))
        }
    }

    @Test func pathPrefixRoutesForwardOtherProtocolsAsTheyAre() async throws {
        let extra = """
              - name: kserve
                match: { pathPrefix: /v1/models/iris }
                backend: mock
              - name: oip
                match: { pathPrefix: /v2/models/iris }
                backend: mock
            """
        try await withGateway(extra: extra) { gateway, mock in
            let v1 = try await TestHTTP.request(gateway.baseURL + "/v1/models/iris:predict", body: #"{"instances":[[1,2,3,4]]}"#)
            #expect(v1.status == 200)
            #expect(v1.json?["predictions"] != nil)
            let v2 = try await TestHTTP.request(
                gateway.baseURL + "/v2/models/iris/infer?trace=1",
                body: #"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"#)
            #expect(v2.status == 200)
            #expect(v2.json?["model_name"] as? String == "iris")
            let other = try await TestHTTP.request(gateway.baseURL + "/v2/models/iris2/infer", body: "{}")
            #expect(other.status == 404)
            let uris = try await TestHTTP.recorded(mock.url).compactMap { $0["uri"] as? String }
            #expect(uris == ["/v1/models/iris:predict", "/v2/models/iris/infer?trace=1"])
        }
    }

    @Test func backendErrorsPassThroughUnchanged() async throws {
        try await withGateway { gateway, _ in
            let reply = try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-mock-status", "503")])
            #expect(reply.status == 503)
            #expect(reply.errorCode == "mock_status_503")
        }
    }

    @Test func roundRobinAcrossEndpointsAndFailoverWhenOneIsDown() async throws {
        let first = try await MockProcess.start()
        defer { first.stop() }
        let second = try await MockProcess.start()
        defer { second.stop() }
        let yaml = """
            listeners: [{ address: 127.0.0.1:0 }]
            accessLog: { destination: "off" }
            backends:
              pair: { endpoints: [\(first.url), \(second.url)] }
              withDead: { endpoints: ["http://127.0.0.1:1", \(first.url)] }
            routes:
              - { match: { model: pair }, backend: pair }
              - { match: { model: dead }, backend: withDead }
            """
        try await withHarness(yaml: yaml, threads: 1) { (gateway: GatewayHarness) async throws in
            for _ in 0..<4 {
                #expect(try await TestHTTP.chat(gateway.baseURL, model: "pair").status == 200)
            }
            #expect(try await TestHTTP.recorded(first.url).count == 2)
            #expect(try await TestHTTP.recorded(second.url).count == 2)
            for _ in 0..<3 {
                #expect(try await TestHTTP.chat(gateway.baseURL, model: "dead").status == 200)
            }
        }
    }

    @Test func aPOSTTheBackendTookAndDiedOnIsNeverSentTwice() async throws {
        // A backend that closes without answering when it sees x-kill, after serving one request
        // on the same (pooled) connection: the gateway cannot tell it from the keep-alive race.
        let seen = NIOLockedValueBox<[String]>([])
        let backend = try await EmbeddedHTTPServer.start(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton) {
            request, writer in
            seen.withLockedValue { $0.append("\(request.head.method.rawValue) \(request.head.headers.first(name: "x-kill") ?? "-")") }
            if request.head.headers.contains(name: "x-kill") {
                writer.abort()
            } else {
                writer.respondJSON(#"{"id":"x","object":"chat.completion","choices":[]}"#)
            }
        }
        let yaml = """
            listeners: [{ address: 127.0.0.1:0 }]
            accessLog: { destination: "off" }
            backends: { killer: { endpoints: ["http://127.0.0.1:\(backend.port)"] } }
            routes: [{ match: { model: demo-chat }, backend: killer }]
            """
        do {
            try await withHarness(yaml: yaml, threads: 1) { (gateway: GatewayHarness) async throws in
                #expect(try await TestHTTP.chat(gateway.baseURL).status == 200)
                let reply = try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-kill", "1")])
                #expect(reply.status == 502)
                #expect(reply.errorCode == "upstream_error")
                #expect(seen.withLockedValue { $0 }.filter { $0.hasSuffix(" 1") }.count == 1, "\(seen.withLockedValue { $0 })")
            }
        } catch {
            await backend.close()
            throw error
        }
        await backend.close()
    }

    @Test func requestIDIsKeptWhenSaneAndReplacedOtherwise() async throws {
        try await withGateway { gateway, mock in
            let kept = try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-request-id", "client-id-123")])
            #expect(kept.headers.first(name: "x-request-id") == "client-id-123")
            let replaced = try await TestHTTP.chat(
                gateway.baseURL, extraHeaders: [("x-request-id", String(repeating: "x", count: 300))])
            let id = try #require(replaced.headers.first(name: "x-request-id"))
            #expect(id.count == 32)
            let recorded = try await TestHTTP.recorded(mock.url)
            #expect(recorded.map { $0.recordedHeader("x-request-id") } == [["client-id-123"], [id]])
        }
    }

    @Test func hopByHopHeadersAreNotForwarded() async throws {
        try await withGateway { gateway, mock in
            let connection = try await RawConnection.connect(port: gateway.port)
            let body = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#
            try await connection.send(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Connection: keep-alive, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
                    + "Proxy-Authorization: Basic abc\r\nUpgrade: h2c\r\nTrailer: x\r\nX-Kept: yes\r\n"
                    + "X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Prefix: /admin\r\n"
                    + "X-Forwarded-Port: 1\r\nX-Real-IP: 6.6.6.6\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let text = try await connection.waitFor("\"usage\"")
            #expect(text.hasPrefix("HTTP/1.1 200"))
            await connection.close()
            let recorded = try #require(try await TestHTTP.recorded(mock.url).first)
            for name in [
                "connection", "x-secret-hop", "keep-alive", "te", "proxy-authorization", "upgrade", "trailer", "forwarded",
                "x-forwarded-prefix", "x-forwarded-port", "x-real-ip",
            ] {
                #expect(recorded.recordedHeader(name).isEmpty, "\(name) was forwarded")
            }
            #expect(recorded.recordedHeader("x-kept") == ["yes"])
            #expect(recorded.recordedHeader("x-forwarded-for") == ["127.0.0.1"])
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withGateway { gateway, mock in
            let connection = try await RawConnection.connect(port: gateway.port)
            func request(_ id: String, model: String = "demo-chat") -> String {
                let body = #"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}]}"#
                return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Request-ID: \(id)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            try await connection.send(
                request("p-1") + "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Request-ID: p-2\r\n\r\n" + request("p-3", model: "nope")
                    + request("p-4"))
            let text = try await connection.waitFor("x-request-id: p-4")
            let order = ["p-1", "p-2", "p-3", "p-4"].compactMap { text.range(of: "x-request-id: \($0)")?.lowerBound }
            #expect(order.count == 4)
            #expect(order == order.sorted())
            #expect(text.components(separatedBy: "HTTP/1.1 200").count - 1 == 3)
            #expect(text.contains("HTTP/1.1 404"))
            await connection.close()
            #expect(try await TestHTTP.recorded(mock.url).count == 2)
        }
    }

    @Test func aLargeResponseDoesNotLeaveItsPooledConnectionPaused() async throws {
        // More than the client channel's write high-water mark in one read batch pauses upstream
        // reads; the connection must be back to reading when the next request borrows it.
        let inputs = (0..<3000).map { "\"text \($0)\"" }.joined(separator: ",")
        try await withGateway { gateway, _ in
            for round in 0..<3 {
                let big = try await TestHTTP.request(
                    gateway.baseURL + "/v1/embeddings", body: #"{"model":"demo-embed","input":[\#(inputs)]}"#)
                #expect(big.status == 200, "round \(round)")
                #expect(big.body.utf8.count > 100_000)
                let small = try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-request-id", "after-big-\(round)")])
                #expect(small.status == 200, "round \(round): \(small.body.prefix(80))")
            }
        }
    }

    @Test func headersWithUnderscoresAreNotForwarded() async throws {
        try await withGateway { gateway, mock in
            let reply = try await TestHTTP.chat(
                gateway.baseURL, extraHeaders: [("X_Tenant_Id", "victim"), ("x_api_key", "k"), ("X-Fine", "yes")])
            #expect(reply.status == 200)
            let recorded = try #require(try await TestHTTP.recorded(mock.url).first)
            let names = (recorded["headers"] as? [[String]] ?? []).map { $0[0].lowercased() }
            #expect(!names.contains { $0.contains("_") })
            #expect(names.contains("x-fine"))
        }
    }

    @Test func aBadPipelinedRequestDoesNotSpoilTheOneBeforeIt() async throws {
        try await withGateway(mockArguments: ["--delay-ms", "200"]) { gateway, mock in
            let connection = try await RawConnection.connect(port: gateway.port)
            let body = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#
            try await connection.send(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                    + "GARBAGE \u{01}\u{02} NOT HTTP\r\n\r\n")
            #expect(try await connection.waitForClose())
            let text = connection.text
            #expect(text.hasPrefix("HTTP/1.1 200 OK"), "\(text.prefix(60))")
            #expect(text.contains("HTTP/1.1 400"))
            #expect(try await TestHTTP.recorded(mock.url).count == 1)
        }
    }

    @Test func http10KeepAliveClientsGetStreamsEndedByClose() async throws {
        try await withGateway(mockArguments: ["--chunks", "3", "--chunk-delay-ms", "0"]) { gateway, _ in
            let connection = try await RawConnection.connect(port: gateway.port)
            let body = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#
            try await connection.send(
                "POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(try await connection.waitForClose(timeout: .seconds(5)))
            #expect(connection.text.contains("data: [DONE]"))
            #expect(!connection.text.lowercased().contains("transfer-encoding: chunked"))
        }
    }

    @Test func refusalsWithALargeUnreadBodyCloseTheConnection() async throws {
        try await withGateway { gateway, mock in
            let connection = try await RawConnection.connect(port: gateway.port)
            try await connection.send("POST /v1/nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 500000\r\n\r\n{\"a\":")
            #expect(try await connection.waitFor("not_found").hasPrefix("HTTP/1.1 404"))
            #expect(try await connection.waitForClose(timeout: .seconds(5)))
            // A small announced body is read and dropped, and the connection stays usable.
            let small = try await RawConnection.connect(port: gateway.port)
            try await small.send("POST /v1/nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
            try await small.send("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await small.waitFor("\"list\"").contains("HTTP/1.1 200"))
            #expect(try await TestHTTP.recorded(mock.url).isEmpty)
        }
    }

    @Test func expectContinueIsAnswered() async throws {
        try await withGateway { gateway, _ in
            let connection = try await RawConnection.connect(port: gateway.port)
            let body = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#
            try await connection.send(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
            let interim = try await connection.waitFor("100 Continue")
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue"))
            try await connection.send(body)
            let text = try await connection.waitFor("\"usage\"")
            #expect(text.contains("HTTP/1.1 200 OK"))
            await connection.close()
        }
    }
}
