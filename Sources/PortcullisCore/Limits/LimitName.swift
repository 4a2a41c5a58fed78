/// One kind of limit a plan, a tenant or a top-level rule sets. A closed set: the config names
/// them by `rawValue` (the YAML key), metrics and the access log by ``label``, and the 429's
/// message by ``phrase``.
public enum LimitName: String, Sendable, CaseIterable {
    case requestsPerSecond
    case requestsPerMinute
    case requestsPerHour
    case concurrency
    case tokensPerMinute
    case tokensPerHour
    case tokensPerDay
    /// A cost budget, in µUSD (the config says dollars), from the model's `prices:`.
    case budgetPerDay
    case budgetPerMonth
    case maxRequestBytes
    case maxPromptTokens

    /// The case's position in `allCases` (a payload-free enum is stored as it; `LimitTests`
    /// checks it), for tables indexed without hashing.
    @inline(__always)
    public var ordinal: Int { withUnsafeBytes(of: self) { Int($0[0]) } }

    /// The snake-case label (`requests_per_minute`), used in metrics and the access log.
    public var label: String {
        switch self {
        case .requestsPerSecond: "requests_per_second"
        case .requestsPerMinute: "requests_per_minute"
        case .requestsPerHour: "requests_per_hour"
        case .concurrency: "concurrency"
        case .tokensPerMinute: "tokens_per_minute"
        case .tokensPerHour: "tokens_per_hour"
        case .tokensPerDay: "tokens_per_day"
        case .budgetPerDay: "budget_per_day"
        case .budgetPerMonth: "budget_per_month"
        case .maxRequestBytes: "max_request_bytes"
        case .maxPromptTokens: "max_prompt_tokens"
        }
    }

    /// How a refusal's message names it ("requests per minute").
    public var phrase: String {
        switch self {
        case .requestsPerSecond: "requests per second"
        case .requestsPerMinute: "requests per minute"
        case .requestsPerHour: "requests per hour"
        case .concurrency: "concurrent requests"
        case .tokensPerMinute: "tokens per minute"
        case .tokensPerHour: "tokens per hour"
        case .tokensPerDay: "tokens per day"
        case .budgetPerDay: "budget per day"
        case .budgetPerMonth: "budget per month"
        case .maxRequestBytes: "request bytes"
        case .maxPromptTokens: "prompt tokens"
        }
    }

    /// The window a rate or quota refills over, in nanoseconds (nil: a cap or a concurrency limit).
    public var periodNanos: Int64? {
        switch self {
        case .requestsPerSecond: 1_000_000_000
        case .requestsPerMinute, .tokensPerMinute: 60_000_000_000
        case .requestsPerHour, .tokensPerHour: 3_600_000_000_000
        case .tokensPerDay, .budgetPerDay: 86_400_000_000_000
        // A month is 30 days: budgets refill continuously (rolling), not on the calendar.
        case .budgetPerMonth: 2_592_000_000_000_000
        case .concurrency, .maxRequestBytes, .maxPromptTokens: nil
        }
    }

    /// Counts requests (a rate); the others count tokens, slots or sizes.
    public var isRequestRate: Bool {
        self == .requestsPerSecond || self == .requestsPerMinute || self == .requestsPerHour
    }

    /// Counts LLM tokens over a window (a quota: reserved before forwarding, settled after).
    public var isTokenQuota: Bool {
        self == .tokensPerMinute || self == .tokensPerHour || self == .tokensPerDay
    }

    /// Counts money: a budget, reserved and settled like a token quota, in µUSD.
    public var isBudget: Bool { self == .budgetPerDay || self == .budgetPerMonth }

    /// Reserved before forwarding and settled to the usage after: token quotas and budgets.
    public var isReserved: Bool { self.isTokenQuota || self.isBudget }

    /// The limits held in a store (rates, quotas, concurrency), as opposed to per-request caps.
    public var isCounted: Bool { self.periodNanos != nil || self == .concurrency }
}
