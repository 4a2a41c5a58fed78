import NIOCore
import PortcullisCore

/// One event loop's request metrics: plain `Int` arrays indexed by the series ids of
/// ``MetricSeries``, written only on the loop (no lock, no atomic, no hashing), read by a
/// scrape that hops onto the loop and copies them (``Counts``), summed over loops at scrape.
///
/// Registered with every exchange's ledger: it counts the exchange in flight when it starts
/// and, when it settles (exactly once, whatever way it ended), counts the request by tenant,
/// route, model and status class, its tokens, duration and time to first token, its refusal
/// reason, and its upstream call.
final class LoopMetrics: LedgerObligation {
    /// Per tenant and request slot: the status classes 1xx–5xx, then input and output tokens.
    static let slotFields = 7
    static let inputTokensField = 5
    static let outputTokensField = 6
    /// Per request slot: the request-duration histogram, then time to first token.
    static let timingStride = HistogramBuckets.requestDuration.stride + HistogramBuckets.timeToFirstToken.stride
    /// Per endpoint: the upstream-duration histogram, then one count per error kind.
    static let endpointStride = HistogramBuckets.requestDuration.stride + UpstreamErrorKind.allCases.count

    private(set) var inFlight = 0
    /// Token and budget reservations taken on this loop and not yet settled.
    private var openReservations = 0

    /// What a scrape copies off the loop.
    struct Counts: Sendable {
        /// By tenant series, then `slot * slotFields + field`.
        var tenants: [[Int]] = []
        /// `slot * timingStride + ...`.
        var timings: [Int] = []
        /// By ``RefusalReason/ordinal``.
        var refusals = [Int](repeating: 0, count: RefusalReason.allCases.count)
        /// `endpoint * endpointStride + ...`.
        var endpoints: [Int] = []
        /// By tenant series, then `limit * LimitDecision.allCases.count + decision`.
        var limits: [[Int]] = []
        var inFlight = 0
        var openReservations = 0

        /// Adds `other` in (arrays of different lengths: the longer wins).
        mutating func add(_ other: Counts) {
            Self.add(other.timings, to: &self.timings)
            Self.add(other.refusals, to: &self.refusals)
            Self.add(other.endpoints, to: &self.endpoints)
            if other.tenants.count > self.tenants.count {
                self.tenants.append(contentsOf: repeatElement([], count: other.tenants.count - self.tenants.count))
            }
            for (i, counts) in other.tenants.enumerated() { Self.add(counts, to: &self.tenants[i]) }
            if other.limits.count > self.limits.count {
                self.limits.append(contentsOf: repeatElement([], count: other.limits.count - self.limits.count))
            }
            for (i, counts) in other.limits.enumerated() { Self.add(counts, to: &self.limits[i]) }
            self.inFlight += other.inFlight
            self.openReservations += other.openReservations
        }

        private static func add(_ values: [Int], to sum: inout [Int]) {
            if values.count > sum.count { sum.append(contentsOf: repeatElement(0, count: values.count - sum.count)) }
            for (i, value) in values.enumerated() { sum[i] &+= value }
        }
    }

    private var counts = Counts()

    /// A copy for a scrape (taken on the loop).
    func snapshot() -> Counts {
        var counts = self.counts
        counts.inFlight = self.inFlight
        counts.openReservations = self.openReservations
        return counts
    }

    /// A limit ticket took `count` reservations (token quotas, budgets), or settled them.
    func reservationsOpened(_ count: Int) { self.openReservations += count }
    func reservationsSettled(_ count: Int) { self.openReservations -= count }

    func started() {
        self.inFlight += 1
    }

    func settle(_ exchange: Exchange, outcome: Outcome) {
        self.inFlight -= 1
        let layout = exchange.snapshot.metrics
        let now = exchange.loop.now()
        let tenant = layout.tenant(of: exchange)
        let slot = layout.slot(of: exchange)

        // Requests and tokens, by tenant and slot.
        if tenant >= self.counts.tenants.count {
            self.counts.tenants.append(contentsOf: repeatElement([], count: tenant + 1 - self.counts.tenants.count))
        }
        let base = slot * Self.slotFields
        Self.ensure(&self.counts.tenants[tenant], count: base + Self.slotFields)
        let statusClass = min(max(exchange.status / 100, 1), 5) - 1
        self.counts.tenants[tenant][base + statusClass] += 1
        if let usage = exchange.usage {
            self.addTokens(usage, tenant: tenant, base: base)
        }

        // Duration and time to first token, by slot.
        let timing = slot * Self.timingStride
        Self.ensure(&self.counts.timings, count: timing + Self.timingStride)
        HistogramBuckets.requestDuration.observe(
            Int((now - exchange.receivedAt).nanoseconds), into: &self.counts.timings, at: timing)
        if let firstEventAt = exchange.firstEventAt {
            HistogramBuckets.timeToFirstToken.observe(
                Int((firstEventAt - exchange.receivedAt).nanoseconds), into: &self.counts.timings,
                at: timing + HistogramBuckets.requestDuration.stride)
        }

        if let refusal = exchange.refusal {
            self.counts.refusals[refusal.ordinal] += 1
        }

        // The upstream call, by endpoint (the last one tried).
        if exchange.upstreamAttempts > 0, let backend = exchange.backend {
            let endpoint = layout.endpoints[backend.index][exchange.upstreamEndpointIndex] * Self.endpointStride
            Self.ensure(&self.counts.endpoints, count: endpoint + Self.endpointStride)
            if let forwardedAt = exchange.forwardedAt {
                HistogramBuckets.requestDuration.observe(
                    Int((now - forwardedAt).nanoseconds), into: &self.counts.endpoints, at: endpoint)
            }
            if let error = UpstreamErrorKind(outcome, refusal: exchange.refusal) {
                self.counts.endpoints[endpoint + HistogramBuckets.requestDuration.stride + error.rawValue] += 1
            }
        }
    }

    /// Usage that arrives after `exchange` was counted: an ext_authz lease's report (on the
    /// exchange's loop).
    func countReportedUsage(_ exchange: Exchange, _ usage: Usage) {
        let layout = exchange.snapshot.metrics
        let tenant = layout.tenant(of: exchange)
        let base = layout.slot(of: exchange) * Self.slotFields
        if tenant >= self.counts.tenants.count {
            self.counts.tenants.append(contentsOf: repeatElement([], count: tenant + 1 - self.counts.tenants.count))
        }
        Self.ensure(&self.counts.tenants[tenant], count: base + Self.slotFields)
        self.addTokens(usage, tenant: tenant, base: base)
    }

    private func addTokens(_ usage: Usage, tenant: Int, base: Int) {
        // Counts are clamped by `Usage.parse`; a wrapping add still never traps.
        self.counts.tenants[tenant][base + Self.inputTokensField] &+= usage.promptTokens
        self.counts.tenants[tenant][base + Self.outputTokensField] &+= usage.completionTokens
    }

    /// One limit check of `exchange` (counted when it is made: once per limit and request).
    func countLimit(_ exchange: Exchange, series limit: Int, _ decision: LimitDecision) {
        self.countLimit(tenant: exchange.snapshot.metrics.tenant(of: exchange), series: limit, decision)
    }

    /// The same, for a tenant series already found (a request's limits count under one).
    func countLimit(tenant: Int, series limit: Int, _ decision: LimitDecision) {
        if tenant >= self.counts.limits.count {
            self.counts.limits.append(contentsOf: repeatElement([], count: tenant + 1 - self.counts.limits.count))
        }
        let stride = LimitDecision.allCases.count
        Self.ensure(&self.counts.limits[tenant], count: (limit + 1) * stride)
        self.counts.limits[tenant][limit * stride + decision.ordinal] += 1
    }

    /// One connect attempt failed (refused, unreachable, timed out): counted against the
    /// endpoint it tried, whether or not a retry on another endpoint then succeeds.
    func connectFailed(_ exchange: Exchange, endpointIndex: Int, timedOut: Bool) {
        guard let backend = exchange.backend else { return }
        let layout = exchange.snapshot.metrics
        let endpoint = layout.endpoints[backend.index][endpointIndex] * Self.endpointStride
        Self.ensure(&self.counts.endpoints, count: endpoint + Self.endpointStride)
        let kind: UpstreamErrorKind = timedOut ? .timeout : .unreachable
        self.counts.endpoints[endpoint + HistogramBuckets.requestDuration.stride + kind.rawValue] += 1
    }

    @inline(__always)
    private static func ensure(_ array: inout [Int], count: Int) {
        if array.count < count { array.append(contentsOf: repeatElement(0, count: count - array.count)) }
    }
}
