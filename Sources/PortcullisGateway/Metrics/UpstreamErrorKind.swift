import PortcullisCore

/// Why a call to a backend failed: the `kind` label of `portcullis_upstream_errors_total`.
/// The raw value is the counter's position in a per-loop array.
enum UpstreamErrorKind: Int, CaseIterable, Sendable {
    /// No connection could be made.
    case unreachable
    /// Connecting, the response head or the response body took too long.
    case timeout
    /// The backend's response was not valid HTTP (or not what was asked for).
    case `protocol`
    /// The backend went away in the middle of the response.
    case broken
    /// The backend refused the gateway's own credential for it (401/403).
    case auth

    var label: String {
        switch self {
        case .unreachable: "unreachable"
        case .timeout: "timeout"
        case .protocol: "protocol"
        case .broken: "broken"
        case .auth: "auth"
        }
    }

    /// The upstream error an exchange ended with, if any, besides failed connects (those are
    /// counted per attempt, against the endpoint each one tried: ``LoopMetrics/connectFailed``).
    init?(_ outcome: Outcome, refusal: RefusalReason?) {
        switch outcome {
        case .upstreamFailed(.upstreamConnect), .timedOut(.upstreamConnect): return nil
        case .timedOut(.upstreamResponse), .timedOut(.upstreamIdle), .timedOut(.upstreamTotal): self = .timeout
        case .upstreamFailed:
            switch refusal {
            case .upstreamProtocolError: self = .protocol
            case .upstreamAuthFailed: self = .auth
            default: self = .broken
            }
        default: return nil
        }
    }
}
