/// A backend's retries (`retries:`). A request is retried only before any byte of a response
/// reached the client: after a failed connect (nothing was sent), or after a response head
/// whose status is listed. A listed status is an answer, but not proof that nothing ran: a
/// 502 or 504 from a proxy in front of the model server may follow a generation that did
/// run, so an operator who must never pay twice lists only 503 (or sets `attempts: 0`). A retry
/// goes to the next endpoint when there is one, at once; to the same one after a jittered,
/// doubling backoff. Retries in flight are held to a share of the requests in flight (the
/// budget), with a floor so a quiet backend can still retry.
public struct RetrySpec: Sendable, Equatable {
    /// Retries after the first attempt (0: none).
    public var attempts = 3
    /// Retry after a failed or timed-out connect.
    public var onConnectFailure = true
    /// Response statuses that are retried (from 500 to 599).
    public var statuses: [Int] = [502, 503, 504]
    /// The first backoff; each later one doubles, up to `maxBackoff`, with full jitter.
    public var backoffNanos: Int64 = 25_000_000
    public var maxBackoffNanos: Int64 = 250_000_000
    /// Retries in flight may be at most this share (percent) of the backend's requests in flight…
    public var budgetPercent = 20
    /// …or this many, whichever is more.
    public var minRetriesInFlight = 3

    public init() {}
}
