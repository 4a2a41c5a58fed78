/// The generic cell rate algorithm: a rate limit (and a token quota) kept as one number per
/// key, the theoretical arrival time (TAT), in nanoseconds of a monotonic clock.
///
/// `limit` units per `period` refill continuously (one every `interval`); up to `burst` units
/// may be spent at once. A request of `cost` units fits when, after adding it, the TAT is at
/// most `burst × interval` ahead of now. Pure arithmetic, so the in-memory store and the
/// Redis script compute the same thing, and it is tested without a clock. All arithmetic
/// saturates: a huge cost or a long period can never trap.
public struct GCRA: Sendable, Equatable {
    /// Nanoseconds one unit takes to refill (`period / limit`, at least 1).
    public let interval: Int64
    /// How far the TAT may run ahead of now: `burst × interval`.
    public let tolerance: Int64
    public let limit: Int
    public let burst: Int

    /// `limit` units per `periodNanos`, at most `burst` at once (nil: the whole limit; a burst
    /// may exceed the limit: 10 a second with bursts of 20).
    public init(limit: Int, periodNanos: Int64, burst: Int? = nil) {
        let limit = max(limit, 0)
        self.limit = limit
        self.burst = limit == 0 ? 0 : max(burst ?? limit, 1)
        self.interval = limit == 0 ? periodNanos : max(periodNanos / Int64(limit), 1)
        self.tolerance = Self.times(Int64(self.burst), self.interval)
    }

    /// What one request of `cost` units comes to against a key whose TAT is `tat`.
    public struct Decision: Sendable, Equatable {
        public let allowed: Bool
        /// The key's TAT afterwards (unchanged when refused).
        public let tat: Int64
        /// Units still available right after this decision.
        public let remaining: Int
        /// Nanoseconds until the key is fully refilled.
        public let resetNanos: Int64
        /// Nanoseconds until this request would fit (0 when allowed; `Int64.max` when it never can).
        public let retryAfterNanos: Int64
    }

    public func decide(tat: Int64, now: Int64, cost: Int) -> Decision {
        let base = max(tat, now)
        let proposed = Self.plus(base, Self.times(Int64(max(cost, 0)), self.interval))
        let ahead = proposed &- now
        if ahead <= self.tolerance && self.limit > 0 {
            return Decision(
                allowed: true, tat: proposed, remaining: self.remaining(ahead: ahead), resetNanos: ahead, retryAfterNanos: 0)
        }
        let current = base &- now
        let retry: Int64 = cost > self.burst || self.limit == 0 ? .max : ahead - self.tolerance
        return Decision(allowed: false, tat: tat, remaining: self.remaining(ahead: current), resetNanos: current, retryAfterNanos: retry)
    }

    /// The key's state as a read (`explain`, response headers) without spending anything.
    public func peek(tat: Int64, now: Int64) -> (remaining: Int, resetNanos: Int64) {
        let ahead = max(tat, now) &- now
        return (self.remaining(ahead: ahead), ahead)
    }

    /// The TAT after `units` are handed back (a negative count charges more): settling a
    /// reservation to what was really used. A credit never moves the TAT before now, so a key
    /// is never credited past full.
    public func adjust(tat: Int64, now: Int64, units: Int) -> Int64 {
        let clamped = Int64(min(max(units, -Usage.maxCount), Usage.maxCount))
        let delta = Self.times(clamped, self.interval)
        let moved = Self.plus(tat, delta == .min ? .max : -delta)
        if delta >= 0 { return max(moved, min(tat, now)) }
        // A charge past what was reserved empties the key, but never sets it further back than
        // one whole bucket: an absurd count reported by a backend cannot block a key for longer
        // than the window takes to refill.
        return min(moved, Self.plus(max(tat, now), self.tolerance))
    }

    private func remaining(ahead: Int64) -> Int {
        guard self.interval > 0 else { return 0 }
        let free = self.tolerance - ahead
        return free <= 0 ? 0 : Int(min(free / self.interval, Int64(self.burst)))
    }

    static func times(_ a: Int64, _ b: Int64) -> Int64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? (a < 0) != (b < 0) ? .min : .max : product
    }

    static func plus(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b < 0 ? .min : .max) : sum
    }
}
