import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import PortcullisCore

/// One HTTP/2 stream's frames to ``ProxyHandler``'s parts and back. Replaces NIO's
/// `HTTP2FramePayloadToHTTP1ServerCodec` because a forwarded head goes out as HPACK fields
/// built from the upstream's bytes (``ClientResponseHead/forwardedHTTP2``) instead of an
/// `HTTPResponseHead` translated field by field, and because responses never use HPACK's
/// dynamic table: every response carries a fresh `x-request-id`, `date` and length, so
/// indexing them only churned the table (its linear search was 3% of the HTTP/2 path's
/// samples). nginx encodes responses the same way.
///
/// Inbound, the request head is what NIO's codec made of it, so the checks and the lifecycle
/// see the same thing on both protocols: version 2.0, `:authority` as `host` (unless the same
/// `host` came too; a different one is refused as a second host), and for a method with a body but no `content-length`, the framing marked as
/// chunked (length unknown) or `content-length: 0` when the headers ended the stream.
/// Trailers end the request; their fields are not forwarded (neither are HTTP/1's).
/// NIOHTTP2 has already validated the header block (pseudo-headers present, names lowercase).
final class HTTP2StreamCodec: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = ClientResponsePart
    typealias OutboundOut = HTTP2Frame.FramePayload

    private var headReceived = false
    /// The head said no body follows (HEAD, 204, 304): body parts are dropped.
    private var bodyless = false

    struct MissingPseudoHeader: Error {}

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .headers(let block):
            if self.headReceived {
                context.fireChannelRead(self.wrapInboundOut(.end(nil)))
                return
            }
            self.headReceived = true
            do {
                let head = try Self.requestHead(block.headers, endStream: block.endStream)
                context.fireChannelRead(self.wrapInboundOut(.head(head)))
                if block.endStream { context.fireChannelRead(self.wrapInboundOut(.end(nil))) }
            } catch {
                context.fireErrorCaught(error)
            }
        case .data(let data):
            guard case .byteBuffer(let buffer) = data.data else { return }
            if buffer.readableBytes > 0 { context.fireChannelRead(self.wrapInboundOut(.body(buffer))) }
            if data.endStream { context.fireChannelRead(self.wrapInboundOut(.end(nil))) }
        default:
            break  // resets, window updates and the rest are the stream channel's business
        }
    }

    static func requestHead(_ block: HPACKHeaders, endStream: Bool) throws -> HTTPRequestHead {
        var method: HTTPMethod?
        var path: String?
        var authority: String?
        var host: String?
        var hasLength = false
        var fields: [(String, String)] = []
        fields.reserveCapacity(block.count + 1)
        for (name, value, _) in block {
            if name.utf8.first == UInt8(ascii: ":") {
                switch name {
                case ":method": method = HTTPMethod(rawValue: value)
                case ":path": path = value
                case ":authority": authority = value
                default: break  // :scheme (and :protocol): nothing the gateway uses
                }
                continue
            }
            if host == nil && HeaderRules.equalsIgnoringCase(name, "host") { host = value }
            if !hasLength && HeaderRules.equalsIgnoringCase(name, "content-length") { hasLength = true }
            fields.append((name, value))
        }
        guard let method, let path else { throw MissingPseudoHeader() }
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count + 2)
        // `:authority` becomes `host`. A `host` that names another entity makes the request
        // malformed (RFC 9113 §8.3.1): both go through, and the head check refuses two hosts.
        if let authority, host.map({ $0.lowercased() != authority.lowercased() }) ?? true {
            headers.add(name: "host", value: authority)
        }
        switch method {
        case .GET, .HEAD, .DELETE, .CONNECT, .TRACE:
            break
        default:
            if !hasLength { headers.add(name: endStream ? "content-length" : "transfer-encoding", value: endStream ? "0" : "chunked") }
        }
        for (name, value) in fields { headers.add(name: name, value: value) }
        return HTTPRequestHead(version: HTTPVersion(major: 2, minor: 0), method: method, uri: path, headers: headers)
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(let head, let framing):
            self.bodyless = framing == .none
            context.write(self.wrapOutboundOut(.headers(.init(headers: Self.fields(of: head)))), promise: promise)
        case .http2Head(let headers, let framing):
            self.bodyless = framing == .none
            context.write(self.wrapOutboundOut(.headers(.init(headers: headers))), promise: promise)
        case .encodedHead:
            preconditionFailure("an HTTP/1 head on an HTTP/2 stream")
        case .body(let buffer):
            if self.bodyless {
                // Dropped (body writes never carry a promise; an empty DATA frame would count
                // toward the peer's empty-frame flood limit).
                promise?.succeed()
                return
            }
            context.write(self.wrapOutboundOut(.data(.init(data: .byteBuffer(buffer)))), promise: promise)
        case .end:
            context.write(self.wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))), promise: promise)
        }
    }

    /// A head of the gateway's own as HPACK fields: `:status`, then its headers, lowercased,
    /// without the ones HTTP/2 forbids (RFC 9113 §8.2.2).
    static func fields(of head: HTTPResponseHead) -> HPACKHeaders {
        var fields = HPACKHeaders()
        fields.reserveCapacity(head.headers.count + 1)
        ClientResponseHead.addStatus(Int(head.status.code), to: &fields)
        for (name, value) in head.headers where !HeaderRules.isHopByHop(name) {
            let lower = name.utf8.contains { $0 >= 0x41 && $0 <= 0x5A } ? name.lowercased() : name
            fields.add(name: lower, value: value, indexing: .nonIndexable)
        }
        return fields
    }
}
