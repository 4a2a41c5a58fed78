

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
