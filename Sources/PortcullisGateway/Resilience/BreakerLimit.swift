/// Which of a backend's circuit-breaker bounds refused a request: the `limit` label of
/// `portcullis_upstream_overloaded_total`, and the raw value is its counter's position.
enum BreakerLimit: Int, CaseIterable, Sendable {
    case requests
    case pendingRequests
    case connections

    var label: String {
        switch self {
        case .requests: "requests"
        case .pendingRequests: "pending_requests"
        case .connections: "connections"
        }
    }
}
