import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PortcullisTestSupport
import Testing

@Suite("Requests the gateway refuses itself")
struct RefusalTests {
    @Test func badRequestsGetOpenAIErrorsAndNeverReachTheBackend() async throws {
        try await withGateway(http: "http: { maxRequestBytes: 2KiB }") { gateway, mock in
            let base = gateway.baseURL
            let cases: [(String, HTTPMethod, String?, Int, String, String?)] = [
                ("/v1/chat/completions", .POST, #"{"model":"#, 400, "invalid_json", nil),
                ("/v1/chat/completions", .POST, #"[1,2]"#, 400, "invalid_json", nil),
                ("/v1/chat/completions", .POST, #"{"messages":[]}"#, 400, "missing_model", "model"),
                ("/v1/chat/completions", .POST, #"{"model":7}"#, 400, "invalid_type", "model"),
                ("/v1/chat/completions", .POST, #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"model":"gpt-4"}"#, 400, "duplicate_key", "model"),
                ("/v1/chat/completions", .POST, #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#, 400, "invalid_type", "stream"),
                ("/v1/chat/completions", .POST, #"{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}"#, 404, "model_not_found", "model"),
                ("/v1/embeddings", .POST, "", 400, "invalid_request", nil),
                ("/v1/nothing-here", .POST, "{}", 404, "not_found", nil),
                ("/v1/chat/completions", .GET, nil, 405, "method_not_allowed", nil),
                ("/v1/models", .DELETE, nil, 405, "method_not_allowed", nil),
                ("/v1/chat/completions", .POST, #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"x":""# + String(repeating: "a", count: 4000) + #""}"#, 413, "request_too_large", nil),
            ]
            for (path, method, body, status, code, param) in cases {
                let reply = try await TestHTTP.request(base + path, method: method, body: body)
                #expect(reply.status == status, "\(method) \(path) \(body?.prefix(40) ?? "")")
                #expect(reply.errorCode == code, "\(method) \(path): \(reply.body)")
                let error = reply.json?["error"] as? [String: Any]
                #expect(error?["message"] is String)
                #expect(error?["type"] is String)
                #expect((error?["param"] as? String) == param)
                #expect(reply.headers.first(name: "x-request-id") != nil)
            }
            #expect(try await TestHTTP.recorded(mock.url).isEmpty, "a refused request reached the backend")
        }
    }

    /// Found when tried as a hostile client would: a JSON body declared as text, a lone
    /// surrogate escape deep in the body, and a model name in another Unicode normal form or with
    /// a zero-width character; each is refused and nothing reaches the backend.
    @Test func hostileBodiesAreRefusedAndNeverReachTheBackend() async throws {
        try await withGateway(models: ["demo-chat", "caf\u{E9}"]) { gateway, mock in
            let base = gateway.baseURL
            let plain = try await TestHTTP.request(
                base + "/v1/chat/completions", headers: [("content-type", "text/plain")], body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(plain.status == 415 && plain.errorCode == "unsupported_media_type", "\(plain.body)")
            let surrogate = try await TestHTTP.request(
                base + "/v1/chat/completions", body: #"{"model":"demo-chat","messages":[{"role":"user","content":"x\ud800y"}]}"#)
            #expect(surrogate.status == 400 && surrogate.errorCode == "invalid_json", "\(surrogate.body)")
            for model in ["cafe\u{301}", "demo\u{200B}-chat", "Demo-Chat", " demo-chat"] {
                let reply = try await TestHTTP.request(base + "/v1/chat/completions", body: #"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}]}"#)
                #expect(reply.status == 404 && reply.errorCode == "model_not_found", "\(model.unicodeScalars.map(\.value))")
            }
            #expect(try await TestHTTP.recorded(mock.url).isEmpty, "a refused request reached the backend")
            #expect(try await TestHTTP.request(base + "/v1/chat/completions", body: "{\"model\":\"caf\u{E9}\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}").status == 200)
        }
    }

    @Test func contentLengthOverTheLimitIsRefusedBeforeTheBodyArrives() async throws {
        try await withGateway(http: "http: { maxRequestBytes: 1KiB }") { gateway, mock in
            let connection = try await RawConnection.connect(port: gateway.port)
            try await connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n{")
            let text = try await connection.waitFor("request_too_large")
            #expect(text.hasPrefix("HTTP/1.1 413"))
            #expect(try await connection.waitForClose())
            #expect(try await TestHTTP.recorded(mock.url).isEmpty)
        }
    }

    @Test(arguments: [
        "/v1/../v1/chat/completions", "/v1/%2e%2e/v1/chat/completions", "//v1/chat/completions",
        "http://127.0.0.1/v1/chat/completions", "/v1/chat/completions/../../admin", "/v1%2fchat/completions",
    ])
    func trickyTargetsNeverReachARoute(target: String) async throws {
        try await withGateway { gateway, mock in
            let connection = try await RawConnection.connect(port: gateway.port)
            let body = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#
            try await connection.send(
                "POST \(target) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let text = try await connection.waitFor("\"code\"")
            #expect(text.hasPrefix("HTTP/1.1 400") || text.hasPrefix("HTTP/1.1 404"), "\(target): \(text.prefix(40))")
            await connection.close()
            #expect(try await TestHTTP.recorded(mock.url).isEmpty)
        }
    }

    @Test(arguments: [
        ("GET /v1/models HTTP/1.1\r\n\r\n", "invalid_host"),
        ("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 20\r\n\r\n{\"model\":\"demo-chat\"}", "invalid_host"),
        ("POST /v1/chat/completions HTTP/1.1\r\nHost: a b\r\nContent-Length: 20\r\n\r\n{\"model\":\"demo-chat\"}", "invalid_host"),
        ("POST /v1/chat/completions HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n{\"model\":\"demo-chat\"}\r\n0\r\n\r\n", "invalid_framing"),
        ("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n14\r\n{\"model\":\"demo-chat\"}\r\n0\r\n\r\n", "unsupported_transfer_encoding"),
        ("GET /v1/models HTTP/1.1\r\nHost: a:99999\r\n\r\n", "invalid_host"),
        ("CONNECT evil:443 HTTP/1.1\r\nHost: evil:443\r\n\r\n", "method_not_allowed"),
        ("CONNECT /v1/models HTTP/1.1\r\nHost: a\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n", "method_not_allowed"),
        ("TRACE /v1/models HTTP/1.1\r\nHost: a\r\n\r\n", "method_not_allowed"),
        // A bad chunk in the same read as the head: a 400, not an empty reply or a 502.
        ("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", "invalid_http"),
    ])
    func hostAndFramingAreCheckedBeforeAnythingIsForwarded(request: String, code: String) async throws {
        try await withGateway { gateway, mock in
            let connection = try await RawConnection.connect(port: gateway.port)
            try await connection.send(request)
            let text = try await connection.waitFor(request.hasPrefix("CONNECT") ? "connection: close" : code)
            #expect(text.contains(" 400 ") || text.contains(" 405 ") || text.contains(" 501 "), "\(text.prefix(60))")
            if !request.hasPrefix("CONNECT") { #expect(text.contains(code), "\(text)") }
            // A complete OpenAI-shaped body (NIO's encoder gives a response to CONNECT none), and
            // the connection ends with it.
            if !request.hasPrefix("CONNECT") {
                let body = try #require(text.components(separatedBy: "\r\n\r\n").dropFirst().first)
                #expect((try? JSONSerialization.jsonObject(with: Data(body.utf8))) != nil, "\(text)")
            }
            #expect(try await connection.waitForClose())
            #expect(text.components(separatedBy: "x-request-id:").count == 2, "a request after it was answered")
            #expect(try await TestHTTP.recorded(mock.url).isEmpty)
        }
    }

    @Test func aRefusedRequestWithALargeBodyStillGetsItsAnswerThenTheConnectionEnds() async throws {
        try await withGateway { gateway, mock in
            let connection = try await RawConnection.connect(port: gateway.port)
            try await connection.send("POST /v1/nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 500000\r\n\r\n{\"a\":")
            #expect(try await connection.waitFor("not_found").hasPrefix("HTTP/1.1 404"))
            // The client goes on uploading; the gateway drops it instead of resetting under the answer.
            for _ in 0..<10 { try? await connection.send(String(repeating: "x", count: 10_000)) }
            #expect(try await connection.waitForClose(timeout: .seconds(6)))
            #expect(connection.text.contains("\"code\":\"not_found\"}}"))
            #expect(try await TestHTTP.recorded(mock.url).isEmpty)
        }
    }

    @Test func oversizedAndTooManyHeadersGet431() async throws {
        try await withGateway(http: "http: { maxHeaderBytes: 2KiB, maxHeaderCount: 20 }") { gateway, mock in
            let big = try await RawConnection.connect(port: gateway.port)
            try await big.send(
                "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 4096))\r\n\r\n")
            #expect(try await big.waitFor("headers_too_large").hasPrefix("HTTP/1.1 431"))
            #expect(try await big.waitForClose())
            let many = try await RawConnection.connect(port: gateway.port)
            let headers = (0..<30).map { "X-H\($0): v\r\n" }.joined()
            try await many.send("GET /v1/models HTTP/1.1\r\nHost: x\r\n\(headers)\r\n")
            #expect(try await many.waitFor("headers_too_large").hasPrefix("HTTP/1.1 431"))
            #expect(try await TestHTTP.recorded(mock.url).isEmpty)
        }
    }

    @Test func unreachableBackendIs502AndSlowBackendIs504() async throws {
        let yaml = """
            listeners: [{ address: 127.0.0.1:0 }]
            accessLog: { destination: "off" }
            backends:
              dead: { endpoints: ["http://127.0.0.1:1"], connectTimeout: 1s }
            routes: [{ match: { model: dead }, backend: dead }]
            """
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            let reply = try await TestHTTP.chat(gateway.baseURL, model: "dead")
            #expect(reply.status == 502)
            #expect(reply.errorCode == "upstream_error")
        }
        try await withGateway(extra: "") { gateway, _ in
            // The test config's backend has responseTimeout 5s; the mock waits 8s before headers.
            let reply = try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-mock-delay-ms", "8000")])
            #expect(reply.status == 504)
            #expect(reply.errorCode == "upstream_timeout")
        }
    }
}

@Suite("Slow and idle clients", .serialized)
struct ClientTimeoutTests {
    static let http = "http: { headerTimeout: 400ms, bodyTimeout: 400ms, idleTimeout: 2s }"

    @Test func slowHeadersGet408AndAreClosed() async throws {
        try await withGateway(http: Self.http) { gateway, _ in
            let connection = try await RawConnection.connect(port: gateway.port)
            try await connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
            let started = ContinuousClock.now
            let text = try await connection.waitFor("request_timeout", timeout: .seconds(5))
            #expect(text.hasPrefix("HTTP/1.1 408"))
            #expect(try await connection.waitForClose())
            #expect(ContinuousClock.now - started < .seconds(3))
        }
    }

    @Test func slowBodiesGet408() async throws {
        try await withGateway(http: Self.http) { gateway, mock in
            let connection = try await RawConnection.connect(port: gateway.port)
            try await connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\":")
            let text = try await connection.waitFor("request_timeout", timeout: .seconds(5))
            #expect(text.hasPrefix("HTTP/1.1 408"))
            #expect(try await connection.waitForClose())
            #expect(try await TestHTTP.recorded(mock.url).isEmpty)
        }
    }

    @Test func theHeaderTimeoutAlsoAppliesToTheNextRequestOnAKeptConnection() async throws {
        try await withGateway(http: "http: { headerTimeout: 400ms, bodyTimeout: 400ms, idleTimeout: 30s }") { gateway, _ in
            let connection = try await RawConnection.connect(port: gateway.port)
            try await connection.send("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try await connection.waitFor("\"list\"")
            let started = ContinuousClock.now
            try await connection.send("GET /v1/models HTTP/1.1\r\nHost: x\r\n")
            let text = try await connection.waitFor("request_timeout", timeout: .seconds(10))
            #expect(text.contains("HTTP/1.1 408"))
            #expect(ContinuousClock.now - started < .seconds(5), "the idle timeout applied instead of the header timeout")
        }
    }

    @Test func idleKeepAliveConnectionsAreClosed() async throws {
        try await withGateway(http: Self.http) { gateway, _ in
            let connection = try await RawConnection.connect(port: gateway.port)
            try await connection.send("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await connection.waitFor("\"list\"").hasPrefix("HTTP/1.1 200"))
            #expect(!connection.isClosedByPeer)
            #expect(try await connection.waitForClose(timeout: .seconds(5)))
        }
    }
}
