import NIOCore
import NIOHPACK
import NIOHTTP1

/// What ``ProxyHandler`` writes toward the client: for ``ClientResponseEncoder`` on an HTTP/1
/// connection, for ``HTTP2StreamCodec`` on an HTTP/2 stream.
enum ClientResponsePart {
    /// A head the gateway built itself (its own answers, `100 Continue`), either protocol.
    case head(HTTPResponseHead, ClientBodyFraming)
    /// A forwarded head toward an HTTP/1 client, already HTTP/1.1 bytes (see
    /// ``ClientResponseHead/encodeForwarded``).
    case encodedHead(ByteBuffer, ClientBodyFraming)
    /// A forwarded head toward an HTTP/2 stream, already HPACK fields with `:status` first (see
    /// ``ClientResponseHead/forwardedHTTP2``).
    case http2Head(HPACKHeaders, ClientBodyFraming)
    case body(ByteBuffer)
    case end
}

/// How the body after a head travels to the client (on HTTP/2 only `.none` matters: the
/// stream's frames carry the body whatever its length).
enum ClientBodyFraming: Equatable {
    /// As it is: the head carries a length, or the close ends the body (HTTP/1.0).
    case asIs
    /// Chunked: the head says so and each body part becomes a chunk.
    case chunked
    /// No body may follow (HEAD, CONNECT, 204, 304, informational): body bytes are dropped.
    case none
}
