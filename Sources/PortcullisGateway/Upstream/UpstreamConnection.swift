import NIOCore
import NIOTLS

/// Receives one upstream response. Called on the event loop the request and the upstream
/// connection share.
protocol UpstreamResponseDelegate: AnyObject {
    func upstreamResponseHead(_ head: UpstreamResponseHead)
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
    /// An HTTP/2 backend refused the stream unprocessed (REFUSED_STREAM): sent again once, on a
    /// fresh stream, for any method.
    case refusedUnprocessed
}

/// The handler at the end of an upstream channel's pipeline: carries one request at a time,
/// hands response parts to its delegate, and returns itself to the pool when a keep-alive
/// response ends. Deliberately does not buffer: every body part goes straight to the delegate,
/// and reads stop while the delegate's client is not writable (back-pressure).
///
/// It speaks HTTP/1.1 as bytes: the request goes out as the bytes ``UpstreamRequestHead``
/// wrote, and responses are read by ``UpstreamResponseParser`` (NIO's codec would decode
/// every header into strings that the gateway only copies on, see there).
final class UpstreamConnection: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let endpointKey: String
    private unowned let pool: UpstreamPool
    private var context: ChannelHandlerContext?
    private var delegate: (any UpstreamResponseDelegate)?
    private(set) var isInFlight = false
    private var receivedResponseBytes = false
    private var responseKeepAlive = true
    private var parser = UpstreamResponseParser()
    /// Requests served on this connection; more than zero means the next one reuses it.
    private(set) var requestCount = 0
    private var readsPaused = false
    private var readPending = false
    /// When the current request was written (for the keep-alive race, see `failInFlight`).
    private(set) var sentAt = NIODeadline.distantPast
    private(set) var isClosed = false
    var maxIdle = 64
    /// How long it may sit idle in the pool before it is closed (its backend's `keepAliveTimeout`).
    var keepAlive = TimeAmount.seconds(4)
    /// When the connection last went back to the pool.
    var releasedAt = NIODeadline.distantPast

    static let staleWindow = TimeAmount.milliseconds(100)

    /// Its place under the backend's `maxConnections` (nil: not counted).
    private let slot: ConnectionSlot?
    /// Completed when the TLS handshake is (https; nil for http): the connect is only done then,
    /// so a refused or stalled handshake is a failed connect, within the connect's time.
    private(set) var handshake: EventLoopPromise<Void>?

    func expectHandshake(on eventLoop: any EventLoop) {
        self.handshake = eventLoop.makePromise()
    }

    private func endHandshake(_ error: (any Error)?) {
        guard let handshake else { return }
        self.handshake = nil
        if let error { handshake.fail(error) } else { handshake.succeed() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { self.endHandshake(nil) }
        context.fireUserInboundEventTriggered(event)
    }

    /// An HTTP/2 stream (``UpstreamHTTP2Session``): it carries one request, then closes.
    let singleUse: Bool

    init(endpointKey: String, pool: UpstreamPool, slot: ConnectionSlot? = nil, singleUse: Bool = false) {
        self.endpointKey = endpointKey
        self.pool = pool
        self.slot = slot
        self.singleUse = singleUse
    }

    var channel: (any Channel)? { self.context?.channel }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.slot?.release()
        self.endHandshake(ChannelError.ioOnClosedChannel)
    }

    /// Sends a request (its head as bytes, see ``UpstreamRequestHead``); the response goes to
    /// `delegate`. `isHEAD`: the response has no body whatever its head says.
    func send(head: ByteBuffer, body: ByteBuffer?, isHEAD: Bool, delegate: any UpstreamResponseDelegate) {
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
        self.requestCount += 1
        self.parser.expectResponse(toHEAD: isHEAD)
        if var body, body.readableBytes > 0 {
            if body.readableBytes <= Self.coalesceLimit {
                // A small body travels in the head's buffer: one write, one syscall.
                var head = head
                head.writeBuffer(&body)
                context.writeAndFlush(self.wrapOutboundOut(head), promise: nil)
                return
            }
            context.write(self.wrapOutboundOut(head), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(body), promise: nil)
        } else {
            context.writeAndFlush(self.wrapOutboundOut(head), promise: nil)
        }
    }

    /// Bodies up to this size are copied behind the head rather than written on their own.
    static let coalesceLimit = 16 * 1024

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
        let buffer = self.unwrapInboundIn(data)
        guard self.delegate != nil, self.parser.inResponse else {
            // A response nobody asked for (or for an abandoned request): the connection is unusable.
            self.close()
            return
        }
        self.receivedResponseBytes = true
        self.parser.append(buffer)
        do {
            while let event = try self.parser.next() { self.deliver(event) }
        } catch {
            self.failInFlight(protocolError: true)
            self.close()
        }
    }

    /// One parsed event to the delegate. A delegate may abandon the connection while it handles
    /// an event; what the rest of the bytes held then goes nowhere.
    private func deliver(_ event: UpstreamResponseParser.Event) {
        guard let delegate = self.delegate else { return }
        switch event {
        case .head(let head):
            self.responseKeepAlive = head.keepAlive
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
            if self.responseKeepAlive && !self.isClosed && !self.singleUse {
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
        self.slot?.release()
        self.endHandshake(ChannelError.ioOnClosedChannel)
        self.pool.remove(self)
        // A body that runs until the close ends here; a truncated one is reported below as a
        // close mid-response.
        if let event = try? self.parser.inputClosed() { self.deliver(event) }
        self.failInFlight(protocolError: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.endHandshake(error)
        if case UpstreamHTTP2Bridge.BridgeError.refusedUnprocessed = error, !self.receivedResponseBytes,
            let delegate = self.delegate
        {
            self.delegate = nil
            self.isInFlight = false
            delegate.upstreamFailed(.refusedUnprocessed)
        }
        self.failInFlight(protocolError: false)
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
