import NIOCore
import NIOHPACK
import NIOHTTP2

/// One upstream HTTP/2 stream seen as an HTTP/1.1 connection, so ``UpstreamConnection`` (and
/// everything behind it: the response parser, the retry and timeout decisions, the SSE and
/// usage scanners) carries a request over either protocol unchanged.
///
/// Outbound, the request head ``UpstreamRequestHead`` wrote as HTTP/1.1 bytes becomes a
/// HEADERS frame (`:method`, `:scheme`, `:authority` from `host`, `:path`, the other fields
/// with lowercase names), and the body, counted against its `content-length` (the gateway
/// always writes one), DATA frames; the last ends the stream. The head's rules live in
/// ``UpstreamRequestHead`` alone: this only changes framing. (Re-reading bytes the gateway
/// just wrote costs a scan of the head per request on this path only; building HPACK
/// fields directly would mean a second copy of those rules.)
///
/// Inbound, the response HEADERS become an HTTP/1.1 status line and header lines
/// (informational 1xx heads are dropped, as over HTTP/1.1); DATA passes as it is when the
/// response has a `content-length`, otherwise as chunks, ended by END_STREAM (or trailers,
/// whose fields are dropped as over HTTP/1.1). A stream reset closes this stream channel,
/// which the connection reports as a close before or in the middle of the response.
final class UpstreamHTTP2Bridge: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = HTTP2Frame.FramePayload

    enum BridgeError: Error {
        case malformedRequestHead
        case malformedResponseHead
        /// The backend refused the stream before processing it (RST_STREAM or a GOAWAY with
        /// REFUSED_STREAM, RFC 9113 §8.7): safe to send again, whatever the method.
        case refusedUnprocessed
    }

    private let scheme: String
    /// Request bytes held until the head is complete.
    private var pendingHead: ByteBuffer?
    /// Body bytes still to send (nil: the head is not sent yet).
    private var bodyLeft: Int?
    /// How the response body is written toward the connection: chunked when it has no length.
    private var responseChunked = false
    private var responseStarted = false
    private var responseEnded = false
    /// The request was a HEAD: its answer's length describes the resource, not a body.
    private var isHEAD = false

    init(scheme: String) {
        self.scheme = scheme
    }

    // MARK: Outbound: HTTP/1.1 request bytes to frames

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var bytes = self.unwrapOutboundIn(data)
        guard let left = self.bodyLeft else {
            if self.pendingHead == nil {
                self.pendingHead = bytes
            } else {
                self.pendingHead!.writeBuffer(&bytes)
            }
            guard let end = Self.headEnd(self.pendingHead!) else {
                promise?.succeed()
                return
            }
            var held = self.pendingHead!
            self.pendingHead = nil
            let head = held.readSlice(length: end)!
            do {
                let (headers, length) = try Self.requestFields(head, scheme: self.scheme)
                self.bodyLeft = length
                self.isHEAD = headers.first(name: ":method") == "HEAD"
                context.write(self.wrapOutboundOut(.headers(.init(headers: headers, endStream: length == 0))), promise: nil)
                self.writeBody(context: context, held, promise: promise)
            } catch {
                promise?.fail(error)
                context.fireErrorCaught(error)
            }
            return
        }
        guard left > 0 else {
            promise?.succeed()
            return
        }
        self.writeBody(context: context, bytes, promise: promise)
    }

    private func writeBody(context: ChannelHandlerContext, _ bytes: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let left = self.bodyLeft, left > 0, bytes.readableBytes > 0 else {
            promise?.succeed()
            return
        }
        var part = bytes
        if part.readableBytes > left { part = part.getSlice(at: part.readerIndex, length: left)! }
        self.bodyLeft = left - part.readableBytes
        context.write(self.wrapOutboundOut(.data(.init(data: .byteBuffer(part), endStream: self.bodyLeft == 0))), promise: promise)
    }

    /// The offset just past the blank line that ends the head, if it arrived.
    static func headEnd(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count >= 4 else { return nil }
            for i in 0...(bytes.count - 4)
            where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
                return i + 4
            }
            return nil
        }
    }

    /// The HTTP/2 fields of an HTTP/1.1 request head, and its body's length.
    static func requestFields(_ head: ByteBuffer, scheme: String) throws -> (HPACKHeaders, Int) {
        guard let text = head.getString(at: head.readerIndex, length: head.readableBytes) else { throw BridgeError.malformedRequestHead }
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { throw BridgeError.malformedRequestHead }
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3 else { throw BridgeError.malformedRequestHead }
        var pseudo: [(String, String)] = [(":method", String(requestLine[0])), (":scheme", scheme)]
        var fields: [(String, String)] = []
        fields.reserveCapacity(lines.count)
        var length = 0
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw BridgeError.malformedRequestHead }
            let name = line[..<colon].lowercased()
            let value = String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })
            switch name {
            case "host": pseudo.append((":authority", value))
            case "content-length":
                guard let parsed = Int(value), parsed >= 0 else { throw BridgeError.malformedRequestHead }
                length = parsed
                fields.append((name, value))
            case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te":
                continue  // connection-specific: not allowed in HTTP/2
            default: fields.append((name, value))
            }
        }
        pseudo.append((":path", String(requestLine[1])))
        return (HPACKHeaders(pseudo + fields), length)
    }

    // MARK: Inbound: frames to HTTP/1.1 response bytes

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.responseEnded else { return }
        switch self.unwrapInboundIn(data) {
        case .headers(let block):
            if self.responseStarted {
                // Trailers: the response ends; their fields are dropped.
                self.endResponse(context: context)
                return
            }
            guard let status = block.headers.first(name: ":status").flatMap(Int.init), (100...999).contains(status) else {
                context.fireErrorCaught(BridgeError.malformedResponseHead)
                return
            }
            if status < 200 { return }  // informational: the final head follows
            self.responseStarted = true
            var head = context.channel.allocator.buffer(capacity: 256)
            head.writeStaticString("HTTP/1.1 ")
            head.writeString(String(status))
            head.writeStaticString(" \r\n")
            var hasLength = false
            for (name, value, _) in block.headers where !name.hasPrefix(":") {
                if name == "content-length" { hasLength = true }
                if name == "transfer-encoding" || name == "connection" { continue }
                head.writeString(name)
                head.writeStaticString(": ")
                head.writeString(value)
                head.writeStaticString("\r\n")
            }
            // HEAD, 204 and 304 answers have no body whatever their head says (the parser ends
            // them at the head): no framing is added to them.
            let bodyless = self.isHEAD || status == 204 || status == 304
            self.responseChunked = !hasLength && !block.endStream && !bodyless
            if self.responseChunked { head.writeStaticString("transfer-encoding: chunked\r\n") }
            // Ended with its head and no length: an empty body, said as HTTP/1.1 says it, except
            // where a length would describe the resource rather than this answer (HEAD, 304).
            if !hasLength && block.endStream && !bodyless { head.writeStaticString("content-length: 0\r\n") }
            head.writeStaticString("\r\n")
            context.fireChannelRead(self.wrapInboundOut(head))
            if block.endStream { self.responseEnded = true }
        case .data(let frame):
            guard self.responseStarted, case .byteBuffer(let bytes) = frame.data else {
                if !self.responseStarted { context.fireErrorCaught(BridgeError.malformedResponseHead) }
                return
            }
            if bytes.readableBytes > 0 {
                if self.responseChunked {
                    var chunk = context.channel.allocator.buffer(capacity: bytes.readableBytes + 16)
                    chunk.writeString(String(bytes.readableBytes, radix: 16))
                    chunk.writeStaticString("\r\n")
                    chunk.writeImmutableBuffer(bytes)
                    chunk.writeStaticString("\r\n")
                    context.fireChannelRead(self.wrapInboundOut(chunk))
                } else {
                    context.fireChannelRead(self.wrapInboundOut(bytes))
                }
            }
            if frame.endStream { self.endResponse(context: context) }
        default:
            break  // resets close the stream channel; window updates are the channel's business
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let closed = error as? NIOHTTP2Errors.StreamClosed, closed.errorCode == .refusedStream, !self.responseStarted {
            context.fireErrorCaught(BridgeError.refusedUnprocessed)
            return
        }
        context.fireErrorCaught(error)
    }

    private func endResponse(context: ChannelHandlerContext) {
        self.responseEnded = true
        if self.responseChunked {
            var last = context.channel.allocator.buffer(capacity: 5)
            last.writeStaticString("0\r\n\r\n")
            context.fireChannelRead(self.wrapInboundOut(last))
        }
    }
}
