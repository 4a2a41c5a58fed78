/// How one exchange ended: the closed value every end-of-request obligation receives.
///
/// Exactly one per exchange, decided by the lifecycle state machine and handed to the
/// request's ledger once the last byte of the response has been written (or at once when the
/// exchange failed). Labels (``label``, and the phase and timeout raw values) are fixed
/// strings, safe as metric labels.
public enum Outcome: Sendable, Hashable {
    /// The response was written whole (whatever its status: a backend's 500 passed through is
    /// a completed exchange).
    case completed
    /// The gateway answered the request itself, with this reason.
    case refused(RefusalReason)
    /// The client went away (closed the connection, reset the stream) in this phase.
    case clientAborted(ExchangePhase)
    /// The backend failed (unreachable, closed, invalid response) in this phase.
    case upstreamFailed(ExchangePhase)
    /// A deadline passed.
    case timedOut(TimeoutKind)

    public var label: String {
        switch self {
        case .completed: "completed"
        case .refused: "refused"
        case .clientAborted: "client_aborted"
        case .upstreamFailed: "upstream_failed"
        case .timedOut: "timed_out"
        }
    }

    /// The phase the exchange was in when it broke, for aborts and upstream failures.
    public var phase: ExchangePhase? {
        switch self {
        case .clientAborted(let phase), .upstreamFailed(let phase): phase
        default: nil
        }
    }
}
