import NIOCore
import PortcullisCore

/// How exchanges end early: parse errors, the client leaving, the gateway closing.
extension LifecycleStateMachine {
    // MARK: Errors and the client going away

    /// Bytes the HTTP decoder could not parse.
    mutating func protocolError(_ error: GatewayError, now: NIODeadline, timeouts: Timeouts) -> Action {
        switch self.state {
        case .idle:
            return self.headFailed(error, now: now, timeouts: timeouts)
        case .active(let active):
            if active.requestComplete {
                // The bad bytes belong to a pipelined request: the shell queues the error behind
                // the requests before it (`PipelinedRequests`) and answers it in its turn.
                return .none
            }
            if active.responseStarted {
                let cleanup = Self.cleanup(leaving: active.step)
                self.state = .closed
                if case .finishing(let outcome, _) = active.step { return .close(cleanup: cleanup, settle: outcome, abort: nil) }
                if case .settled = active.step { return .close(cleanup: cleanup) }
                return .close(cleanup: cleanup, settle: .clientAborted(Self.phase(of: active.step)), abort: .protocolError)
            }
            return self.respond(error, now: now)
        case .closed:
            return .none
        }
    }

    /// The client closed the connection, or reset the stream.
    mutating func clientClosed() -> Action {
        let previous = self.state
        self.state = .closed
        guard case .active(var active) = previous else { return .none }
        let cleanup = Self.cleanup(leaving: active.step)
        switch active.step {
        case .settled:
            return .none
        case .finishing:
            // The last write is pending and its promise is always completed (a close fails it).
            // An HTTP/2 stream closes as its END_STREAM goes out, before the promise: the
            // promise, not the order of the callbacks, says whether the response got out.
            active.clientGone = true
            self.state = .active(active)
            return .none
        default:
            return .abandoned(cleanup: cleanup, settle: .clientAborted(Self.phase(of: active.step)))
        }
    }

    /// The handler is leaving the pipeline: nothing more can arrive, so whatever is still open
    /// settles now. A last write still pending: on HTTP/1 its channel is closing and has
    /// already failed it (counted as not delivered); an HTTP/2 stream's channel goes once its
    /// END_STREAM frame is handed to the connection, whose write (flushed at the end of the
    /// tick, see ``FlushCoalescer``) still holds the promise and always completes it, so
    /// the stream's exchange settles on that promise.
    mutating func handlerRemoved() -> Action {
        guard case .active(var active) = self.state else {
            self.state = .closed
            return .none
        }
        switch active.step {
        case .finishing where self.mode == .http2Stream:
            active.clientGone = true
            self.state = .active(active)
            return .none
        case .finishing(let outcome, _):
            self.state = .closed
            return .abandoned(cleanup: [], settle: outcome == .completed ? .clientAborted(.writingResponse) : outcome)
        default:
            return self.clientClosed()
        }
    }

    /// The gateway itself ends the exchange (the graceful stop's drain timeout).
    mutating func forceClose(_ kind: TimeoutKind) -> Action {
        let previous = self.state
        self.state = .closed
        guard case .active(let active) = previous else { return .close(cleanup: []) }
        let cleanup = Self.cleanup(leaving: active.step)
        switch active.step {
        case .settled: return .close(cleanup: cleanup)
        default: return .close(cleanup: cleanup, settle: .timedOut(kind), abort: .drainTimeout)
        }
    }

    // MARK: Helpers

    /// What must be undone when the exchange leaves `step` for an answer or a close.
    static func cleanup(leaving step: Step) -> Cleanup {
        switch step {
        case .suspended(let suspended): suspended.pass == .head ? [.cancelSuspension, .resumeReads] : [.cancelSuspension]
        case .connecting, .awaitingResponse, .streaming: [.abandonUpstream]
        default: []
        }
    }

    static func phase(of step: Step) -> ExchangePhase {
        switch step {
        case .headStages: .headStages
        case .awaitingBody: .body
        case .bodyStages: .bodyStages
        case .suspended(let suspended): suspended.pass == .head ? .headStages : .bodyStages
        case .connecting, .backingOff: .upstreamConnect
        case .awaitingResponse: .upstreamResponse
        case .streaming: .streaming
        case .finishing, .settled: .writingResponse
        }
    }
}
