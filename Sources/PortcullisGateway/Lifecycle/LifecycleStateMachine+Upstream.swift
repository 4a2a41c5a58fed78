import NIOCore
import PortcullisCore

/// The forwarding half: attempts, the response head, body parts, the end, and failures.
extension LifecycleStateMachine {
    /// How long the machine waits for a fresh connection beyond the bootstrap's own connect
    /// timeout before giving up on the attempt itself (a backstop, never the usual path).
    static let connectMargin = TimeAmount.milliseconds(250)

    /// Whether `token` is the attempt the exchange is waiting for (a late connection from an
    /// abandoned attempt is returned to the pool instead).
    func isCurrent(_ token: AttemptToken) -> Bool {
        guard case .active(let active) = self.state, active.id == token.exchange, active.attempt == token.attempt else {
            return false
        }
        switch active.step {
        case .bodyStages, .connecting: return true
        default: return false
        }
    }

    /// Whether the exchange may still move to another backend: its first attempt, before any
    /// byte of it was sent (not a fresh-connection retry of a sent request).
    var mayChangeBackend: Bool {
        guard case .active(let active) = self.state, case .bodyStages = active.step else { return false }
        return active.attempt == 0 && !active.freshRetryUsed
    }

    /// The first attempt moves to another backend before connecting (its first was full):
    /// that backend's endpoints and retries apply from here (the `totalTimeout` set at
    /// dispatch stays).
    mutating func changeBackend(endpointCount: Int, retries: RetryPolicy) {
        guard self.mayChangeBackend, case .active(var active) = self.state else { return }
        active.endpointCount = max(1, endpointCount)
        active.retries = retries
        self.state = .active(active)
    }

    /// No pooled connection: a fresh one is being opened for `token`.
    mutating func connectStarted(_ token: AttemptToken, now: NIODeadline, connectTimeout: TimeAmount) {
        guard self.isCurrent(token), case .active(var active) = self.state else { return }
        active.step = .connecting(deadline: now + connectTimeout + Self.connectMargin)
        self.state = .active(active)
    }

    /// A connection for `token` is ready and the request is being written to it. Returns false
    /// when the attempt is stale: the caller keeps the connection for someone else.
    mutating func requestSent(_ token: AttemptToken, now: NIODeadline, responseTimeout: TimeAmount, idleTimeout: TimeAmount) -> Bool {
        guard self.isCurrent(token), case .active(var active) = self.state else { return false }
        active.step = .awaitingResponse(deadline: now + responseTimeout, idle: idleTimeout)
        self.state = .active(active)
        return true
    }

    /// Whether a failure of the current attempt would be retried, budget permitting: attempts
    /// remain, the policy retries this trigger, and nothing of a response reached the client.
    /// The shell asks this before taking a retry from the backend's budget.
    func retryPossible(after trigger: RetryTrigger) -> Bool {
        guard case .active(let active) = self.state, !active.responseStarted, !self.draining,
            active.attempt + 1 < active.retries.maxAttempts
        else { return false }
        switch (trigger, active.step) {
        case (.connectFailure, .connecting), (.connectFailure, .bodyStages): return active.retries.onConnectFailure
        case (.status(let status), .awaitingResponse): return active.retries.statuses.contains(status)
        default: return false
        }
    }

    /// The current attempt failed with `trigger` and the shell took a retry from the budget
    /// (after ``retryPossible(after:)``). The next attempt goes to the next endpoint at once
    /// while one is untried, else to the same rotation after `backoff` (jittered by the shell).
    mutating func retry(after trigger: RetryTrigger, now: NIODeadline, backoff: TimeAmount) -> Action {
        guard self.retryPossible(after: trigger), case .active(var active) = self.state else { return .none }
        let abandon: Bool
        if case .awaitingResponse = active.step { abandon = true } else { abandon = false }
        active.attempt += 1
        let token = AttemptToken(exchange: active.id, attempt: active.attempt)
        if active.attempt < active.endpointCount || backoff <= .zero {
            active.step = .bodyStages
            self.state = .active(active)
            return .retryNow(token, abandonUpstream: abandon)
        }
        active.step = .backingOff(until: now + backoff, token: token)
        self.state = .active(active)
        return .retryLater(abandonUpstream: abandon)
    }

    /// Connecting for `token` failed (`timedOut`: the connect timeout passed), and it is not
    /// retried (see ``retry(after:now:backoff:)``): 502 or 504.
    mutating func connectFailed(_ token: AttemptToken, timedOut: Bool, now: NIODeadline) -> Action {
        guard self.isCurrent(token), case .active(var active) = self.state else { return .none }
        active.step = .bodyStages  // nothing to abandon: the attempt itself failed
        self.state = .active(active)
        return timedOut
            ? self.respond(.upstreamTimeout, outcome: .timedOut(.upstreamConnect), now: now)
            : self.respond(.upstreamUnreachable, outcome: .upstreamFailed(.upstreamConnect), now: now)
    }

    /// The upstream's response head arrived.
    mutating func upstreamResponseHead(now: NIODeadline, isEventStream: Bool) -> Action {
        guard case .active(var active) = self.state, case .awaitingResponse(_, let idle) = active.step else { return .none }
        active.step = .streaming(Streaming(lastRead: now, lastWrite: now, idle: idle, isEventStream: isEventStream))
        active.responseStarted = true
        self.state = .active(active)
        return .writeResponseHead(closeAfter: active.closeAfter)
    }

    /// The backend's response head is not passed on: the client gets `error` instead (502
    /// `upstream_auth_failed` for a 401 or 403 to the gateway's own credential), and the
    /// connection with the unread body is dropped. Only while no response head has gone out.
    mutating func upstreamHeadRefused(_ error: GatewayError, now: NIODeadline) -> Action {
        guard case .active(let active) = self.state, case .awaitingResponse = active.step else { return .none }
        return self.respond(error, outcome: .upstreamFailed(.upstreamResponse), now: now)
    }

    /// A response body part arrived (and is written to the client by the shell).
    mutating func upstreamBodyPart(now: NIODeadline) {
        guard case .active(var active) = self.state, case .streaming(var streaming) = active.step else { return }
        streaming.lastRead = now
        active.step = .streaming(streaming)
        self.state = .active(active)
    }

    /// A batch of upstream reads ended and the client side was flushed.
    mutating func clientFlushed(now: NIODeadline) {
        guard case .active(var active) = self.state, case .streaming(var streaming) = active.step else { return }
        streaming.lastWrite = now
        active.step = .streaming(streaming)
        self.state = .active(active)
    }

    /// The client side became writable or stopped being so (back-pressure toward the upstream).
    mutating func clientWritabilityChanged(writable: Bool, now: NIODeadline) -> Action {
        guard case .active(var active) = self.state, case .streaming(var streaming) = active.step else { return .none }
        if writable {
            guard streaming.pausedSince != nil else { return .none }
            streaming.pausedSince = nil
            // Time spent paused was the client's, not the backend's.
            streaming.lastRead = now
            active.step = .streaming(streaming)
            self.state = .active(active)
            return .resumeUpstreamReads
        }
        guard streaming.pausedSince == nil else { return .none }
        streaming.pausedSince = now
        active.step = .streaming(streaming)
        self.state = .active(active)
        return .pauseUpstreamReads
    }

    /// The upstream response ended: the end goes to the client with a promise.
    mutating func upstreamResponseEnded(now: NIODeadline) -> Action {
        guard case .active(var active) = self.state, case .streaming = active.step else { return .none }
        active.step = .finishing(outcome: .completed, deadline: now + active.timeouts.clientWrite)
        self.state = .active(active)
        return .writeEnd
    }

    /// The gateway cuts an open event stream off with `error` (a hard ceiling was reached): the
    /// client gets a final SSE error event and a clean end, so the connection stays usable. The
    /// exchange ends refused. Outside an open event stream (a response framed by length, or
    /// not yet streaming), nothing happens: such a body cannot be ended early and stay whole.
    mutating func streamCut(_ error: GatewayError, now: NIODeadline) -> Action {
        guard case .active(var active) = self.state, case .streaming(let streaming) = active.step, streaming.isEventStream else {
            return .none
        }
        active.step = .finishing(outcome: .refused(error.reason), deadline: now + active.timeouts.clientWrite)
        self.state = .active(active)
        return .cutStream(error)
    }

    /// The upstream connection failed. `atEventBoundary`: what the client received of an event
    /// stream ends with a whole event, so a final `error` event can follow it.
    mutating func upstreamFailed(_ failure: UpstreamFailure, now: NIODeadline, atEventBoundary: Bool = false) -> Action {
        guard case .active(var active) = self.state else { return .none }
        switch active.step {
        case .awaitingResponse:
            switch failure {
            case .closedBeforeResponse(retryable: true) where !active.freshRetryUsed && active.framing.idempotent:
                // A pooled connection closed as we used it (the backend's idle timeout raced our
                // request). Nothing was answered and the method is idempotent, so one retry on a
                // fresh connection is safe. A POST is never sent twice: the backend may have
                // taken it and died on it (pooled connections are retired before the backend's
                // keep-alive timeout, `keepAliveTimeout`, which makes the race rare).
                active.freshRetryUsed = true
                active.step = .bodyStages
                self.state = .active(active)
                return .retryOnFreshConnection(AttemptToken(exchange: active.id, attempt: active.attempt))
            case .refusedUnprocessed where !active.freshRetryUsed:
                // The backend says it did not process the request (HTTP/2 REFUSED_STREAM):
                // once more, on a fresh stream, whatever the method.
                active.freshRetryUsed = true
                active.step = .bodyStages
                self.state = .active(active)
                return .retryOnFreshConnection(AttemptToken(exchange: active.id, attempt: active.attempt))
            case .protocolError:
                active.step = .bodyStages
                self.state = .active(active)
                return self.respond(.upstreamProtocolError, outcome: .upstreamFailed(.upstreamResponse), now: now)
            default:
                active.step = .bodyStages
                self.state = .active(active)
                return self.respond(.upstreamClosed, outcome: .upstreamFailed(.upstreamResponse), now: now)
            }
        case .streaming(let streaming):
            if streaming.isEventStream && atEventBoundary {
                // An open event stream between events: it ends with a final `error` event and
                // a clean end, and the connection stays usable.
                active.step = .finishing(outcome: .upstreamFailed(.streaming), deadline: now + active.timeouts.clientWrite)
                self.state = .active(active)
                return .cutStream(.upstreamStreamBroken)
            }
            // Any other body (framed by length, or cut inside an event): cutting the client is
            // the only honest signal of a broken body.
            self.state = .closed
            return .close(cleanup: [], settle: .upstreamFailed(.streaming), abort: .upstreamClosed)
        default:
            return .none
        }
    }

    /// The SSE keep-alive comment was written (or skipped mid-event): its interval starts again.
    mutating func keepAliveHandled(now: NIODeadline) {
        self.clientFlushed(now: now)
    }
}
