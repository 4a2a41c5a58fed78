import NIOCore
import NIOHTTP1
import Testing

@testable import PortcullisGateway

/// The client request parser on its own: every framing, pipelining, and every malformed or
/// smuggling-shaped head refused, each checked whole, byte by byte, and split at every offset.
@Suite struct ClientRequestParserTests {
    struct Parsed: Equatable {
        /// "METHOD uri HTTP/1.x" per head, and its header fields as "name=value".
        var heads: [String] = []
        var fields: [[String]] = []
        var bodies: [String] = []
        var ends = 0
        var error: ClientRequestParser.ParseError?
    }

    static let limits = ClientRequestParser.Limits(maxHeaderBytes: 1024, maxFields: 10)

    static func parse(_ chunks: [String], limits: ClientRequestParser.Limits = Self.limits) -> Parsed {
        var parser = ClientRequestParser(limits: limits)
        var parsed = Parsed()
        var body = ""
        do {
            for chunk in chunks {
                parser.append(ByteBuffer(string: chunk))
                while let event = try parser.next() {
                    switch event {
                    case .head(let head):
                        parsed.heads.append("\(head.method.rawValue) \(head.uri) HTTP/\(head.version.major).\(head.version.minor)")
                        parsed.fields.append(head.headers.map { "\($0.name)=\($0.value)" })
                    case .body(let part):
                        body += String(buffer: part)
                    case .end:
                        parsed.bodies.append(body)
                        body = ""
                        parsed.ends += 1
                    }
                }
            }
        } catch {
            parsed.error = error
        }
        return parsed
    }

    /// The same result whole, in 1-byte pieces, and split in two at every offset.
    static func parseEverySplit(_ text: String, limits: ClientRequestParser.Limits = Self.limits) -> Parsed {
        let whole = Self.parse([text], limits: limits)
        let bytes = Array(text.utf8)
        let single = Self.parse(bytes.map { String(decoding: [$0], as: UTF8.self) }, limits: limits)
        #expect(single == whole, "1-byte pieces")
        for split in 1..<bytes.count {
            let parts = [String(decoding: bytes[..<split], as: UTF8.self), String(decoding: bytes[split...], as: UTF8.self)]
            let parsed = Self.parse(parts, limits: limits)
            #expect(parsed == whole, "split at \(split)")
            if parsed != whole { break }
        }
        return whole
    }

    @Test func aLengthFramedRequestAndPipelinedOnesAfterIt() {
        let parsed = Self.parseEverySplit(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\nX-A:  v \t\r\n\r\n{\"a\":1}"
                + "\r\nGET /v1/models?x=1 HTTP/1.1\r\nHost: gw\r\n\r\nGET /v1/models HTTP/1.0\r\n\r\n")
        #expect(parsed.error == nil)
        #expect(parsed.heads == ["POST /v1/chat/completions HTTP/1.1", "GET /v1/models?x=1 HTTP/1.1", "GET /v1/models HTTP/1.0"])
        #expect(parsed.fields.first == ["Host=gw", "Content-Length=7", "X-A=v"])
        #expect(parsed.bodies == [#"{"a":1}"#, "", ""])
        #expect(parsed.ends == 3)
    }

    @Test func chunkedBodiesWithExtensionsAndTrailers() {
        let parsed = Self.parseEverySplit(
            "POST /v1/embeddings HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                + "5;ext=1\r\nhello\r\n000A\r\nabcdefghij\r\n0\r\nX-Trailer: t\r\n\r\nGET / HTTP/1.1\r\nHost: gw\r\n\r\n")
        #expect(parsed.error == nil)
        #expect(parsed.bodies == ["helloabcdefghij", ""])
        #expect(parsed.heads.count == 2)
        // The coding list is the head check's to refuse (501); framing it is this parser's.
        #expect(parsed.fields.first?.contains("Transfer-Encoding=gzip, chunked") == true)
    }

    @Test(arguments: [
        // Smuggling shapes: a length beside a coding, codings that leave the body unframed,
        // differing or malformed lengths.
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ClientRequestParser.ParseError.badFraming),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .badFraming),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .badFraming),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", .badFraming),
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", .badFraming),
        ("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", .badFraming),
        ("POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", .badFraming),
        ("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", .badFraming),
        ("POST / HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n", .badFraming),
        // Header lines: obs-fold, space before the colon, control bytes, bare CR or LF.
        ("GET / HTTP/1.1\r\nX-A: a\r\n  folded\r\n\r\n", .badHeader),
        ("GET / HTTP/1.1\r\nX-A : a\r\n\r\n", .badHeader),
        ("GET / HTTP/1.1\r\nX-A: a\u{01}b\r\n\r\n", .badHeader),
        ("GET / HTTP/1.1\r\nX-A: a\u{7F}\r\n\r\n", .badHeader),
        ("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", .badHeader),
        ("GET / HTTP/1.1\r\nX-A: a\nX-B: b\r\n\r\n", .badHeader),
        ("GET / HTTP/1.1\r\n: empty-name\r\n\r\n", .badHeader),
        // Request lines.
        ("GET  / HTTP/1.1\r\n\r\n", .badRequestLine),
        ("GET / HTTP/2.0\r\n\r\n", .badRequestLine),
        ("GET / HTTP/1.1 \r\n\r\n", .badRequestLine),
        ("GET /a\u{01}b HTTP/1.1\r\n\r\n", .badRequestLine),
        ("G(T / HTTP/1.1\r\n\r\n", .badRequestLine),
        ("GET /\r\n\r\n", .badRequestLine),
        ("BAD \u{01} HTTP\r\n\r\n", .badRequestLine),
        // Chunks.
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .badChunk),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", .badChunk),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", .badChunk),
        // Chunk extensions: no control byte (a bare LF or CR there makes chunk boundaries differ
        // between two parsers), nothing but `;` after the size.
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nXYZ\r\nhello\r\n0\r\n\r\n", .badChunk),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\r\nhello\r\n0\r\n\r\n", .badChunk),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;\u{0}\r\nhello\r\n0\r\n\r\n", .badChunk),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 junk\r\nhello\r\n0\r\n\r\n", .badChunk),
        // Trailers are held to the header grammar.
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\nGET /a HTTP/1.1\r\n\r\n", .badChunk),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n", .badChunk),
        // Only HTTP/1.0 and HTTP/1.1.
        ("GET / HTTP/1.2\r\n\r\n", .badRequestLine),
    ])
    func malformedRequestsAreRefused(request: String, error: ClientRequestParser.ParseError) {
        #expect(Self.parseEverySplit(request).error == error, "\(request.debugDescription)")
    }

    @Test func headsOverTheLimitsAreTooLarge() {
        let big = "GET / HTTP/1.1\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n"
        #expect(Self.parse([big]).error == .headTooLarge)
        // An unfinished head is refused as soon as it is over the limit, not buffered on.
        #expect(Self.parse(["GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 10_000)]).error == .headTooLarge)
        let many = "GET / HTTP/1.1\r\n" + (0..<11).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(Self.parse([many]).error == .headTooLarge)
        let ten = "GET / HTTP/1.1\r\n" + (0..<10).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(Self.parse([ten]).error == nil)
        let longTarget = "GET /" + String(repeating: "a", count: ClientRequestParser.maxRequestLineBytes) + " HTTP/1.1\r\n\r\n"
        #expect(Self.parse([longTarget]).error == .headTooLarge)
    }

    @Test func emptyLinesBeforeARequestAreIgnoredAndNothingIsHeldWhenIdle() {
        let parsed = Self.parseEverySplit("\r\n\r\nGET / HTTP/1.1\r\nHost: gw\r\n\r\n\r\nGET /b HTTP/1.1\r\nHost: gw\r\n\r\n")
        #expect(parsed.heads == ["GET / HTTP/1.1", "GET /b HTTP/1.1"] && parsed.error == nil)
        // Between requests, and after a body read whole, nothing is held.
        var parser = ClientRequestParser(limits: Self.limits)
        parser.append(ByteBuffer(string: "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /next HT"))
        var events = 0
        while (try? parser.next()) ?? nil != nil { events += 1 }
        #expect(events == 3 && parser.bufferedBytes == "GET /next HT".utf8.count)
        parser.append(ByteBuffer(string: "TP/1.1\r\n\r\n"))
        while (try? parser.next()) ?? nil != nil { events += 1 }
        #expect(events == 5 && parser.bufferedBytes == 0)
        // Methods are upper case: `head` or `connect` cannot pass for another method downstream.
        #expect(Self.parse(["head / HTTP/1.1\r\n\r\n"]).error == .badRequestLine)
        #expect(Self.parse(["M-SEARCH / HTTP/1.1\r\n\r\n"]).heads == ["M-SEARCH / HTTP/1.1"])
    }

    @Test func chunkLinesAndTrailersAreBoundedEvenWhenTheyArriveWhole() {
        // A chunk-size line over 1 KiB is refused even when its end is in the same read (an
        // extension must not let bytes past the body limit's count).
        let long = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;" + String(repeating: "e", count: 2000) + "\r\nA\r\n0\r\n\r\n"
        #expect(Self.parse([long]).error == .badChunk)
        let zeros = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "0", count: 1100) + "1\r\nA\r\n0\r\n\r\n"
        #expect(Self.parse([zeros]).error == .badChunk)
        let trailers = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
            + (0..<100).map { "X-T\($0): " + String(repeating: "v", count: 100) + "\r\n" }.joined() + "\r\n"
        #expect(Self.parse([trailers]).error == .badChunk)
        let fine = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;name=\"v\"\r\nA\r\n0\r\nX-T: v\r\n\r\n"
        #expect(Self.parseEverySplit(fine).bodies == ["A"])
    }

    @Test func anHTTP10RequestWithAChunkedBodyIsFramedForTheHeadCheckToRefuse() {
        let parsed = Self.parseEverySplit("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        #expect(parsed.error == nil && parsed.heads == ["POST / HTTP/1.0"] && parsed.ends == 1)
    }
}
