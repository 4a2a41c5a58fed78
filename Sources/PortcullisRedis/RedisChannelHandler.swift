import NIOCore

/// Pipelining on one connection: every command written is answered in order, so the handler
/// keeps the waiting promises in a queue and hands each reply to the oldest. When the
/// connection closes or breaks, every waiting command fails with ``RedisError/connectionClosed``
/// (or the error that broke it), and the link is not used again.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisChannelHandler.Request
    typealias OutboundOut = ByteBuffer

    struct Request {
        let bytes: ByteBuffer
        let promise: EventLoopPromise<RESPValue>
    }

    private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>(initialCapacity: 16)
    private var failure: RedisError?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = self.unwrapOutboundIn(data)
        if let failure = self.failure {
            request.promise.fail(failure)
            promise?.fail(failure)
            return
        }
        self.waiting.append(request.promise)
        context.write(self.wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = self.unwrapInboundIn(data)
        guard let promise = self.waiting.popFirst() else {
            // A reply nobody asked for: the stream is out of step, so nothing on it can be trusted.
            self.fail(.protocolError("unexpected reply"), context: context)
            return
        }
        promise.succeed(value)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.fail(.connectionClosed, context: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail((error as? RedisError) ?? .connectionClosed, context: context)
    }

    private func fail(_ error: RedisError, context: ChannelHandlerContext?) {
        if self.failure == nil { self.failure = error }
        while let promise = self.waiting.popFirst() { promise.fail(error) }
        context?.close(promise: nil)
    }
}
