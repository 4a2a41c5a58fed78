import NIOCore

/// When to fetch a JWKS: a small pure state machine over an injected time, tested without IO.
///
/// - After a good fetch, the next one is one refresh interval later.
/// - After a failed one (unreachable, HTTP error, oversized, unparseable, no usable key), retry
///   with exponential backoff from `initialBackoff`, never waiting longer than the refresh
///   interval; the last good key set keeps serving meanwhile.
/// - A token naming an unknown `kid` may trigger an early fetch at most once per
///   `minRefetchInterval`, so a flood of made-up kids cannot hammer the issuer.
struct JWKSRefreshPolicy: Sendable {
    let refreshInterval: TimeAmount
    let minRefetchInterval: TimeAmount
    let initialBackoff: TimeAmount

    private(set) var consecutiveFailures = 0
    private(set) var lastUnknownKidFetch: NIODeadline?

    init(refreshInterval: TimeAmount, minRefetchInterval: TimeAmount, initialBackoff: TimeAmount = .milliseconds(500)) {
        self.refreshInterval = refreshInterval
        self.minRefetchInterval = minRefetchInterval
        self.initialBackoff = initialBackoff
    }

    /// Records the outcome of a fetch that ended at `now`; returns when to fetch next.
    mutating func fetchEnded(success: Bool, at now: NIODeadline) -> NIODeadline {
        if success {
            self.consecutiveFailures = 0
            return now + self.refreshInterval
        }
        self.consecutiveFailures += 1
        let exponent = min(self.consecutiveFailures - 1, 30)
        let backoff = self.initialBackoff.nanoseconds.multipliedReportingOverflow(by: Int64(1) << exponent)
        let wait = backoff.overflow ? self.refreshInterval.nanoseconds : min(backoff.partialValue, self.refreshInterval.nanoseconds)
        return now + .nanoseconds(wait)
    }

    /// Whether an unknown `kid` may trigger a fetch now; if so the permission is used up.
    mutating func allowUnknownKidFetch(at now: NIODeadline) -> Bool {
        if let last = self.lastUnknownKidFetch, now < last + self.minRefetchInterval {
            return false
        }
        self.lastUnknownKidFetch = now
        return true
    }
}
