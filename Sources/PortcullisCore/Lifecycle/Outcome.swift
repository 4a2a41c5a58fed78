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

/// Where an exchange was in its life.
public enum ExchangePhase: String, Sendable, Hashable, CaseIterable {
    /// Head stages (authentication) running or waiting.
    case headStages = "head_stages"
    /// The request body is being read.
    case body
    /// Body stages (inspection, routing, later policy and limits) running or waiting.
    case bodyStages = "body_stages"
    /// Connecting to an upstream endpoint.
    case upstreamConnect = "upstream_connect"
    /// The request was sent; waiting for the response head.
    case upstreamResponse = "upstream_response"
    /// Response parts are flowing to the client.
    case streaming
    /// The last part is written; waiting for the client to take it.
    case writingResponse = "writing_response"
}

/// Which deadline passed.
public enum TimeoutKind: String, Sendable, Hashable, CaseIterable {
    /// The request head did not arrive in time.
    case header
    /// The request body did not arrive in time.
    case body
    /// A suspended stage (a JWKS refetch, later an external call) did not answer in time.
    case suspension
    case upstreamConnect = "upstream_connect"
    /// Request sent, response head not received in time.
    case upstreamResponse = "upstream_response"
    /// No response bytes from the backend for too long in the middle of a body.
    case upstreamIdle = "upstream_idle"
    /// The client stopped taking response bytes for too long.
    case clientWrite = "client_write"
    /// The graceful stop's drain timeout ended the exchange.
    case drain
}

/// Why an exchange that had started its response could not finish it (the access log's
/// `abort` field).
public enum AbortReason: String, Sendable, Hashable, CaseIterable {
    case clientClosed = "client_closed"
    case streamReset = "stream_reset"
    case upstreamClosed = "upstream_closed"
    case upstreamIdleTimeout = "upstream_idle_timeout"
    case clientWriteTimeout = "client_write_timeout"
    case drainTimeout = "drain_timeout"
    /// Bytes the client sent next could not be parsed while the response was still going.
    case protocolError = "protocol_error"
}
