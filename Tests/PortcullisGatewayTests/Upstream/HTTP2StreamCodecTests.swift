import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import Testing

@testable import PortcullisGateway

/// The HTTP/2 stream codec on its own: request frames to the parts the lifecycle reads, and
/// response parts to frames, with the HPACK fields as HTTP/2 requires them.
@Suite struct HTTP2StreamCodecTests {
    static func request(_ fields: [(String, String)], endStream: Bool = false) -> HTTP2Frame.FramePayload {
        .headers(.init(headers: HPACKHeaders(fields), endStream: endStream))
    }

    static let post = [(":method", "POST"), (":scheme", "https"), (":path", "/v1/chat/completions"), (":authority", "gw.test")]

    static func read(_ payloads: [HTTP2Frame.FramePayload]) throws -> [HTTPServerRequestPart] {
        let channel = EmbeddedChannel(handler: HTTP2StreamCodec())
        for payload in payloads { try channel.writeInbound(payload) }
        var parts: [HTTPServerRequestPart] = []
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
        _ = try channel.finish()
        return parts
    }

    @Test func aRequestHeadGetsItsHostAndFraming() throws {
        let parts = try Self.read([
            Self.request(Self.post + [("content-type", "application/json")]),
            .data(.init(data: .byteBuffer(ByteBuffer(string: "{}")), endStream: true)),
        ])
        guard parts.count == 3, case .head(let head) = parts[0], case .body(let body) = parts[1], case .end(nil) = parts[2] else {
            Issue.record("\(parts)")
            return
        }
        #expect(head.version == HTTPVersion(major: 2, minor: 0))
        #expect(head.method == .POST)
        #expect(head.uri == "/v1/chat/completions")
        #expect(head.headers["host"] == ["gw.test"])
        // No content-length and more to come: the length is unknown, as chunked framing says.
        #expect(head.headers["transfer-encoding"] == ["chunked"])
        #expect(head.headers["content-type"] == ["application/json"])
        #expect(!head.headers.contains { $0.name.hasPrefix(":") })
        #expect(String(buffer: body) == "{}")
    }

    @Test func headersThatEndTheStreamMeanAnEmptyBody() throws {
        let parts = try Self.read([Self.request(Self.post, endStream: true)])
        guard parts.count == 2, case .head(let head) = parts[0], case .end = parts[1] else {
            Issue.record("\(parts)")
            return
        }
        #expect(head.headers["content-length"] == ["0"])
        #expect(head.headers["transfer-encoding"].isEmpty)
        // A GET gets no framing headers; a `host` equal to :authority is one host, a different
        // one makes two (which the head check refuses, 400 invalid_host).
        let get = try Self.read([
            Self.request([(":method", "GET"), (":scheme", "https"), (":path", "/v1/models"), (":authority", "A"), ("host", "a")], endStream: true)
        ])
        guard case .head(let getHead) = get.first else {
            Issue.record("\(get)")
            return
        }
        #expect(getHead.headers["host"] == ["a"])
        let other = try Self.read([
            Self.request([(":method", "GET"), (":scheme", "https"), (":path", "/v1/models"), (":authority", "a"), ("host", "b")], endStream: true)
        ])
        if case .head(let otherHead) = other.first { #expect(otherHead.headers["host"].sorted() == ["a", "b"]) } else { Issue.record("\(other)") }
        #expect(getHead.headers["content-length"].isEmpty && getHead.headers["transfer-encoding"].isEmpty)
    }

    @Test func trailersEndTheRequestAndAMissingPathIsAnError() throws {
        let parts = try Self.read([
            Self.request(Self.post + [("content-length", "2")]),
            .data(.init(data: .byteBuffer(ByteBuffer(string: "{}")))),
            Self.request([("x-trailer", "t")], endStream: true),
        ])
        #expect(parts.count == 3)
        if case .end(let trailers) = parts.last { #expect(trailers == nil) } else { Issue.record("\(parts)") }
        let channel = EmbeddedChannel(handler: HTTP2StreamCodec())
        #expect(throws: HTTP2StreamCodec.MissingPseudoHeader.self) {
            try channel.writeInbound(Self.request([(":method", "POST"), (":scheme", "https")]))
        }
        _ = try? channel.finish()
    }

    static func write(_ parts: [ClientResponsePart]) throws -> [HTTP2Frame.FramePayload] {
        let channel = EmbeddedChannel(handler: HTTP2StreamCodec())
        for part in parts { try channel.writeOutbound(part) }
        var out: [HTTP2Frame.FramePayload] = []
        while let payload = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) { out.append(payload) }
        _ = try channel.finish()
        return out
    }

    @Test func aHeadOfTheGatewaysOwnIsLowercasedAndLosesConnectionHeaders() throws {
        let head = HTTPResponseHead(
            version: .http2, status: .tooManyRequests,
            headers: HTTPHeaders([("Retry-After", "3"), ("connection", "close"), ("content-type", "application/json")]))
        let frames = try Self.write([.head(head, .asIs), .body(ByteBuffer(string: "{}")), .end])
        guard frames.count == 3, case .headers(let block) = frames[0], case .data(let body) = frames[1], case .data(let end) = frames[2]
        else {
            Issue.record("\(frames)")
            return
        }
        #expect(Array(block.headers.map(\.name)) == [":status", "retry-after", "content-type"])
        #expect(block.headers.first(name: ":status") == "429")
        #expect(block.headers.allSatisfy { $0.indexable == .nonIndexable })
        #expect(!body.endStream)
        #expect(end.endStream)
        if case .byteBuffer(let buffer) = end.data { #expect(buffer.readableBytes == 0) }
    }

    @Test func aBodylessHeadDropsItsBodyButStillEndsTheStream() throws {
        let head = HTTPResponseHead(version: .http2, status: .ok, headers: HTTPHeaders([("content-length", "5")]))
        let frames = try Self.write([.head(head, .none), .body(ByteBuffer(string: "hello")), .end])
        #expect(frames.count == 2)
        if case .data(let end) = frames.last { #expect(end.endStream) } else { Issue.record("\(frames)") }
    }

    @Test func aForwardedHeadIsBuiltFromTheUpstreamsBytes() throws {
        var parser = UpstreamResponseParser()
        parser.expectResponse(toHEAD: false)
        parser.append(
            ByteBuffer(
                string: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
                    + "Keep-Alive: timeout=5\r\nX-Request-Id: spoofed\r\nContent-Length: 2\r\n\r\n{}"))
        guard case .head(let upstream) = try parser.next() else {
            Issue.record("no head")
            return
        }
        let exchange = try ExchangeFixture.exchange(try ExchangeFixture.snapshot())
        let fields = ClientResponseHead.forwardedHTTP2(upstream, exchange: exchange)
        #expect(
            Array(fields.map(\.name)) == [":status", "content-type", "content-length", "x-request-id", "x-portcullis-overhead-ms"])
        #expect(fields.first(name: ":status") == "200")
        #expect(fields.first(name: "x-request-id") == "test")
        // Only the static-table status is indexable (it adds nothing to the dynamic table).
        #expect(fields.filter { $0.indexable == .indexable }.map(\.name) == [":status"])
        let frames = try Self.write([.http2Head(fields, .asIs)])
        if case .headers(let block) = frames.first { #expect(block.headers == fields) } else { Issue.record("\(frames)") }
    }
}
