import NIOCore
import PortcullisCore

/// The life of one HTTP/1.1 connection (a sequence of exchanges) or one HTTP/2 stream (one
/// exchange), as a value: events and the current time go in, an ``Action`` for the IO shell
/// comes out. It owns every decision about time and races: which deadline applies, what a
/// timeout means in each phase, what a late callback from an abandoned attempt is worth, when
/// the exchange's ledger is settled and with which ``Outcome``, and whether the connection is
/// kept, closed or drained. It performs no IO and reads no clock, so it is tested without a
/// channel (`LifecycleStateMachineTests`), in the manner of NIO's
/// `HTTPServerPipelineHandler.ConnectionState` and AsyncHTTPClient's `Transaction+StateMachine`.
///
/// Contract: every exchange that starts (``headReceived(now:keepAlive:expectContinue:timeouts:)``
/// or ``headFailed(_:now:timeouts:)``) ends with exactly one action that carries a settle
/// outcome, on every path: completed, refused, client gone, backend broken, deadline passed.
struct LifecycleStateMachine {
    let mode: Mode
    /// Set only by the machine's own files (its extensions live beside it).
    var state: State
    /// The header and idle timeouts between requests (from the snapshot the last exchange pinned).
    private(set) var idleTimeouts: Timeouts
    /// A graceful stop is under way: idle connections close, busy ones close after their response.
    private(set) var draining = false
    /// The refusals of the current suspension (on timeout, on failure). Kept beside the state,
    /// not inside it, so every state is plain data and moves between steps as a memcpy.
    var suspensionErrors: (timeout: GatewayError, failure: GatewayError)?
    private var exchanges: UInt32 = 0

    init(mode: Mode, now: NIODeadline, timeouts: Timeouts) {
        self.mode = mode
        self.idleTimeouts = timeouts
        self.state = .idle(Idle(since: now, headStartedAt: nil, fresh: true))
    }

    var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    var currentExchangeID: UInt32? {
        if case .active(let active) = self.state { return active.id }
        return nil
    }

    /// Whether request parts arriving now belong to the current exchange (otherwise they
    /// belong to a pipelined request and wait until the connection is idle again).
    var acceptsRequestParts: Bool {
        switch self.state {
        case .idle: true
        case .active(let active): !active.requestComplete
        case .closed: false
        }
    }

    /// Whether a response head went out for the current exchange.
    var responseStarted: Bool {
        if case .active(let active) = self.state { return active.responseStarted }
        return false
    }

    // MARK: The request side

    /// The first bytes of a request head arrived (HTTP/1: the header timeout starts).
    mutating func headBytesArrived(now: NIODeadline) {
        guard case .idle(var idle) = self.state, idle.headStartedAt == nil else { return }
        idle.headStartedAt = now
        self.state = .idle(idle)
    }

    /// A request head was parsed: a new exchange starts and its head stages run. Returns its id.
    mutating func headReceived(now: NIODeadline, framing: RequestFraming, timeouts: Timeouts) -> UInt32? {
        guard case .idle = self.state else { return nil }
        self.exchanges &+= 1
        self.idleTimeouts = timeouts
        self.state = .active(
            Active(
                id: self.exchanges, timeouts: timeouts, receivedAt: now, step: .headStages,
                closeAfter: self.mode == .http1 && (!framing.keepAlive || self.draining),
                expectContinue: framing.expectContinue, framing: framing))
        return self.exchanges
    }

    /// A request could not even be read as a head (unparseable, too large, too slow): an
    /// exchange starts only to be answered with `error` and logged, then the connection closes.
    mutating func headFailed(_ error: GatewayError, now: NIODeadline, timeouts: Timeouts, outcome: Outcome? = nil) -> Action {
        guard case .idle = self.state else { return .none }
        self.exchanges &+= 1
        self.state = .active(
            Active(
                id: self.exchanges, timeouts: timeouts, receivedAt: now, step: .headStages, closeAfter: true,
                expectContinue: false, framing: .none))
        return self.respond(error, outcome: outcome ?? .refused(error.reason), now: now)
    }

    /// A body part arrived for the current exchange: collect it, or drop it (already answered).
    mutating func bodyPartReceived(bytes: Int) -> BodyDisposition {
        guard case .active(var active) = self.state, !active.requestComplete else { return .drop }
        active.bodyBytes += bytes
        self.state = .active(active)
        switch active.step {
        case .finishing, .settled: return .drop
        default: return .collect
        }
    }

    enum BodyDisposition { case collect, drop }

    /// The request's end arrived.
    mutating func requestEnded(now: NIODeadline) -> Action {
        guard case .active(var active) = self.state, !active.requestComplete else { return .none }
        active.requestComplete = true
        switch active.step {
        case .awaitingBody:
            active.step = .bodyStages
            self.state = .active(active)
            return .runStages(.body, from: 0)
        case .settled:
            // Answered early; the rest of the body has now been read and dropped.
            self.state = .active(active)
            return self.exchangeEnded(now: now)
        default:
            // Stages are running or waiting; they see the complete request when they resume.
            self.state = .active(active)
            return .none
        }
    }

    /// Every stage of `pass` said proceed.
    mutating func stagesPassed(_ pass: StagePass) -> Action {
        guard case .active(var active) = self.state else { return .none }
        switch (pass, active.step) {
        case (.head, .headStages):
            if active.requestComplete {
                active.step = .bodyStages
                self.state = .active(active)
                return .runStages(.body, from: 0)
            }
            active.step = .awaitingBody
            let sendContinue = active.expectContinue
            self.state = .active(active)
            return sendContinue ? .sendContinue : .none
        case (.body, .bodyStages):
            // The shell dispatches: a local answer (`respond`) or forwarding (`startForwarding`).
            return .dispatch
        default:
            return .none
        }
    }

    /// A stage of `pass` at `index` suspended with `suspension`'s deadline. Returns the token the
    /// completion must present.
    mutating func stageSuspended(
        _ pass: StagePass, at index: Int, deadline: NIODeadline, timeoutError: GatewayError, failureError: GatewayError
    ) -> SuspensionToken? {
        guard case .active(var active) = self.state else { return nil }
        // Only a running stage can suspend (never once an answer is on its way).
        switch (pass, active.step) {
        case (.head, .headStages), (.body, .bodyStages): break
        default: return nil
        }
        active.suspensions &+= 1
        let token = SuspensionToken(exchange: active.id, sequence: active.suspensions)
        active.step = .suspended(
            Suspended(
                pass: pass, resumeAt: index, token: token, deadline: deadline))
        self.suspensionErrors = (timeoutError, failureError)
        self.state = .active(active)
        return token
    }

    /// Whether `token` is the suspension the exchange is waiting on.
    func isCurrent(_ token: SuspensionToken) -> Bool {
        guard case .active(let active) = self.state, case .suspended(let suspended) = active.step else { return false }
        return suspended.token == token
    }

    /// A suspension ended. A stale token (the exchange moved on: refused, timed out, client
    /// gone) is ignored; the result of a live one resumes the stages or refuses.
    mutating func suspensionEnded(_ token: SuspensionToken, result: Result<SuspensionResult, any Error>, now: NIODeadline) -> Action {
        guard case .active(var active) = self.state, case .suspended(let suspended) = active.step, suspended.token == token
        else { return .none }
        active.step = suspended.pass == .head ? .headStages : .bodyStages
        self.state = .active(active)
        switch result {
        case .success(.proceed):
            return .resumeStages(suspended.pass, from: suspended.resumeAt + 1)
        case .success(.refuse(let error)):
            return self.respond(error, now: now)
        case .failure:
            return self.respond(self.suspensionErrors?.failure ?? .internalError, now: now)
        }
    }

    /// Starts sending the request upstream to one of `endpointCount` endpoints; with
    /// `totalTimeout`, the response head must arrive within it from `now`, whatever the
    /// attempts (each also keeps its own connect and response timeouts).
    mutating func startForwarding(
        endpointCount: Int, retries: RetryPolicy = .none, totalTimeout: TimeAmount? = nil, now: NIODeadline = .distantPast
    ) -> Action {
        guard case .active(var active) = self.state, case .bodyStages = active.step else { return .none }
        active.endpointCount = max(1, endpointCount)
        active.retries = retries
        active.upstreamDeadline = totalTimeout.map { now + $0 }
        active.attempt = 0
        self.state = .active(active)
        return .connect(AttemptToken(exchange: active.id, attempt: 0))
    }

    /// Graceful stop: an idle connection closes now; a busy one answers with `Connection: close`
    /// (or closes after its response, when the head is already out).
    mutating func drain() -> Action {
        self.draining = true
        switch self.state {
        case .idle(let idle) where self.mode == .http1 && idle.headStartedAt == nil:
            self.state = .closed
            return .close(cleanup: [])
        case .active(var active) where self.mode == .http1:
            active.closeAfter = true
            self.state = .active(active)
            return .none
        default:
            return .none
        }
    }

    /// The response must end with the connection (an HTTP/1.0 client and a body without length).
    mutating func closeAfterResponse() {
        guard case .active(var active) = self.state else { return }
        active.closeAfter = true
        self.state = .active(active)
    }

    // MARK: Local answers

    /// Answers the current exchange with `error` (or cuts it when the response already started).
    mutating func respond(_ error: GatewayError, outcome: Outcome? = nil, now: NIODeadline) -> Action {
        guard case .active(var active) = self.state else { return .none }
        let outcome = outcome ?? .refused(error.reason)
        let cleanup = Self.cleanup(leaving: active.step)
        switch active.step {
        case .finishing, .settled:
            return .none
        default:
            break
        }
        if active.responseStarted {
            // Headers are out: the only honest signal left is to cut the connection or reset the stream.
            self.state = .closed
            return .close(cleanup: cleanup, settle: outcome, abort: nil)
        }
        if error.closesConnection || (self.mode == .http1 && !active.requestComplete && !Self.canDropRest(of: active)) {
            active.closeAfter = true
        }
        active.responseStarted = true
        active.step = .finishing(outcome: outcome, deadline: now + active.timeouts.clientWrite)
        self.state = .active(active)
        return .writeRefusal(error, closeAfter: active.closeAfter, cleanup: cleanup)
    }

    /// Answering before the body is in keeps the connection only when the rest is small and
    /// known to be coming. No `Content-Length` and no `Transfer-Encoding`: there is no body.
    static func canDropRest(of active: Active) -> Bool {
        if active.framing.expectContinue || active.framing.chunked { return false }
        let remaining = (active.framing.contentLength ?? 0) - active.bodyBytes
        return remaining <= Self.discardLimit
    }

    /// Answers the current exchange with a body of the gateway's own (the model list).
    mutating func respondLocally(now: NIODeadline) -> Action {
        guard case .active(var active) = self.state, case .bodyStages = active.step else { return .none }
        active.responseStarted = true
        active.step = .finishing(outcome: .completed, deadline: now + active.timeouts.clientWrite)
        self.state = .active(active)
        return .writeLocalAnswer(closeAfter: active.closeAfter)
    }

    /// The last part's write completed (`success`) or failed.
    mutating func lastWriteCompleted(success: Bool, now: NIODeadline) -> Action {
        guard case .active(var active) = self.state, case .finishing(let outcome, _) = active.step else { return .none }
        let settled = success || outcome != .completed ? outcome : .clientAborted(.writingResponse)
        active.step = .settled
        self.state = .active(active)
        if active.clientGone {
            self.state = .closed
            return .settle(settled, then: .streamDone)
        }
        if !success || active.closeAfter {
            self.state = .closed
            // Closing on an unread body could reset the connection under the answer: wait for
            // the client to stop sending first (a bounded linger).
            let bodyComing = active.framing.chunked || (active.framing.contentLength ?? 0) > active.bodyBytes
            let linger = success && !active.requestComplete && bodyComing && self.mode == .http1
            return .settle(settled, then: linger ? .lingerThenClose : .close)
        }
        if self.mode == .http2Stream {
            self.state = .closed
            // A stream answered before its request body ended is reset; a complete one just ends.
            return .settle(settled, then: active.requestComplete ? .streamDone : .close)
        }
        guard active.requestComplete else { return .settle(settled, then: .awaitRequestEnd) }
        self.state = .idle(Idle(since: now, headStartedAt: nil, fresh: false))
        return .settle(settled, then: .idle)
    }

    /// The exchange ended after its settlement (the dropped body's end arrived).
    private mutating func exchangeEnded(now: NIODeadline) -> Action {
        guard case .active(let active) = self.state else { return .none }
        if active.closeAfter || self.mode == .http2Stream {
            self.state = .closed
            return .close(cleanup: [])
        }
        self.state = .idle(Idle(since: now, headStartedAt: nil, fresh: false))
        return .next(.idle)
    }
}
