import NIOCore
import NIOHTTP1

/// What ``ProxyHandler`` writes toward an HTTP/1 client, for ``ClientResponseEncoder``. (On an
/// HTTP/2 stream it writes NIO's `HTTPServerResponsePart` instead, for NIO's stream codec.)
enum ClientResponsePart {
    /// A head the gateway built itself (its own answers, `100 Continue`).
    case head(HTTPResponseHead, ClientBodyFraming)
    /// A forwarded head, already HTTP/1.1 bytes (see ``ClientResponseHead/encodeForwarded``).
    case encodedHead(ByteBuffer, ClientBodyFraming)
    case body(ByteBuffer)
    case end
}

/// How the body after a head travels to an HTTP/1 client.
enum ClientBodyFraming: Equatable {
    /// As it is: the head carries a length, or the close ends the body (HTTP/1.0).
    case asIs
    /// Chunked: the head says so and each body part becomes a chunk.
    case chunked
    /// No body may follow (HEAD, CONNECT, 204, 304, informational): body bytes are dropped.
    case none
}
