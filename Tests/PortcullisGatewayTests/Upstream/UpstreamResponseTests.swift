import NIOCore
import PortcullisTestSupport
import Testing

/// Odd and hostile upstream responses, written byte by byte by a scripted backend, through the
/// gateway over real sockets: what is valid reaches the client intact (de-chunked, re-framed,
/// minus what is hop-by-hop); what could smuggle a second response is a 502, never forwarded.
@Suite struct UpstreamResponseTests {
    static func yaml(port: Int) -> String {
        """
        listeners: [{ address: 127.0.0.1:0 }]
        http: { sseKeepAlive: 100ms }
        accessLog: { destination: "off" }
        backends: { scripted: { endpoints: ["http://127.0.0.1:\(port)"] } }
        routes: [{ match: { model: demo-chat }, backend: scripted }]
        """
    }

    static func through(
        _ response: String, closeAfterResponse: Bool = false, pauseAfter: Int? = nil, pause: TimeAmount = .zero, requests: Int = 1
    ) async throws -> [TestHTTP.Reply] {
        let backend = try await ScriptedBackend.start(
            response: response, closeAfterResponse: closeAfterResponse, pauseAfter: pauseAfter, pause: pause)
        do {
            let replies = try await withHarness(yaml: Self.yaml(port: backend.port), threads: 1) { (gateway: GatewayHarness) async throws in
                var replies: [TestHTTP.Reply] = []
                for _ in 0..<requests { replies.append(try await TestHTTP.chat(gateway.baseURL)) }
                return replies
            }
            await backend.close()
            return replies
        } catch {
            await backend.close()
            throw error
        }
    }

    @Test func aChunkedBodyWithTrailersArrivesWhole() async throws {
        let replies = try await Self.through(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "4;ext=x\r\n{\"id\r\n10\r\n\":\"c\",\"object\":\"\r\n4\r\nx\"} \r\n0\r\nX-Trailer: t\r\n\r\n", requests: 3)
        for reply in replies {
            #expect(reply.status == 200)
            #expect(reply.body == #"{"id":"c","object":"x"} "#)
            #expect(reply.headers.first(name: "x-trailer") == nil)
        }
    }

    @Test func aBodyThatEndsWithTheConnectionArrivesWhole() async throws {
        let replies = try await Self.through(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"id\":\"close-delimited\"}", closeAfterResponse: true, requests: 2)
        for reply in replies {
            #expect(reply.status == 200)
            #expect(reply.body == #"{"id":"close-delimited"}"#)
        }
    }

    @Test func informationalHeadsAreNotForwarded() async throws {
        let reply = try await Self.through("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")[0]
        #expect(reply.status == 201 && reply.body == "ok")
    }

    @Test func hopByHopAndConnectionNamedHeadersStayBehind() async throws {
        let reply = try await Self.through(
            "HTTP/1.1 200 OK\r\nConnection: X-Internal, keep-alive\r\nKeep-Alive: timeout=5\r\nX-Internal: secret\r\n"
                + "X-Request-Id: spoofed\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\n{}")[0]
        #expect(reply.status == 200 && reply.body == "{}")
        #expect(reply.headers.first(name: "x-internal") == nil)
        #expect(reply.headers.first(name: "keep-alive") == nil)
        #expect(reply.headers.first(name: "x-kept") == "yes")
        #expect(reply.headers[canonicalForm: "x-request-id"].count == 1)
        #expect(reply.headers.first(name: "x-request-id") != "spoofed")
    }

    /// `Connection` cannot take the body's length away: a keep-alive client would find no end.
    @Test func aConnectionListedLengthStays() async throws {
        let replies = try await Self.through(
            "HTTP/1.1 200 OK\r\nConnection: content-length, x-hop\r\nX-Hop: 1\r\nContent-Length: 5\r\n\r\nhello", requests: 2)
        for reply in replies {
            #expect(reply.status == 200 && reply.body == "hello")
            #expect(reply.headers.first(name: "content-length") == "5")
            #expect(reply.headers.first(name: "x-hop") == nil)
        }
    }

    @Test func a204LosesItsLength() async throws {
        let replies = try await Self.through("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\nX-Kept: yes\r\n\r\n", requests: 2)
        for reply in replies {
            #expect(reply.status == 204 && reply.body.isEmpty)
            #expect(reply.headers.first(name: "content-length") == nil)
            #expect(reply.headers.first(name: "x-kept") == "yes")
        }
    }

    /// Keep-alive comments would push the backend's last bytes past a fixed length (where a
    /// keep-alive client reads them as the next response): none go into such a stream.
    @Test func noKeepAliveCommentsInAnEventStreamWithALength() async throws {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 18\r\n\r\n"
        let reply = try await Self.through(head + "data: a\n\ndata: b\n\n", pauseAfter: head.utf8.count + 9, pause: .milliseconds(450))[0]
        #expect(reply.status == 200)
        #expect(reply.body == "data: a\n\ndata: b\n\n")
    }

    static let hostile: [String] = [
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nX-A: a\r\n folded: in\r\nContent-Length: 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}",
        "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}",
    ]

    @Test(arguments: Self.hostile)
    func whatCouldSmuggleIsA502(response: String) async throws {
        let reply = try await Self.through(response)[0]
        #expect(reply.status == 502)
        #expect(reply.errorCode == "upstream_error")
    }

    /// A body that breaks after its head went out cannot become a 502: the client's response is
    /// cut off (no clean end, so it cannot be mistaken for a whole one).
    @Test func aBrokenChunkAfterTheHeadCutsTheClientOff() async throws {
        await #expect(throws: (any Error).self) {
            _ = try await Self.through("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\nnothex\r\n")
        }
    }
}
