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

    var label: String {
        switch self {
        case .unreachable: "unreachable"
        case .timeout: "timeout"
        case .protocol: "protocol"
        case .broken: "broken"
        }
    }

    /// The upstream error an exchange ended with, if any: the gateway's own answer when it
    /// answered (502, 504), else how the exchange ended (a response cut off, a stalled body).
    init?(_ outcome: Outcome, refusal: RefusalReason?) {
        switch refusal {
        case .upstreamUnreachable: self = .unreachable
        case .upstreamTimeout: self = .timeout
        case .upstreamProtocolError: self = .protocol
        default:
            switch outcome {
            case .timedOut(.upstreamConnect), .timedOut(.upstreamResponse), .timedOut(.upstreamIdle): self = .timeout
            case .upstreamFailed: self = .broken
            default: return nil
            }
        }
    }
}
