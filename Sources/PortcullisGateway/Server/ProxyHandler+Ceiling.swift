import NIOCore
import PortcullisConfig
import PortcullisCore

/// Hard ceilings, in the shell: each read of an open event stream held to one is counted before
/// it is delivered (``LimitTicket/checkCeilings(_:fragments:)``); a read that would pass a
/// ceiling is not, and the stream ends with the limit's error as its final event.
///
/// The client only ever gets whole events: through the usage filter it has nothing but whole
/// events (a partial one held there is dropped); otherwise, when an earlier read ended inside
/// an event, that event is finished first (up to its end, over more reads if need be), then cut.
extension ProxyHandler {
    /// Counts `buffer` against the ceilings. Returns true when the read was handled here (the
    /// stream is being cut); false: it goes on as usual (its text already counted).
    func holdToCeiling(_ buffer: ByteBuffer, exchange: Exchange, now: NIODeadline) -> Bool {
        // What was counted before this read is what the client has received.
        let delivered = self.textCounter!.tokensIncludingOpenString
        buffer.withUnsafeReadableBytes { self.textCounter!.feed($0) }
        if let charge = self.pendingCut { return self.finishEventThenCut(buffer, charge, exchange: exchange, now: now) }
        guard let reached = self.ceiling!.checkCeilings(exchange, fragments: self.textCounter!.fragments) else { return false }
        if self.usageFilter != nil || self.sse?.atEventBoundary ?? true {
            return self.cut(reached, delivered: delivered, exchange: exchange, now: now)
        }
        self.pendingCut = reached
        return self.finishEventThenCut(buffer, reached, exchange: exchange, now: now)
    }

    /// Delivers `buffer` up to the end of the client's event in progress, then cuts; when the
    /// event does not end in it, all of it goes and the cut waits for the next read.
    private func finishEventThenCut(_ buffer: ByteBuffer, _ charge: LimitCharge, exchange: Exchange, now: NIODeadline) -> Bool {
        let end = buffer.withUnsafeReadableBytes { self.sse!.feedToBoundary($0) }
        let prefix = end.map { buffer.getSlice(at: buffer.readerIndex, length: $0)! } ?? buffer
        exchange.responseBytes += prefix.readableBytes
        self.writeToClient(.body(prefix))
        self.pendingFlush = true
        guard let end else { return true }
        // Conservative: the whole read's text is counted as delivered.
        if !self.cut(charge, delivered: self.textCounter!.tokensIncludingOpenString, exchange: exchange, now: now),
            let rest = buffer.getSlice(at: buffer.readerIndex + end, length: buffer.readableBytes - end)
        {
            exchange.responseBytes += rest.readableBytes
            self.writeToClient(.body(rest))
        }
        return true
    }

    /// Cuts the stream at `charge`'s ceiling, counted as a `cut` decision. Returns false when
    /// the machine cannot (the stream is not streaming any more).
    private func cut(_ charge: LimitCharge, delivered: Int, exchange: Exchange, now: NIODeadline) -> Bool {
        let refusal = LimitRefusal(
            name: charge.rule.name, rule: charge.rule.rule, limit: charge.rule.limit, cost: charge.cost, retryAfterNanos: 0,
            midStream: true)
        let action = self.machine.streamCut(.limitExceeded(refusal), now: now)
        guard action != .none else {
            self.ceiling = nil
            self.pendingCut = nil
            return false
        }
        exchange.limitRefused = charge.rule
        self.loop.metrics.countLimit(exchange, series: exchange.snapshot.metrics.limit(charge.rule), .cut)
        self.cutDelivered = delivered
        self.perform(action)
        return true
    }

    /// Carries out ``LifecycleStateMachine/Action/cutStream(_:)``: the upstream is dropped, the
    /// error goes out as the final event, then the end. Settled like a stream without usage: the
    /// prompt estimate and the text delivered (``GeneratedTextCounter``'s conservative count).
    func cutStream(_ error: GatewayError) {
        // The upstream's reads end here: the batch's clock must not outlive them.
        defer { if !self.readBatch { self.batchNow = nil } }
        guard let exchange = self.exchange else { return }
        self.captureUsage()
        if let delivered = self.cutDelivered { exchange.generatedTokens = delivered }
        self.cutDelivered = nil
        exchange.refusal = error.reason
        // The rest of the upstream response is not wanted: its connection cannot be reused.
        self.upstream?.abandon()
        self.upstream = nil
        self.usageFilter = nil
        self.ceiling = nil
        self.pendingCut = nil
        guard let context = self.context else {
            self.writeEnd()
            return
        }
        let event = error.renderEvent(allocator: context.channel.allocator)
        exchange.responseBytes += event.readableBytes
        self.writeToClient(.body(event))
        self.writeEnd()
    }
}
