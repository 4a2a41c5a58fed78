import NIOCore
import NIOHTTP1
import PortcullisCore

/// Turns ``ClientResponsePart``s into HTTP/1 bytes on a client connection. Replaces NIO's
/// `HTTPResponseEncoder` there because a forwarded head arrives already encoded (its header
/// lines copied from the upstream's bytes, no `String` per header), which NIO's encoder cannot
/// take; the gateway's own heads (refusals, the model list) are encoded here.
///
/// The framing is decided where the head is built and travels with it: the encoder only
/// carries it out (chunk each part, or pass it, or drop it).
final class ClientResponseEncoder: ChannelOutboundHandler {
    typealias OutboundIn = ClientResponsePart
    typealias OutboundOut = ByteBuffer

    private var framing = ClientBodyFraming.asIs

    /// Body parts up to this size are copied into their chunk's framing (one buffer, one iovec);
    /// larger ones are written between the chunk's size line and its CRLF without a copy.
    static let copyLimit = 2048

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(let head, let framing):
            var buffer = context.channel.allocator.buffer(capacity: 192 + head.headers.count * 48)
            Self.encode(head, chunked: framing == .chunked, into: &buffer)
            self.framing = framing
            context.write(self.wrapOutboundOut(buffer), promise: promise)
        case .encodedHead(let bytes, let framing):
            self.framing = framing
            context.write(self.wrapOutboundOut(bytes), promise: promise)
        case .http2Head:
            preconditionFailure("an HTTP/2 head on an HTTP/1 connection")
        case .body(let part):
            switch self.framing {
            case .asIs:
                context.write(self.wrapOutboundOut(part), promise: promise)
            case .none:
                // Nothing may follow the head; the write still completes in order.
                if let promise { context.write(self.wrapOutboundOut(ByteBuffer()), promise: promise) }
            case .chunked:
                // An empty chunk would end the body: nothing to frame.
                guard part.readableBytes > 0 else {
                    if let promise { context.write(self.wrapOutboundOut(ByteBuffer()), promise: promise) }
                    return
                }
                var part = part
                if part.readableBytes <= Self.copyLimit {
                    var chunk = context.channel.allocator.buffer(capacity: part.readableBytes + 12)
                    Self.writeChunkSize(part.readableBytes, into: &chunk)
                    chunk.writeBuffer(&part)
                    chunk.writeStaticString("\r\n")
                    context.write(self.wrapOutboundOut(chunk), promise: promise)
                } else {
                    var size = context.channel.allocator.buffer(capacity: 12)
                    Self.writeChunkSize(part.readableBytes, into: &size)
                    context.write(self.wrapOutboundOut(size), promise: nil)
                    context.write(self.wrapOutboundOut(part), promise: nil)
                    context.write(self.wrapOutboundOut(Self.crlf), promise: promise)
                }
            }
        case .end:
            let chunked = self.framing == .chunked
            self.framing = .asIs
            // Not chunked: nothing to write, but the promise must complete after what came before.
            context.write(self.wrapOutboundOut(chunked ? Self.lastChunk : ByteBuffer()), promise: promise)
        }
    }

    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")

    /// The chunk-size line: the length in hex, CRLF.
    static func writeChunkSize(_ length: Int, into buffer: inout ByteBuffer) {
        var shift = (Int.bitWidth - length.leadingZeroBitCount + 3) / 4 * 4 - 4
        repeat {
            let digit = UInt8((length >> max(shift, 0)) & 0xF)
            buffer.writeInteger(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            shift -= 4
        } while shift >= 0
        buffer.writeStaticString("\r\n")
    }

    /// A head the gateway built: status line, its headers, the chunked marker when chunked.
    static func encode(_ head: HTTPResponseHead, chunked: Bool, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(head.version.minor == 0 && head.version.major == 1 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeDecimal(Int(head.status.code))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(head.status.reasonPhrase)
        buffer.writeStaticString("\r\n")
        for (name, value) in head.headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        if chunked { buffer.writeStaticString("transfer-encoding: chunked\r\n") }
        buffer.writeStaticString("\r\n")
    }
}
