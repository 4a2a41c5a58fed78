import NIOCore
import PortcullisCore

/// Every deadline of the connection or stream, derived from its state, so one scheduled task
/// serves them all (the shell only moves it when the deadline moves earlier; a task that fires
/// early re-arms itself).
extension LifecycleStateMachine {
    enum Deadline: Equatable {
        /// An idle connection is closed.
        case closeIdle
        /// A started request head did not complete (408).
        case header
        /// The request body did not arrive in time (408, or a close once answered).
        case body
        case suspension
        case connect
        /// A retry's backoff ended: the next attempt starts.
        case retryBackoff
        case response
        case upstreamIdle
        /// The response head did not arrive within `totalTimeout`, over all attempts.
        case upstreamTotal
        /// The client stopped taking bytes while upstream reads were paused for it.
        case clientStalled
        case keepAlive
        /// The last write did not complete.
        case lastWrite
    }

    /// The earliest deadline now, and what it means.
    func nextDeadline() -> (NIODeadline, Deadline)? {
        switch self.state {
        case .closed:
            return nil
        case .idle(let idle):
            guard self.mode == .http1 else { return nil }
            if let started = idle.headStartedAt { return (started + self.idleTimeouts.header, .header) }
            return (idle.since + (idle.fresh ? self.idleTimeouts.header : self.idleTimeouts.idle), .closeIdle)
        case .active(let active):
            var best: (NIODeadline, Deadline)?
            func consider(_ deadline: NIODeadline, _ kind: Deadline) {
                if best == nil || deadline < best!.0 { best = (deadline, kind) }
            }
            switch active.step {
            case .headStages, .bodyStages, .awaitingBody, .settled:
                break
            case .suspended(let suspended):
                consider(suspended.deadline, .suspension)
            case .connecting(let deadline):
                consider(deadline, .connect)
                if let total = active.upstreamDeadline { consider(total, .upstreamTotal) }
            case .backingOff(let until, _):
                consider(until, .retryBackoff)
                if let total = active.upstreamDeadline { consider(total, .upstreamTotal) }
            case .awaitingResponse(let deadline, _):
                consider(deadline, .response)
                if let total = active.upstreamDeadline { consider(total, .upstreamTotal) }
            case .streaming(let streaming):
                if let paused = streaming.pausedSince {
                    consider(paused + active.timeouts.clientWrite, .clientStalled)
                } else {
                    consider(streaming.lastRead + streaming.idle, .upstreamIdle)
                    if streaming.isEventStream, let interval = active.timeouts.sseKeepAlive {
                        consider(streaming.lastWrite + interval, .keepAlive)
                    }
                }
            case .finishing(_, let deadline):
                consider(deadline, .lastWrite)
            }
            if !active.requestComplete {
                switch active.step {
                case .finishing: break  // the answer is being written; its own deadline governs
                default: consider(active.receivedAt + active.timeouts.body, .body)
                }
            }
            return best
        }
    }

    /// The timer fired at `now`: acts on the deadline if it has passed (else `.none`; the shell re-arms).
    mutating func timerFired(now: NIODeadline) -> Action {
        guard let (deadline, kind) = self.nextDeadline(), now >= deadline else { return .none }
        switch kind {
        case .closeIdle:
            self.state = .closed
            return .close(cleanup: [])
        case .header:
            return self.headFailed(.requestTimeout, now: now, timeouts: self.idleTimeouts, outcome: .timedOut(.header))
        case .body:
            guard case .active(let active) = self.state else { return .none }
            if case .settled = active.step {
                self.state = .closed
                return .close(cleanup: [])
            }
            return self.respond(.requestTimeout, outcome: .timedOut(.body), now: now)
        case .suspension:
            guard case .active(let active) = self.state, case .suspended = active.step else { return .none }
            return self.respond(self.suspensionErrors?.timeout ?? .internalError, outcome: .timedOut(.suspension), now: now)
        case .connect:
            guard case .active(let active) = self.state else { return .none }
            let token = AttemptToken(exchange: active.id, attempt: active.attempt)
            let action = self.connectFailed(token, timedOut: true, now: now)
            // The late connect completion is stale from here on; its connection goes to the pool.
            return action
        case .retryBackoff:
            guard case .active(var active) = self.state, case .backingOff(_, let token) = active.step else { return .none }
            active.step = .bodyStages
            self.state = .active(active)
            return .connect(token)
        case .response:
            return self.respond(.upstreamTimeout, outcome: .timedOut(.upstreamResponse), now: now)
        case .upstreamTotal:
            return self.respond(.upstreamTimeout, outcome: .timedOut(.upstreamTotal), now: now)
        case .upstreamIdle:
            self.state = .closed
            return .close(cleanup: [.abandonUpstream], settle: .timedOut(.upstreamIdle), abort: .upstreamIdleTimeout)
        case .clientStalled:
            self.state = .closed
            return .close(cleanup: [.abandonUpstream], settle: .timedOut(.clientWrite), abort: .clientWriteTimeout)
        case .keepAlive:
            return .sendKeepAlive
        case .lastWrite:
            guard case .active(let active) = self.state, case .finishing(let outcome, _) = active.step else { return .none }
            self.state = .closed
            return .close(
                cleanup: [], settle: outcome == .completed ? .timedOut(.clientWrite) : outcome,
                abort: outcome == .completed ? .clientWriteTimeout : nil)
        }
    }
}
