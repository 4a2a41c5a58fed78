/// Why an attempt was retried: the `reason` label of `portcullis_upstream_retries_total`
/// (the raw value is its counter's position).
enum RetryReason: Int, CaseIterable, Sendable, Equatable {
    /// The connect failed or timed out (nothing was sent).
    case connectFailure
    /// The backend answered with a status listed under `retries.statuses`.
    case status

    var label: String {
        switch self {
        case .connectFailure: "connect_failure"
        case .status: "status"
        }
    }
}
