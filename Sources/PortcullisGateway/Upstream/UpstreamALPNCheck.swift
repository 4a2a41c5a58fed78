import NIOCore
import NIOTLS

/// Fails the connect of an https HTTP/2 connection whose handshake did not select `h2`.
final class UpstreamALPNCheck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    struct NotHTTP2: Error, CustomStringConvertible {
        let negotiated: String?
        var description: String { "the backend did not select h2 in ALPN (it offered \(self.negotiated ?? "nothing"))" }
    }

    private let promise: EventLoopPromise<Void>
    var result: EventLoopFuture<Void> { self.promise.futureResult }

    init(eventLoop: any EventLoop) {
        self.promise = eventLoop.makePromise()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = event {
            if negotiated == "h2" { self.promise.succeed() } else { self.promise.fail(NotHTTP2(negotiated: negotiated)) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.promise.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.promise.fail(ChannelError.ioOnClosedChannel)  // no-op once completed
    }
}
