import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import PortcullisGateway

/// The bridge between an HTTP/1.1 request written as bytes and one HTTP/2 stream, on an
/// EmbeddedChannel: fields and pseudo-headers out, the body to its length with END_STREAM on
/// the last byte, and responses back as HTTP/1.1 bytes with the framing the parser needs.
@Suite struct UpstreamHTTP2BridgeTests {
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(UpstreamHTTP2Bridge(scheme: "https"))
        return channel
    }

    static func outbound(_ channel: EmbeddedChannel) throws -> [HTTP2Frame.FramePayload] {
        var frames: [HTTP2Frame.FramePayload] = []
        while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) { frames.append(frame) }
        return frames
    }

    static func inbound(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let bytes = try channel.readInbound(as: ByteBuffer.self) { text += String(buffer: bytes) }
        return text
    }

    @Test func aRequestBecomesFieldsAndDataEndingAtItsLength() throws {
        let channel = try Self.channel()
        let head = "POST /v1/chat/completions?x=1 HTTP/1.1\r\nhost: api.internal:8443\r\nContent-Type: application/json\r\nconnection: keep-alive\r\ncontent-length: 10\r\nX-Request-Id: r1\r\n\r\n"
        // The head arrives in two writes, the body's first bytes behind it, the rest after.
        try channel.writeOutbound(ByteBuffer(string: String(head.prefix(20))))
        try channel.writeOutbound(ByteBuffer(string: String(head.dropFirst(20)) + "01234"))
        try channel.writeOutbound(ByteBuffer(string: "56789"))
        let frames = try Self.outbound(channel)
        guard frames.count == 3, case .headers(let headers) = frames[0], case .data(let first) = frames[1], case .data(let last) = frames[2]
        else {
            Issue.record("\(frames)")
            return
        }
        let fields = headers.headers.map { ($0.name, $0.value) }
        #expect(fields.prefix(4).map(\.0) == [":method", ":scheme", ":authority", ":path"])
        #expect(fields.prefix(4).map(\.1) == ["POST", "https", "api.internal:8443", "/v1/chat/completions?x=1"])
        #expect(fields.contains { $0 == ("content-type", "application/json") } && fields.contains { $0 == ("x-request-id", "r1") })
        #expect(!fields.contains { $0.0 == "connection" || $0.0 == "host" })
        #expect(!headers.endStream && !first.endStream && last.endStream)
    }

    @Test func aRequestWithoutBodyEndsWithItsHeaders() throws {
        let channel = try Self.channel()
        try channel.writeOutbound(ByteBuffer(string: "GET /health HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"))
        let frames = try Self.outbound(channel)
        guard frames.count == 1, case .headers(let headers) = frames[0] else {
            Issue.record("\(frames)")
            return
        }
        #expect(headers.endStream)
    }

    @Test func answersGetTheFramingTheirBodiesNeed() throws {
        // No length: chunked, ended by END_STREAM.
        let open = try Self.channel()
        try open.writeOutbound(ByteBuffer(string: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"))
        try open.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: HPACKHeaders([(":status", "100")]))))
        try open.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: HPACKHeaders([(":status", "200"), ("content-type", "text/event-stream")]))))
        try open.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(string: "data: 1\n\n")))))
        try open.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)))
        #expect(try Self.inbound(open) == "HTTP/1.1 200 \r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n0\r\n\r\n")
        // A length: the data as it is.
        let sized = try Self.channel()
        try sized.writeOutbound(ByteBuffer(string: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"))
        try sized.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: HPACKHeaders([(":status", "200"), ("content-length", "2")]))))
        try sized.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(string: "{}")), endStream: true)))
        #expect(try Self.inbound(sized) == "HTTP/1.1 200 \r\ncontent-length: 2\r\n\r\n{}")
        // Ended at the head: an empty body, except where a length would describe the resource.
        let empty = try Self.channel()
        try empty.writeOutbound(ByteBuffer(string: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"))
        try empty.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: HPACKHeaders([(":status", "200")]), endStream: true)))
        #expect(try Self.inbound(empty) == "HTTP/1.1 200 \r\ncontent-length: 0\r\n\r\n")
        for (method, status) in [("HEAD", "200"), ("GET", "204"), ("GET", "304")] {
            let bodyless = try Self.channel()
            try bodyless.writeOutbound(ByteBuffer(string: "\(method) / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"))
            try bodyless.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: HPACKHeaders([(":status", status)]))))
            #expect(try Self.inbound(bodyless) == "HTTP/1.1 \(status) \r\n\r\n", "\(method) \(status)")
        }
    }
}
