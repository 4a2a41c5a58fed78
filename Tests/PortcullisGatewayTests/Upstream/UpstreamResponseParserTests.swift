import NIOCore
import Testing

@testable import PortcullisGateway

/// The hand-written upstream response parser: every framing, fed whole and split at every
/// byte, and every strictness rule that keeps a hostile backend from smuggling a response.
@Suite struct UpstreamResponseParserTests {
    /// What a parse produced, comparable across chunkings.
    struct Parsed: Equatable {
        var heads: [Int] = []
        var keepAlive: Bool?
        var framing: UpstreamResponseHead.Framing?
        var fields: [String] = []
        var body = ""
        var ended = false
        var error: UpstreamResponseParser.ParseError?
    }

    static func parse(_ chunks: [String], toHEAD: Bool = false, close: Bool = false) -> Parsed {
        var parser = UpstreamResponseParser()
        parser.expectResponse(toHEAD: toHEAD)
        var parsed = Parsed()
        func take(_ event: UpstreamResponseParser.Event) {
            switch event {
            case .head(let head):
                parsed.heads.append(head.status)
                parsed.keepAlive = head.keepAlive
                parsed.framing = head.framing
                head.forEachField { name, value in
                    parsed.fields.append(String(decoding: name, as: UTF8.self) + "=" + String(decoding: value, as: UTF8.self))
                }
            case .body(let buffer):
                parsed.body += String(buffer: buffer)
            case .end:
                parsed.ended = true
            }
        }
        do {
            for chunk in chunks {
                parser.append(ByteBuffer(string: chunk))
                while let event = try parser.next() { take(event) }
            }
            if close, let event = try parser.inputClosed() { take(event) }
        } catch {
            parsed.error = error
        }
        return parsed
    }

    /// The same result whole, in 1-byte pieces, and split in two at every offset.
    static func parseEverySplit(_ text: String, toHEAD: Bool = false, close: Bool = false) -> Parsed {
        let whole = Self.parse([text], toHEAD: toHEAD, close: close)
        let bytes = Array(text.utf8)
        let single = Self.parse(bytes.map { String(decoding: [$0], as: UTF8.self) }, toHEAD: toHEAD, close: close)
        #expect(single == whole, "1-byte pieces")
        for split in 1..<bytes.count {
            let parts = [String(decoding: bytes[..<split], as: UTF8.self), String(decoding: bytes[split...], as: UTF8.self)]
            let parsed = Self.parse(parts, toHEAD: toHEAD, close: close)
            #expect(parsed == whole, "split at \(split)")
            if parsed != whole { break }
        }
        return whole
    }

    @Test func contentLengthBody() {
        let parsed = Self.parseEverySplit("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\nX-A:  v \t\r\n\r\n{\"a\":1}")
        #expect(parsed.heads == [200])
        #expect(parsed.body == #"{"a":1}"#)
        #expect(parsed.ended && parsed.keepAlive == true && parsed.framing == .length(7))
        #expect(parsed.fields == ["Content-Type=application/json", "Content-Length=7", "X-A=v"])
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() {
        let parsed = Self.parseEverySplit(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n")
        #expect(parsed.body == "helloabcdefghijklmnopqrstuvwxyz")
        #expect(parsed.ended && parsed.framing == .chunked && parsed.error == nil)
        // Leading zeros are padding, however many.
        let padded = Self.parseEverySplit("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000000005\r\nhello\r\n000\r\n\r\n")
        #expect(padded.body == "hello" && padded.ended && padded.error == nil)
    }

    @Test func bodyUntilCloseEndsWithTheConnection() {
        let parsed = Self.parseEverySplit("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", close: true)
        #expect(parsed.body == "all of it" && parsed.ended && parsed.keepAlive == false && parsed.framing == .untilClose)
    }

    @Test func noBodyForHEADAnd204And304() {
        let head = Self.parseEverySplit("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", toHEAD: true)
        #expect(head.ended && head.body.isEmpty && head.framing == UpstreamResponseHead.Framing.none)
        for status in [204, 304] {
            let parsed = Self.parseEverySplit("HTTP/1.1 \(status) X\r\nContent-Length: 5\r\n\r\n")
            #expect(parsed.ended && parsed.body.isEmpty && parsed.heads == [status])
        }
    }

    @Test func informationalResponsesAreSkipped() {
        let parsed = Self.parseEverySplit("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        #expect(parsed.heads == [201] && parsed.body == "ok" && parsed.ended)
    }

    @Test func keepAliveFollowsVersionAndConnection() {
        #expect(Self.parse(["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]).keepAlive == true)
        #expect(Self.parse(["HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n"]).keepAlive == false)
        #expect(Self.parse(["HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"]).keepAlive == false)
        #expect(Self.parse(["HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"]).keepAlive == true)
        #expect(Self.parse(["HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n"]).keepAlive == false)
    }

    @Test func headFactsForTheClientHead() throws {
        var parser = UpstreamResponseParser()
        parser.expectResponse(toHEAD: false)
        parser.append(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nConnection: X-Secret\r\nX-Secret: s\r\n\r\n"))
        guard case .head(let head)? = try parser.next() else {
            Issue.record("no head")
            return
        }
        #expect(head.body == .eventStream && head.needsRewrite && head.connectionTokens == ["x-secret"] && !head.hasContentLength)
        #expect(head.value(of: "x-secret") == "s")
        parser.expectResponse(toHEAD: false)
        parser.append(ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-type: Application/JSON\r\nContent-Length: 2\r\n\r\n"))
        guard case .head(let json)? = try parser.next() else {
            Issue.record("no head")
            return
        }
        #expect(json.body == .json && !json.needsRewrite && json.hasContentLength)
        // `Connection` may not list the length away; a 204's length is not forwarded.
        parser.expectResponse(toHEAD: false)
        parser.append(ByteBuffer(string: "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 0\r\n\r\n"))
        guard case .head(let listed)? = try parser.next(), case .end? = try parser.next() else {
            Issue.record("no head")
            return
        }
        #expect(listed.connectionTokens.isEmpty && listed.hasContentLength && !listed.dropsContentLength)
        parser.expectResponse(toHEAD: false)
        parser.append(ByteBuffer(string: "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n"))
        guard case .head(let noContent)? = try parser.next() else {
            Issue.record("no head")
            return
        }
        #expect(noContent.dropsContentLength && !noContent.hasContentLength && noContent.needsRewrite && noContent.framing == .none)
    }

    static let refused: [(String, UpstreamResponseParser.ParseError)] = [
        // Smuggling: two framings, or two lengths.
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", .badFraming),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", .badFraming),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", .badFraming),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", .badFraming),
        ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", .badFraming),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n", .badFraming),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .badFraming),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .badFraming),
        // Header syntax.
        ("HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n", .badHeader),
        ("HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n", .badHeader),
        ("HTTP/1.1 200 OK\r\nX-A: a\u{0}b\r\nContent-Length: 0\r\n\r\n", .badHeader),
        ("HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n", .badHeader),
        ("HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", .badHeader),
        ("HTTP/1.1 200 OK\r\n: empty\r\n\r\n", .badHeader),
        ("HTTP/1.1 200 OK\r\nX(A): a\r\n\r\n", .badHeader),
        // Status lines.
        ("HTTP/2 200 OK\r\n\r\n", .badStatusLine),
        ("HTTP/1.1 20x OK\r\n\r\n", .badStatusLine),
        ("HTTP/1.1 2000 OK\r\n\r\n", .badStatusLine),
        ("HTTP/1.1 099 Low\r\n\r\n", .badStatusLine),
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", .badStatusLine),
        ("ICY 200 OK\r\n\r\n", .badStatusLine),
        // Chunks.
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .badChunk),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1234567890abcdef\r\n", .badChunk),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", .badChunk),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n", .badChunk),
        // Bytes after the response ended.
        ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\n\r\n", .unexpectedData),
    ]

    @Test(arguments: Self.refused)
    func refusesWhatCouldSmuggleOrConfuse(text: String, error: UpstreamResponseParser.ParseError) {
        #expect(Self.parse([text]).error == error)
        // The same verdict however the bytes arrive.
        let bytes = Array(text.utf8)
        #expect(Self.parse(bytes.map { String(decoding: [$0], as: UTF8.self) }).error == error)
    }

    @Test func limitsHoldAndTruncationIsAnError() {
        let huge = "HTTP/1.1 200 OK\r\nX-A: " + String(repeating: "a", count: UpstreamResponseParser.maxHeadBytes) + "\r\n\r\n"
        #expect(Self.parse([huge]).error == .headTooLarge)
        // A head that never ends is refused once it is too large, not buffered for ever.
        #expect(Self.parse(["HTTP/1.1 200 OK\r\n", String(repeating: "X-A: a\r\n", count: 9000)]).error == .headTooLarge)
        let many = "HTTP/1.1 200 OK\r\n" + String(repeating: "X-A: a\r\n", count: UpstreamResponseParser.maxFields + 1) + "\r\n"
        #expect(Self.parse([many]).error == .headTooLarge)
        #expect(Self.parse(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], close: true).error == .truncated)
        #expect(Self.parse(["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"], close: true).error == .truncated)
        #expect(Self.parse(["HTTP/1.1 200 OK\r\nContent-Le"], close: true).error == .truncated)
    }
}
