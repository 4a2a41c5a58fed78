import NIOCore
import NIOHTTP2
import NIOSSL
import NIOTLS

/// Closes a TLS connection whose handshake does not finish in time (a client that opens a
/// socket and sends nothing, or trickles its ClientHello). Removes itself once the handshake
/// is done.
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
        // Pass the event on first: the ALPN handler after this one waits for it.
        context.fireUserInboundEventTriggered(event)
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            self.scheduled?.cancel()
            self.scheduled = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}

/// Closes an HTTP/2 connection that has had no open stream for the idle timeout. Watches the
/// stream lifecycle events the HTTP/2 handler sends down the connection's pipeline.
final class HTTP2IdleHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame

    private let idleTimeout: TimeAmount
    private var openStreams = 0
    private var idleSince = NIODeadline.now()
    private var scheduled: Scheduled<Void>?

    init(idleTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.arm(context)
    }

    /// Flood limits (rapid reset and its cousins), stream-limit violations, a bad preface and
    /// any non-HTTP/2 error (TLS, I/O) end the connection at once. Other HTTP/2 errors are
    /// stream-scoped (NIOHTTP2 already sent RST_STREAM; the other streams carry on) or
    /// connection errors after which NIOHTTP2 sent GOAWAY and accepts no new stream, so the
    /// connection ends when its peer closes it or at the idle timeout.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if Self.endsConnection(error) {
            context.close(promise: nil)
        }
    }

    static func endsConnection(_ error: any Error) -> Bool {
        guard error is any NIOHTTP2Error else { return true }
        switch error {
        case is NIOHTTP2Errors.ExcessiveRSTFrames, is NIOHTTP2Errors.ExcessiveControlFrames,
            is NIOHTTP2Errors.ExcessiveContinuationFrames, is NIOHTTP2Errors.ExcessiveStreamErrors,
            is NIOHTTP2Errors.ExcessiveNumberOfGlitches, is NIOHTTP2Errors.ExcessiveEmptyDataFrames,
            is NIOHTTP2Errors.ExcessiveOutboundFrameBuffering, is NIOHTTP2Errors.ExcessivelyLargeHeaderBlock,
            is NIOHTTP2Errors.MaxStreamsViolation, is NIOHTTP2Errors.BadClientMagic, is NIOHTTP2Errors.MissingPreface:
            return true
        default:
            return false
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.scheduled?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is NIOHTTP2StreamCreatedEvent {
            self.openStreams += 1
        } else if event is StreamClosedEvent {
            self.openStreams = max(0, self.openStreams - 1)
            if self.openStreams == 0 {
                self.idleSince = .now()
                self.arm(context)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard self.scheduled == nil else { return }
        self.scheduled = context.eventLoop.assumeIsolated().scheduleTask(deadline: self.idleSince + self.idleTimeout) {
            self.scheduled = nil
            if self.openStreams == 0 {
                if NIODeadline.now() >= self.idleSince + self.idleTimeout {
                    context.close(promise: nil)
                } else {
                    self.arm(context)
                }
            }
        }
    }
}
