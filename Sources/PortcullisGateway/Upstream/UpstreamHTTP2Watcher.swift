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
        if HTTP2ConnectionErrorHandler.endsConnection(error) {
            // TLS, I/O, or a flood: the connection is done.
            self.ready.fail(error)
            context.close(promise: nil)
        } else {
            // An HTTP/2 error: NIOHTTP2 already reset the one stream it concerns (the others go
            // on), or sent GOAWAY for a connection error. Either way no new streams start here:
            // the next request opens a fresh connection, and this one closes after its last stream.
            self.session?.retire()
        }
    }
}
