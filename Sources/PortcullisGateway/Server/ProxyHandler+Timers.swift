import NIOCore
import NIOHTTP1
import PortcullisCore

extension ProxyHandler {
    /// What happens when the current deadline passes.
    enum TimerAction {
        case closeIdle
        case requestTimeout
        case upstreamTimeout
        case upstreamIdle
        case sseKeepAlive
    }

    /// The earliest deadline of the current phase. Every timeout of the connection is derived
    /// from its state here, so one scheduled task per connection serves them all: the task is
    /// only rescheduled when a deadline moves earlier; when it fires early it re-arms itself.
    func currentDeadline() -> (NIODeadline, TimerAction)? {
        let http = (self.exchange?.snapshot ?? self.loop.snapshot()).config.http
        switch self.phase {
        case .idle:
            guard !self.connection.isHTTP2 else { return nil }
            if let started = self.connection.headBytesAt {
                return (started + .nanoseconds(http.headerTimeoutNanos), .requestTimeout)
            }
            if self.connection.isFresh {
                return (self.connection.idleSince + .nanoseconds(http.headerTimeoutNanos), .closeIdle)
            }
            return (self.connection.idleSince + .nanoseconds(http.idleTimeoutNanos), .closeIdle)
        case .readingBody, .discardingBody:
            return (self.bodyStartedAt + .nanoseconds(http.bodyTimeoutNanos), .requestTimeout)
        case .processing:
            return nil
        case .awaitingResponse:
            guard let exchange = self.exchange, let forwardedAt = exchange.forwardedAt, let route = exchange.route else {
                return nil
            }
            return (forwardedAt + route.backend.responseTimeout, .upstreamTimeout)
        case .streaming:
            guard let route = self.exchange?.route else { return nil }
            let idle = (self.lastUpstreamReadAt + route.backend.idleTimeout, TimerAction.upstreamIdle)
            if self.sse != nil && http.sseKeepAliveNanos > 0 {
                let keepAlive = self.lastClientWriteAt + .nanoseconds(http.sseKeepAliveNanos)
                if keepAlive < idle.0 { return (keepAlive, .sseKeepAlive) }
            }
            return idle
        case .closed:
            return nil
        }
    }

    func armTimer() {
        guard let context = self.context, let (deadline, _) = self.currentDeadline() else { return }
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
        guard self.context != nil, let (deadline, action) = self.currentDeadline() else { return }
        if NIODeadline.now() >= deadline {
            self.perform(action)
        }
        self.armTimer()
    }

    private func perform(_ action: TimerAction) {
        switch action {
        case .closeIdle:
            self.closeNow()
        case .requestTimeout:
            if self.phase == .idle {
                // A head started arriving but did not finish in time.
                self.respondWithoutExchange(.requestTimeout())
            } else if self.phase == .discardingBody {
                self.closeNow()
            } else {
                self.respond(.requestTimeout())
            }
        case .upstreamTimeout:
            self.respond(.upstreamTimeout())
        case .upstreamIdle:
            self.exchange?.abortReason = "upstream_idle_timeout"
            self.closeNow()
        case .sseKeepAlive:
            guard let context = self.context, self.sse?.atEventBoundary ?? false else {
                // Mid-event: a comment now would split the event; try again one interval later.
                self.lastClientWriteAt = .now()
                return
            }
            var comment = context.channel.allocator.buffer(capacity: 14)
            comment.writeStaticString(": keep-alive\n\n")
            context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(comment))), promise: nil)
            self.lastClientWriteAt = .now()
        }
    }
}
