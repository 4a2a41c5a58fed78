

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
    /// The response head did not arrive within the total timeout, over every attempt.
    case upstreamTotal = "upstream_total"
    /// No response bytes from the backend for too long in the middle of a body.
    case upstreamIdle = "upstream_idle"
    /// The client stopped taking response bytes for too long.
    case clientWrite = "client_write"
    /// The graceful stop's drain timeout ended the exchange.
    case drain
}
