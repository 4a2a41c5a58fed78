import PortcullisCore

extension LifecycleStateMachine {
    /// What the IO shell must do after an event. Exactly the actions that carry a `settle`
    /// outcome close the exchange's ledger; the machine emits one of them per exchange.
    enum Action: Equatable {
        case none
        /// Evaluate the stages of `pass` from `from` (head → body, or a new body pass).
        case runStages(StagePass, from: Int)
        /// A suspension ended well: continue the stages of `pass` from `from` (reads resume
        /// first when it was a head stage).
        case resumeStages(StagePass, from: Int)
        /// Head stages passed and the client waits on `Expect: 100-continue`.
        case sendContinue
        /// Body stages passed: answer locally (``respondLocally(now:)``) or forward
        /// (``startForwarding(endpointCount:)``).
        case dispatch
        /// Borrow or open a connection for this attempt (the endpoint follows from it).
        case connect(AttemptToken)
        /// Retry now with `token` (the next endpoint), dropping the failed attempt's upstream
        /// connection first when `abandonUpstream`.
        case retryNow(AttemptToken, abandonUpstream: Bool)
        /// Drop the failed attempt's upstream connection when `abandonUpstream` and wait: the
        /// next attempt starts when the backoff's timer fires (as ``connect(_:)``).
        case retryLater(abandonUpstream: Bool)
        /// The pooled connection closed as it was used (the keep-alive race): the same
        /// request goes once more, on a fresh connection to the same endpoint.
        case retryOnFreshConnection(AttemptToken)
        /// Write the refusal (head, body, end with a promise); then ``lastWriteCompleted(success:now:)``.
        case writeRefusal(GatewayError, closeAfter: Bool, cleanup: Cleanup)
        /// Write the gateway's own answer (the model list) the same way.
        case writeLocalAnswer(closeAfter: Bool)
        /// Write the upstream's response head to the client.
        case writeResponseHead(closeAfter: Bool)
        /// Write the response end with a promise; then ``lastWriteCompleted(success:now:)``.
        case writeEnd
        /// The gateway ends an event stream itself: drop the upstream connection, write `error`
        /// as the final SSE event, then the end with a promise, as for ``writeEnd``.
        case cutStream(GatewayError)
        /// Write an SSE `: keep-alive` comment if the stream is between events (else call
        /// ``keepAliveSkipped(now:)``).
        case sendKeepAlive
        case pauseUpstreamReads
        case resumeUpstreamReads
        /// Close the exchange's ledger with `outcome`, then go on with `then`.
        case settle(Outcome, then: Next)
        /// The exchange is over (its ledger already settled): go on with `then`.
        case next(Next)
        /// Cut the connection (HTTP/1) or reset the stream (HTTP/2) now, after `cleanup`,
        /// settling the ledger first when `settle` is set.
        case close(cleanup: Cleanup, settle: Outcome? = nil, abort: AbortReason? = nil)
        /// The client is already gone: undo `cleanup` and settle; nothing is left to close.
        case abandoned(cleanup: Cleanup, settle: Outcome)
    }

    /// What follows a settled exchange.
    enum Next: Equatable {
        /// Wait for the next request head (replay pipelined parts first).
        case idle
        /// Close the connection (the writes are done).
        case close
        /// An HTTP/2 stream that is complete in both directions: nothing to do.
        case streamDone
        /// Keep reading and dropping the request body; the exchange ends with its end.
        case awaitRequestEnd
        /// Close once the client has stopped sending: the request body was not read, and
        /// closing at once could reset the connection before the client read the answer.
        case lingerThenClose
    }

    /// What must be undone when an exchange leaves its current step early.
    struct Cleanup: OptionSet, Equatable, Sendable {
        let rawValue: UInt8
        /// A stage is waiting: call its cancel hook (its late result is stale anyway).
        static let cancelSuspension = Cleanup(rawValue: 1)
        /// Reads were paused for a waiting head stage: resume them.
        static let resumeReads = Cleanup(rawValue: 2)
        /// An upstream attempt is in progress: drop its connection (its state is unknown).
        static let abandonUpstream = Cleanup(rawValue: 4)
    }
}
