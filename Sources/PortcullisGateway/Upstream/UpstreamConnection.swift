import NIOCore
import NIOHTTP1

/// Receives one upstream response. Called on the event loop the request and the upstream
/// connection share.
protocol UpstreamResponseDelegate: AnyObject {
    func upstreamResponseHead(_ head: HTTPResponseHead)
    func upstreamResponseBody(_ buffer: ByteBuffer)
    func upstreamResponseEnd()
    /// The batch of reads ended: a good moment to flush the client side.
    func upstreamReadComplete()
    func upstreamFailed(_ failure: UpstreamFailure)
}

enum UpstreamFailure: Error {
    /// The connection closed or failed before any response byte; `retryable` when it was a
    /// pooled keep-alive connection that closed right after the write (the close-while-idle race).
    case closedBeforeResponse(retryable: Bool)
    /// The connection closed or failed after the response head was delivered.
    case closedMidResponse
    /// The response could not be parsed.
    case protocolError
}

/// The handler at the end of an upstream channel's pipeline: carries one request at a time,
/// hands response parts to its delegate, and returns itself to the pool when a keep-alive
/// response ends. Deliberately does not buffer: every body part goes straight to the delegate,
/// and reads stop while the delegate's client is not writable (back-pressure).
final class UpstreamConnection: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let endpointKey: String
    private unowned let pool: UpstreamPool
    private var context: ChannelHandlerContext?
    private var delegate: (any UpstreamResponseDelegate)?
    private(set) var isInFlight = false
    private var receivedResponseBytes = false
    private var responseKeepAlive = true
    private var requestKeepAlive = true
    /// Requests served on this connection; more than zero means the next one reuses it.
    private(set) var requestCount = 0
    private var readsPaused = false
    private var readPending = false
    /// When the current request was written (for the keep-alive race, see `failInFlight`).
    private(set) var sentAt = NIODeadline.distantPast
    private(set) var isClosed = false
    var maxIdle = 64
    /// When the connection last went back to the pool.
    var releasedAt = NIODeadline.distantPast

    static let staleWindow = TimeAmount.milliseconds(100)

    init(endpointKey: String, pool: UpstreamPool) {
        self.endpointKey = endpointKey
        self.pool = pool
    }

    var channel: (any Channel)? { self.context?.channel }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Sends a request; the response goes to `delegate`.
    func send(head: HTTPRequestHead, body: ByteBuffer?, delegate: any UpstreamResponseDelegate) {
        guard let context, !self.isClosed else {
            delegate.upstreamFailed(.closedBeforeResponse(retryable: true))  // nothing was written
            return
        }
        precondition(!self.isInFlight, "an upstream connection carries one request at a time")
        self.delegate = delegate
        self.isInFlight = true
        self.sentAt = .now()
        self.receivedResponseBytes = false
        self.responseKeepAlive = true
        self.requestKeepAlive = head.isKeepAlive
        self.requestCount += 1
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        if let body, body.readableBytes > 0 {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// The request's client went away or timed out: drop the connection (its response state is
    /// unknown, so it cannot be reused).
    func abandon() {
        self.delegate = nil
        self.isInFlight = false
        self.close()
    }

    func close() {
        guard !self.isClosed else { return }
        self.isClosed = true
        self.pool.remove(self)
        self.context?.close(promise: nil)
    }

    /// Back-pressure from the client side.
    func pauseReads() {
        self.readsPaused = true
    }

    func resumeReads() {
        guard self.readsPaused else { return }
        self.readsPaused = false
        if self.readPending, let context {
            self.readPending = false
            context.read()
        }
    }

    // MARK: Channel events

    func read(context: ChannelHandlerContext) {
        if self.readsPaused {
            self.readPending = true
        } else {
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        guard let delegate = self.delegate else {
            // A response nobody asked for (or for an abandoned request): the connection is unusable.
            self.close()
            return
        }
        self.receivedResponseBytes = true
        switch part {
        case .head(let head):
            self.responseKeepAlive = head.isKeepAlive
            delegate.upstreamResponseHead(head)
        case .body(let buffer):
            delegate.upstreamResponseBody(buffer)
        case .end:
            self.delegate = nil
            self.isInFlight = false
            // A connection goes back to the pool reading: back-pressure belonged to the
            // response that just ended, not to whichever request borrows the connection next.
            self.resumeReads()
            delegate.upstreamResponseEnd()
            if self.responseKeepAlive && self.requestKeepAlive && !self.isClosed {
                self.pool.release(self)
            } else {
                self.close()
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.delegate?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.isClosed = true
        self.pool.remove(self)
        self.failInFlight(protocolError: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let isParseError = error is HTTPParserError
        self.failInFlight(protocolError: isParseError)
        self.close()
    }

    private func failInFlight(protocolError: Bool) {
        guard let delegate = self.delegate else { return }
        self.delegate = nil
        self.isInFlight = false
        if protocolError {
            delegate.upstreamFailed(.protocolError)
        } else if self.receivedResponseBytes {
            delegate.upstreamFailed(.closedMidResponse)
        } else {
            // The keep-alive race: a pooled connection the backend closed while idle fails right
            // after our write, before the backend could have acted on the request. Only that
            // (reused connection, nothing answered, closed within `staleWindow` of the write)
            // counts as safe to retry; a backend that dies later may have done the work.
            let stale = self.requestCount > 1 && NIODeadline.now() - self.sentAt < Self.staleWindow
            delegate.upstreamFailed(.closedBeforeResponse(retryable: stale))
        }
    }
}
