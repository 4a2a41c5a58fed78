import NIOCore
import NIOHTTP2

/// Watches an upstream HTTP/2 connection's own frames (after NIO's handler) for GOAWAY, and
/// its end, for its ``UpstreamHTTP2Session``.
final class UpstreamHTTP2Watcher: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    weak var session: UpstreamHTTP2Session?
    var onClose: (() -> Void)?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = self.unwrapInboundIn(data).payload { self.session?.receivedGoAway() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.session?.closed()
        self.onClose?()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A connection-level error (a protocol violation by the server): no more streams on it.
        self.session?.receivedGoAway()
        context.close(promise: nil)
    }
}
