import PortcullisConfig
import PortcullisCore

/// What one request's limit checks add up to, as they come in (from the in-memory store, the
/// shared one, or a fallback): the rate-limit headers, the refusal if an enforced limit did not
/// fit, and what was taken (to settle at the end, or hand back when a later limit refuses).
/// Each check is counted in `portcullis_limit_decisions_total`.
struct LimitTally {
    var headers = RateLimitHeaders()
    var refusal: LimitRefusal?
    var held: [LimitCharge] = []
    /// The exchange's tenant series for the decisions metric, found at the first check.
    private var tenantSeries: Int?

    /// Records one limit's answer. `remaining` and `resetNanos` matter for rates and quotas.
    mutating func record(
        _ planned: PlannedLimit, allowed: Bool, remaining: Int, resetNanos: Int64, retryAfterNanos: Int64, place: LimitCharge.Place,
        exchange: Exchange
    ) {
        let rule = planned.rule
        let enforced = !rule.shadow
        let decision: LimitDecision = allowed ? .admitted : enforced ? .refused : .shadowRefused
        let layout = exchange.snapshot.metrics
        if self.tenantSeries == nil { self.tenantSeries = layout.tenant(of: exchange) }
        exchange.loop.metrics.countLimit(tenant: self.tenantSeries!, series: layout.limit(rule), decision)
        switch rule.kind {
        case .rate(let gcra), .quota(let gcra):
            // The header's limit is the larger of the rate and its burst, so `remaining` (at
            // most the burst) never exceeds it.
            let window = RateLimitHeaders.Window(limit: Swift.max(gcra.limit, gcra.burst), remaining: remaining, resetNanos: resetNanos)
            // Budgets have no OpenAI header.
            if enforced && rule.name.isTokenQuota {
                self.headers.tokens = RateLimitHeaders.tighter(self.headers.tokens, window)
            } else if enforced && rule.name.isRequestRate {
                self.headers.requests = RateLimitHeaders.tighter(self.headers.requests, window)
            }
        case .concurrency:
            break
        }
        guard allowed else {
            if enforced {
                self.refusal = LimitRefusal(
                    name: rule.name, rule: rule.rule, limit: rule.limit, cost: planned.cost,
                    retryAfterNanos: rule.kind.isSlot ? 1_000_000_000 : retryAfterNanos)
                exchange.limitRefused = rule
            } else if exchange.shadowLimitRefused == nil {
                exchange.shadowLimitRefused = rule
            }
            return
        }
        // A planned limit has a cell only in memory (a shared store's stage resolves none).
        self.held.append(
            LimitCharge(rule: rule, key: planned.key, cost: planned.cost, place: place, price: planned.price, cell: planned.cell))
    }

    /// Whether anything taken needs settling at the end (rates need nothing).
    var needsTicket: Bool { self.held.contains { !$0.rule.name.isRequestRate } }

    /// Whether a token quota or a budget holds the request (its usage must be reported).
    var holdsQuota: Bool { self.held.contains { $0.rule.name.isReserved } }
}
