import NIOCore
import NIOSSL
import NIOTLS

/// Closes a TLS connection whose handshake does not finish in time (a client that opens a
/// socket and sends nothing, or trickles its ClientHello), or that is still handshaking when a
/// graceful stop begins (it has no request in flight). Removes itself once the handshake is done.
final class HandshakeTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var scheduled: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: self.timeout) {
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.scheduled?.cancel()
    }

    /// A failed handshake (no or untrusted client certificate, bad ClientHello) ends the connection.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            context.close(promise: nil)
            return
        }
        // Pass the event on first: the ALPN handler after this one waits for it.
        context.fireUserInboundEventTriggered(event)
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            self.scheduled?.cancel()
            self.scheduled = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}
