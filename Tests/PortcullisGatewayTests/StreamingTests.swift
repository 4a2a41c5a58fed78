import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PortcullisTestSupport
import Testing

@Suite("Streaming through the gateway", .serialized)
struct StreamingTests {
    /// Reads a streamed response, noting when each body part arrived.
    static func stream(_ url: String, body: String, headers: [(String, String)] = []) async throws
        -> (status: Int, parts: [(Duration, String)], started: ContinuousClock.Instant)
    {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let started = ContinuousClock.now
        let response = try await TestHTTP.client.execute(request, timeout: .seconds(30))
        var parts: [(Duration, String)] = []
        for try await part in response.body {
            parts.append((ContinuousClock.now - started, String(buffer: part)))
        }
        return (Int(response.status.code), parts, started)
    }

    static let streamBody = #"{"model":"demo-chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}"#

    @Test func eventsArriveAsTheBackendSendsThemNotBuffered() async throws {
        try await withGateway(mockArguments: ["--chunks", "5", "--chunk-delay-ms", "300"]) { gateway, _ in
            let result = try await Self.stream(gateway.baseURL + "/v1/chat/completions", body: Self.streamBody)
            #expect(result.status == 200)
            let all = result.parts.map(\.1).joined()
            #expect(all.contains("data: [DONE]"))
            let firstData = try #require(result.parts.first { $0.1.contains("data: {") })
            let last = try #require(result.parts.last)
            // The mock spends about 5 x 300 ms between its first and last event; a buffering
            // proxy would deliver everything at the end.
            #expect(last.0 - firstData.0 > .milliseconds(900), "first at \(firstData.0), last at \(last.0)")
            #expect(result.parts.count >= 5)
        }
    }

    @Test func quietStreamsGetKeepAliveComments() async throws {
        let http = "http: { sseKeepAlive: 200ms }"
        try await withGateway(mockArguments: ["--first-chunk-delay-ms", "1200", "--chunks", "2", "--chunk-delay-ms", "0"], http: http) {
            gateway, _ in
            let result = try await Self.stream(gateway.baseURL + "/v1/chat/completions", body: Self.streamBody)
            let all = result.parts.map(\.1).joined()
            let keepAlive = try #require(all.range(of: ": keep-alive\n\n"))
            let firstEvent = try #require(all.range(of: "data: {"))
            #expect(keepAlive.lowerBound < firstEvent.lowerBound)
            #expect(all.components(separatedBy: ": keep-alive").count - 1 >= 3)
            #expect(all.contains("data: [DONE]"))
        }
    }

    @Test func keepAliveCanBeTurnedOff() async throws {
        try await withGateway(mockArguments: ["--first-chunk-delay-ms", "700", "--chunks", "1"], http: "http: { sseKeepAlive: off }") {
            gateway, _ in
            let result = try await Self.stream(gateway.baseURL + "/v1/chat/completions", body: Self.streamBody)
            #expect(!result.parts.map(\.1).joined().contains("keep-alive"))
        }
    }

    @Test func usageIsExtractedFromStreamsAndBodies() async throws {
        try await withTemporaryDirectory { dir in
            let log = dir + "/access.log"
            let mock = try await MockProcess.start(["--chunks", "3", "--chunk-delay-ms", "0"])
            defer { mock.stop() }
            let yaml = testConfig(mockURL: mock.url).replacingOccurrences(
                of: #"accessLog: { destination: "off" }"#, with: "accessLog: { destination: \(log) }")
            try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
                _ = try await Self.stream(
                    gateway.baseURL + "/v1/chat/completions", body: Self.streamBody, headers: [("x-request-id", "streamed-1")])
                _ = try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-request-id", "plain-1")])
                _ = try await TestHTTP.request(
                    gateway.baseURL + "/v1/embeddings", headers: [("content-type", "application/json"), ("x-request-id", "embed-1")],
                    body: #"{"model":"demo-embed","input":"hello"}"#)
                let lines = try await eventually { () -> [[String: Any]]? in
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    let lines = text.split(separator: "\n").compactMap {
                        (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                    }
                    return lines.count >= 3 ? lines : nil
                }
                let byID = Dictionary(uniqueKeysWithValues: lines.map { ($0["id"] as! String, $0) })
                #expect(byID["streamed-1"]?["completion_tokens"] as? Int == 3)
                #expect(byID["plain-1"]?["completion_tokens"] as? Int == 3)
                #expect(byID["plain-1"]?["prompt_tokens"] as? Int != nil)
                #expect(byID["embed-1"]?["prompt_tokens"] as? Int != nil)
                let text = try String(contentsOfFile: log, encoding: .utf8)
                #expect(!text.contains("Hello there"), "prompt text reached the access log")
            }
        }
    }

    @Test func backendDroppingMidStreamEndsTheStreamWithAFinalErrorEvent() async throws {
        try await withGateway(mockArguments: ["--chunks", "6", "--chunk-delay-ms", "10"]) {
            (gateway: GatewayHarness, _: MockProcess) async throws in
            let result = try await Self.stream(
                gateway.baseURL + "/v1/chat/completions", body: Self.streamBody, headers: [("x-mock-drop-after", "2")])
            let text = result.parts.map(\.1).joined()
            #expect(result.status == 200)
            #expect(!text.contains("[DONE]"))
            // The events that came, then the gateway's own OpenAI-shaped error as the last one.
            let events = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.count == 3)
            let last = try #require(events.last)
            #expect(last.hasPrefix("data: {\"error\":"))
            #expect(last.contains(#""type":"server_error""#) && last.contains(#""code":"upstream_error""#))
            // The gateway stays healthy.
            #expect(try await TestHTTP.chat(gateway.baseURL).status == 200)
        }
    }

    @Test func usageSeenBeforeABackendBreaksIsKeptAndLogged() async throws {
        try await withTemporaryDirectory { dir in
            let log = dir + "/access.log"
            // Three content events, the finish event, the usage event, then the backend drops
            // the connection instead of sending [DONE].
            let mock = try await MockProcess.start(["--chunks", "3", "--chunk-delay-ms", "0"])
            defer { mock.stop() }
            let yaml = testConfig(mockURL: mock.url).replacingOccurrences(
                of: #"accessLog: { destination: "off" }"#, with: "accessLog: { destination: \(log) }")
            try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
                let connection = try await RawConnection.connect(port: gateway.port)
                let body = Self.streamBody
                try await connection.send(
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-request-id: broken-1\r\nx-mock-drop-after: 5\r\n"
                        + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
                // The stream ends cleanly, with the gateway's error as its last event, and the
                // connection stays open for the next request.
                _ = try await connection.waitFor("\r\n0\r\n\r\n")
                #expect(connection.text.contains(#""code":"upstream_error""#))
                #expect(!connection.isClosedByPeer)
                #expect(connection.text.contains("\"usage\""))
                #expect(!connection.text.contains("[DONE]"))
                let line = try await eventually { () -> [String: Any]? in
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    return text.split(separator: "\n").compactMap {
                        (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                    }.first { $0["id"] as? String == "broken-1" }
                }
                #expect(line["outcome"] as? String == "upstream_failed")
                #expect(line["phase"] as? String == "streaming")
                #expect(line["reason"] as? String == "upstream_broken")
                #expect(line["completion_tokens"] as? Int == 3)
            }
        }
    }

    @Test func clientLeavingMidStreamCancelsTheUpstreamRequest() async throws {
        // A long stream (10 s): the abort must reach the backend before it ends on its own.
        try await withGateway(mockArguments: ["--chunks", "200", "--chunk-delay-ms", "50"]) { gateway, mock in
            let connection = try await RawConnection.connect(port: gateway.port)
            let body = Self.streamBody
            try await connection.send(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            _ = try await connection.waitFor("data: {")
            await connection.close()
            // The gateway drops its upstream connection, so the backend stops generating.
            let aborted = try await eventually { () -> Int? in
                let stats = try await TestHTTP.request(mock.url + "/__mock/stats", method: .GET, headers: [])
                let count = stats.json?["abortedStreams"] as? Int ?? 0
                return count > 0 ? count : nil
            }
            #expect(aborted == 1)
            for _ in 0..<3 {
                #expect(try await TestHTTP.chat(gateway.baseURL).status == 200)
            }
        }
    }
}
