import NIOCore
import NIOHTTP2

/// Watches an upstream HTTP/2 connection's own frames (after NIO's handler) for its
/// ``UpstreamHTTP2Session``: the server's first SETTINGS (`ready`: only then is the
/// connection open, so a peer that accepts TCP and never speaks HTTP/2 fails the connect
/// within its timeout), GOAWAY, errors, and its end.
final class UpstreamHTTP2Watcher: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    weak var session: UpstreamHTTP2Session?
    var onClose: (() -> Void)?
    let ready: EventLoopPromise<Void>

    init(ready: EventLoopPromise<Void>) {
        self.ready = ready
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data).payload {
        case .settings(.settings): self.ready.succeed()  // later completions are ignored
        case .goAway: self.session?.retire()
        default: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.ready.fail(ChannelError.ioOnClosedChannel)
        self.session?.closed()
        self.onClose?()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if Self.isStreamScoped(error) {
            // A bad answer on one stream: NIOHTTP2 reset that stream, the others go on. No new
            // streams start here; it closes after its last one.
            self.session?.retire()
        } else {
            // A connection error (NIOHTTP2 sent GOAWAY), TLS or I/O: the connection is done
            // (RFC 9113 §5.4.1), and its streams fail now rather than at their timeouts.
            self.ready.fail(error)
            context.close(promise: nil)
        }
    }

    /// The errors NIOHTTP2 reports for one stream's header block or length (it resets that
    /// stream and the connection carries on).
    static func isStreamScoped(_ error: any Error) -> Bool {
        switch error {
        case is NIOHTTP2Errors.MissingPseudoHeader, is NIOHTTP2Errors.DuplicatePseudoHeader,
            is NIOHTTP2Errors.PseudoHeaderAfterRegularHeader, is NIOHTTP2Errors.UnknownPseudoHeader,
            is NIOHTTP2Errors.UnsupportedPseudoHeader, is NIOHTTP2Errors.InvalidPseudoHeaders,
            is NIOHTTP2Errors.InvalidStatusValue, is NIOHTTP2Errors.TrailersWithoutEndStream,
            is NIOHTTP2Errors.ForbiddenHeaderField, is NIOHTTP2Errors.InvalidPseudoHeaderValue,
            is NIOHTTP2Errors.ContentLengthViolated, is NIOHTTP2Errors.ContentLengthHeadersMismatch,
            is NIOHTTP2Errors.ContentLengthHeaderNegative, is NIOHTTP2Errors.ContentLengthHeaderMalformedValue,
            is NIOHTTP2Errors.StreamClosed, is NIOHTTP2Errors.NoSuchStream:
            return true
        default:
            return false
        }
    }
}
