import NIOCore
import NIOHPACK
import NIOHTTP1
import PortcullisCore

/// The response heads the client receives: an upstream's head with the gateway's edits, and
/// the gateway's own answers.
enum ClientResponseHead {
    /// An HTTP/1.0 client cannot receive chunked framing: without a length the end of the
    /// body is the end of the connection.
    static func closesForHTTP10(_ upstream: UpstreamResponseHead, clientVersion: HTTPVersion) -> Bool {
        clientVersion.major == 1 && clientVersion.minor == 0 && !upstream.hasContentLength && upstream.framing != .none
    }

    /// The upstream's head as an HTTP/1 client gets it, written as bytes: the status line, the
    /// upstream's header lines copied byte for byte (all at once when none is dropped), the
    /// gateway's own headers and, when the body will be chunked, the marker. Returns how the
    /// body travels. Which headers are dropped is ``UpstreamResponseHead/staysBehind(_:)``'s decision; the
    /// added ones are those of ``forwardedHTTP2(_:exchange:)`` plus `connection` and the chunked marker.
    static func encodeForwarded(
        _ upstream: UpstreamResponseHead, exchange: Exchange, closeConnection: Bool, into buffer: inout ByteBuffer
    ) -> ClientBodyFraming {
        let http10 = exchange.head.version.major == 1 && exchange.head.version.minor == 0
        let framing: ClientBodyFraming
        if upstream.framing == .none || exchange.head.method == .HEAD {
            framing = .none
        } else if upstream.hasContentLength || http10 {
            framing = .asIs  // an HTTP/1.0 client reads to the close (see `closesForHTTP10`)
        } else {
            framing = .chunked
        }
        buffer.writeStaticString(http10 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeDecimal(upstream.status)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(HTTPResponseStatus(statusCode: upstream.status).reasonPhrase)
        upstream.bytes.withUnsafeReadableBytes { all in
            guard let first = upstream.fields.first else { return }
            if !upstream.needsRewrite {
                // Every line goes through: copy them with their separators, in one piece.
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: all[(Int(first.nameStart) - 2)...]))
                return
            }
            for field in upstream.fields {
                let name = all[Int(field.nameStart)..<Int(field.nameEnd)]
                if upstream.staysBehind(UnsafeRawBufferPointer(rebasing: name)) { continue }
                buffer.writeStaticString("\r\n")
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: all[Int(field.nameStart)..<Int(field.valueEnd)]))
            }
        }
        buffer.writeStaticString("\r\nx-request-id: ")
        buffer.writeString(exchange.requestID)
        buffer.writeStaticString("\r\nx-portcullis-overhead-ms: ")
        var overhead: Int64 = 0
        if let forwardedAt = exchange.forwardedAt { overhead = (forwardedAt - exchange.receivedAt).nanoseconds }
        Millis.write(nanoseconds: overhead, into: &buffer)
        exchange.rateLimitHeaders?.write(into: &buffer)
        if closeConnection { buffer.writeStaticString("\r\nconnection: close") }
        if framing == .chunked { buffer.writeStaticString("\r\ntransfer-encoding: chunked") }
        buffer.writeStaticString("\r\n\r\n")
        return framing
    }

    /// The upstream's head as an HTTP/2 client gets it, as HPACK fields built straight from the
    /// upstream's bytes (no `HTTPHeaders` in between): `:status`, the upstream's headers with
    /// lowercased names minus hop-by-hop ones (and any it named in `Connection`) and the ones
    /// the gateway sets, plus `x-request-id` and `x-portcullis-overhead-ms`. Nothing enters the
    /// HPACK dynamic table (see ``HTTP2StreamCodec``).
    static func forwardedHTTP2(_ upstream: UpstreamResponseHead, exchange: Exchange) -> HPACKHeaders {
        var headers = HPACKHeaders()
        headers.reserveCapacity(upstream.fields.count + 3)
        Self.addStatus(upstream.status, to: &headers)
        let rewrite = upstream.needsRewrite
        upstream.forEachField { name, value in
            if rewrite && upstream.staysBehind(name) { return }
            headers.add(
                name: HeaderRules.lowercasedName(bytes: name), value: String(decoding: value, as: UTF8.self), indexing: .nonIndexable)
        }
        headers.add(name: "x-request-id", value: exchange.requestID, indexing: .nonIndexable)
        var overhead: Int64 = 0
        if let forwardedAt = exchange.forwardedAt { overhead = (forwardedAt - exchange.receivedAt).nanoseconds }
        headers.add(name: "x-portcullis-overhead-ms", value: Millis.string(nanoseconds: overhead), indexing: .nonIndexable)
        exchange.rateLimitHeaders?.forEach { headers.add(name: $0, value: $1, indexing: .nonIndexable) }
        return headers
    }

    /// `:status` first. The codes in HPACK's static table (RFC 7541 Appendix A) go out as one
    /// byte (a full static match adds nothing to the dynamic table); the others as a literal.
    static func addStatus(_ status: Int, to headers: inout HPACKHeaders) {
        switch status {
        case 200: headers.add(name: ":status", value: "200", indexing: .indexable)
        case 204: headers.add(name: ":status", value: "204", indexing: .indexable)
        case 206: headers.add(name: ":status", value: "206", indexing: .indexable)
        case 304: headers.add(name: ":status", value: "304", indexing: .indexable)
        case 400: headers.add(name: ":status", value: "400", indexing: .indexable)
        case 404: headers.add(name: ":status", value: "404", indexing: .indexable)
        case 500: headers.add(name: ":status", value: "500", indexing: .indexable)
        default: headers.add(name: ":status", value: String(status), indexing: .nonIndexable)
        }
    }

    /// The head of an answer of the gateway's own (a refusal, the model list).
    static func local(
        status: Int, extra: [(String, String)], bodyLength: Int, exchange: Exchange, closeConnection: Bool, isHTTP2: Bool
    ) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(extra.count + 4)
        for (name, value) in extra { headers.add(name: name, value: value) }
        if !headers.contains(name: "content-type") { headers.add(name: "content-type", value: "application/json") }
        headers.add(name: "content-length", value: String(bodyLength))
        headers.add(name: "x-request-id", value: exchange.requestID)
        exchange.rateLimitHeaders?.forEach { headers.add(name: $0, value: $1) }
        if closeConnection && !isHTTP2 {
            headers.add(name: "connection", value: "close")
        }
        let version = exchange.endpoint == .none && !isHTTP2 ? .http1_1 : exchange.head.version
        return HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: headers)
    }
}
