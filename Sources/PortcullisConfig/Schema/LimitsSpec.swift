import PortcullisCore

/// The limits a plan grants (a tenant may override each key; a top-level rule sets the counted
/// ones). Rates, quotas and concurrency are held by the limit stage (``LimitName``); the caps
/// `maxRequestBytes` and `maxPromptTokens` are checked per request; `maxTokens` and
/// `defaultMaxTokens` by the token-cap stage.
public struct LimitsSpec: Sendable, Equatable {
    public var requestsPerSecond: Int?
    public var requestsPerMinute: Int?
    public var requestsPerHour: Int?
    /// Requests that may arrive at once, for each request rate (nil: the rate's whole limit).
    public var burst: Int?
    public var concurrency: Int?
    public var tokensPerMinute: Int?
    public var tokensPerHour: Int?
    public var tokensPerDay: Int?
    /// Cost budgets in µUSD (written in dollars), priced by `prices:`.
    public var budgetPerDay: Int?
    public var budgetPerMonth: Int?
    public var maxRequestBytes: Int?
    /// The largest estimated prompt (see ``PromptEstimate``), in tokens.
    public var maxPromptTokens: Int?
    public var maxTokens: Int?
    /// Inserted as `max_tokens` (`max_completion_tokens` for chat) when a request names none;
    /// without it, `maxTokens` is inserted, so every forwarded request has a bounded cost.
    public var defaultMaxTokens: Int?
    /// Which tokens the token quotas count (nil: `total`).
    public var tokenType: TokenKind?
    /// What these limits do while a shared store cannot answer (nil: the store's `onFailure`).
    public var onStoreFailure: StoreFailureMode?
    /// Limits evaluated and counted but not enforced (nil: none; a tenant's list replaces its plan's).
    public var shadow: [LimitName]?
    /// Token quotas and budgets held as a hard ceiling (nil: none; a tenant's list replaces its
    /// plan's): a stream that would pass one is cut off mid-way instead of overshooting.
    public var ceiling: [LimitName]?

    public init() {}

    /// The value set for `name`.
    public subscript(name: LimitName) -> Int? {
        get {
            switch name {
            case .requestsPerSecond: self.requestsPerSecond
            case .requestsPerMinute: self.requestsPerMinute
            case .requestsPerHour: self.requestsPerHour
            case .concurrency: self.concurrency
            case .tokensPerMinute: self.tokensPerMinute
            case .tokensPerHour: self.tokensPerHour
            case .tokensPerDay: self.tokensPerDay
            case .budgetPerDay: self.budgetPerDay
            case .budgetPerMonth: self.budgetPerMonth
            case .maxRequestBytes: self.maxRequestBytes
            case .maxPromptTokens: self.maxPromptTokens
            }
        }
        set {
            switch name {
            case .requestsPerSecond: self.requestsPerSecond = newValue
            case .requestsPerMinute: self.requestsPerMinute = newValue
            case .requestsPerHour: self.requestsPerHour = newValue
            case .concurrency: self.concurrency = newValue
            case .tokensPerMinute: self.tokensPerMinute = newValue
            case .tokensPerHour: self.tokensPerHour = newValue
            case .tokensPerDay: self.tokensPerDay = newValue
            case .budgetPerDay: self.budgetPerDay = newValue
            case .budgetPerMonth: self.budgetPerMonth = newValue
            case .maxRequestBytes: self.maxRequestBytes = newValue
            case .maxPromptTokens: self.maxPromptTokens = newValue
            }
        }
    }

    /// These limits with each one `overrides` sets replaced.
    public func overridden(by overrides: LimitsSpec) -> LimitsSpec {
        var merged = self
        for name in LimitName.allCases {
            if let value = overrides[name] { merged[name] = value }
        }
        merged.burst = overrides.burst ?? self.burst
        merged.maxTokens = overrides.maxTokens ?? self.maxTokens
        merged.defaultMaxTokens = overrides.defaultMaxTokens ?? self.defaultMaxTokens
        merged.shadow = overrides.shadow ?? self.shadow
        merged.ceiling = overrides.ceiling ?? self.ceiling
        merged.tokenType = overrides.tokenType ?? self.tokenType
        merged.onStoreFailure = overrides.onStoreFailure ?? self.onStoreFailure
        return merged
    }

    public func isShadow(_ name: LimitName) -> Bool { self.shadow?.contains(name) ?? false }

    public func isCeiling(_ name: LimitName) -> Bool { self.ceiling?.contains(name) ?? false }

    public var isEmpty: Bool { self == LimitsSpec() }
}
