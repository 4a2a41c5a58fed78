import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import PortcullisGateway

/// The HTTP/1 response encoder on its own: each framing, byte for byte.
@Suite struct ClientResponseEncoderTests {
    static func encode(_ parts: [ClientResponsePart]) throws -> String {
        let channel = EmbeddedChannel(handler: ClientResponseEncoder())
        for part in parts { try channel.writeOutbound(part) }
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        _ = try channel.finish()
        return text
    }

    static func head(_ status: HTTPResponseStatus, _ headers: [(String, String)], version: HTTPVersion = .http1_1) -> HTTPResponseHead {
        HTTPResponseHead(version: version, status: status, headers: HTTPHeaders(headers))
    }

    @Test func lengthFramedBodiesPassAsTheyAre() throws {
        let text = try Self.encode([
            .head(Self.head(.ok, [("content-length", "5")]), .asIs), .body(ByteBuffer(string: "he")), .body(ByteBuffer(string: "llo")), .end,
        ])
        #expect(text == "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
    }

    @Test func chunkedBodiesAreFramedAndEnded() throws {
        let large = String(repeating: "x", count: ClientResponseEncoder.copyLimit + 1)
        let text = try Self.encode([
            .encodedHead(ByteBuffer(string: "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"), .chunked),
            .body(ByteBuffer(string: "abc")), .body(ByteBuffer()), .body(ByteBuffer(string: large)), .end,
        ])
        let size = String(large.utf8.count, radix: 16)
        #expect(text == "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n\(size)\r\n\(large)\r\n0\r\n\r\n")
    }

    @Test func chunkSizesAreHex() {
        for length in [1, 9, 10, 15, 16, 255, 256, 4095, 65536, 1 << 40] {
            var buffer = ByteBuffer()
            ClientResponseEncoder.writeChunkSize(length, into: &buffer)
            #expect(String(buffer: buffer) == String(length, radix: 16) + "\r\n")
        }
    }

    @Test func bodilessResponsesDropTheirBody() throws {
        let text = try Self.encode([
            .head(Self.head(.continue, []), .none),
            .head(Self.head(.ok, [("content-length", "5")]), .none), .body(ByteBuffer(string: "hello")), .end,
        ])
        #expect(text == "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    }

    @Test func theEndsPromiseCompletesAfterTheBody() throws {
        let channel = EmbeddedChannel(handler: ClientResponseEncoder())
        try channel.writeOutbound(ClientResponsePart.head(Self.head(.ok, [("content-length", "1")]), .asIs))
        try channel.writeOutbound(ClientResponsePart.body(ByteBuffer(string: "a")))
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(ClientResponsePart.end, promise: promise)
        try promise.futureResult.wait()
        _ = try channel.finish()
    }
}
