import NIOCore
import NIOHTTP1
import PortcullisCore

/// Writing answers, settling the ledger, closing, and the connection's one timer.
extension ProxyHandler {
    // MARK: Writing toward the client

    /// One part toward the client (HTTP/1 connection or HTTP/2 stream alike).
    func writeToClient(_ part: ClientResponsePart, flush: Bool = false, promise: EventLoopPromise<Void>? = nil) {
        if flush {
            self.context.writeAndFlush(NIOAny(part), promise: promise)
        } else {
            self.context.write(NIOAny(part), promise: promise)
        }
    }

    // MARK: Answers of the gateway's own

    /// A refusal: head, OpenAI-shaped body, end (with the promise the ledger waits for).
    func writeRefusal(_ error: GatewayError, closeAfter: Bool) {
        let exchange = self.exchange ?? self.startUnreadExchange()
        exchange.status = error.status
        exchange.refusal = error.reason
        if exchange.authFailure == nil { exchange.authFailure = error.authFailure }
        let body = error.renderBody(allocator: self.context.channel.allocator)
        let head = ClientResponseHead.local(
            status: error.status, extra: error.headers, bodyLength: body.readableBytes, exchange: exchange,
            closeConnection: closeAfter, isHTTP2: self.isHTTP2)
        self.writeLocal(head: head, body: body, exchange: exchange)
    }

    func writeLocalAnswer(closeAfter: Bool) {
        guard let exchange = self.exchange, let body = self.localBody else { return }
        self.localBody = nil
        exchange.status = 200
        let head = ClientResponseHead.local(
            status: 200, extra: [], bodyLength: body.readableBytes, exchange: exchange, closeConnection: closeAfter,
            isHTTP2: self.isHTTP2)
        self.writeLocal(head: head, body: body, exchange: exchange)
    }

    private func writeLocal(head: HTTPResponseHead, body: ByteBuffer, exchange: Exchange) {
        // No body in answer to HEAD and CONNECT (the head still says how long it would be).
        let method = exchange.head.method
        let bodyless = method == .HEAD || method == .CONNECT
        exchange.responseBytes = bodyless ? 0 : body.readableBytes
        self.writeToClient(.head(head, bodyless ? .none : .asIs))
        if !bodyless { self.writeToClient(.body(body)) }
        self.writeEnd()
    }

    /// An exchange for a request whose head could not be read (unparseable, too slow): it is
    /// answered and logged like any other.
    func startUnreadExchange() -> Exchange {
        let snapshot = self.loop.snapshot()
        let head = HTTPRequestHead(version: .http1_1, method: .RAW(value: "-"), uri: "-")
        let exchange = Exchange(
            snapshot: snapshot, head: head, target: .unreadable, endpoint: .none, requestID: self.loop.requestIDs.next(),
            receivedAt: self.now(), connection: self.connection, loop: self.loop, route: nil)
        self.begin(exchange)
        return exchange
    }

    /// Writes the response end and flushes; the ledger settles when the write completes.
    func writeEnd() {
        guard let context = self.context else {
            // No channel to write to: the exchange cannot finish; it ends as the client's leaving.
            self.perform(self.machine.clientClosed())
            return
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        self.writeToClient(.end, flush: true, promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { result in
            if case .failure = result { self.captureUsage() }
            self.perform(self.machine.lastWriteCompleted(success: result.isSuccess, now: self.now()))
        }
    }

    func sendKeepAlive() {
        guard let context = self.context else { return }
        // Through the usage filter the client only ever gets whole events, so it is always at a boundary.
        if self.usageFilter != nil || self.sse?.atEventBoundary ?? false {
            var comment = context.channel.allocator.buffer(capacity: 14)
            comment.writeStaticString(": keep-alive\n\n")
            self.writeToClient(.body(comment), flush: true)
        }
        // Mid-event, a comment now would split the event: try again one interval later.
        self.machine.keepAliveHandled(now: self.now())
    }

    // MARK: Ending

    /// Closes the current exchange's ledger.
    func settle(_ outcome: Outcome) {
        guard let exchange = self.exchange else { return }
        exchange.settle(outcome)
    }

    func cleanUp(_ cleanup: LifecycleStateMachine.Cleanup) {
        if cleanup.contains(.cancelSuspension), let cancel = self.suspensionCancel {
            self.suspensionCancel = nil
            cancel()
        }
        if cleanup.contains(.resumeReads) && self.readsPausedForStages {
            self.readsPausedForStages = false
            self.updateAutoRead()
        }
        if cleanup.contains(.abandonUpstream), let upstream = self.upstream {
            self.upstream = nil
            upstream.abandon()
            // A batch of upstream reads ends with the connection (its read-complete never comes),
            // so the time it pinned must not outlive it.
            if !self.readBatch { self.batchNow = nil }
        }
    }

    /// Cuts the connection (HTTP/1.1) or resets the stream (HTTP/2).
    func closeChannel() {
        self.cancelTimer()
        if let upstream = self.upstream {
            self.upstream = nil
            upstream.abandon()
        }
        self.context?.close(promise: nil)
    }

    /// Closes the output side and keeps reading (and dropping) what the client still sends, so
    /// a client in the middle of a large upload reads the answer instead of a reset. Ends when
    /// the client closes or after ``lingerLimit``. TLS cannot half-close: it closes at once.
    func linger() {
        guard let context = self.context, !self.connection.isTLS else {
            self.closeChannel()
            return
        }
        self.lingering = true
        self.cancelTimer()
        context.close(mode: .output).assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerLimit) {
            context.close(promise: nil)
        }
    }

    // MARK: The timer

    /// Moves the connection's one scheduled task earlier when the machine's next deadline moved
    /// earlier; a task that fires early re-arms itself.
    func armTimer() {
        if self.readBatch {
            self.timerDirty = true
            return
        }
        self.timerDirty = false
        guard let context = self.context else { return }
        guard let (deadline, _) = self.machine.nextDeadline() else { return }
        if self.timer != nil && self.timerAt <= deadline { return }
        self.timer?.cancel()
        self.timerAt = deadline
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timerFired()
        }
    }

    func cancelTimer() {
        self.timer?.cancel()
        self.timer = nil
        self.timerAt = .distantFuture
    }

    private func timerFired() {
        self.timer = nil
        self.timerAt = .distantFuture
        guard self.context != nil else { return }
        // The total deadline is the request's budget running out, not the endpoint's fault.
        let total = self.machine.nextDeadline()?.1 == .upstreamTotal
        let action = self.machine.timerFired(now: self.now())
        switch action {
        case .writeRefusal(.upstreamTimeout, _, let cleanup) where cleanup.contains(.abandonUpstream) && !total:
            // A backend that hangs counts against its endpoint, as a 5xx or a failed connect does.
            self.recordEndpointFailure()
        case .close(_, .timedOut(.upstreamIdle)?, _):
            self.recordEndpointFailure()
        default:
            break
        }
        self.perform(action)
        self.armTimer()
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
