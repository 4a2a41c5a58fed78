import PortcullisCore

/// One counted limit, compiled: a rate, a token quota or a concurrency cap, the requests it
/// applies to, and what its counters are keyed by. A plan's (and a tenant's) counted limits
/// become rules counted per tenant; each top-level `limits:` entry becomes one rule per limit
/// it sets.
public final class LimitRule: Sendable {
    public enum Kind: Sendable, Equatable {
        /// Requests over a window (GCRA, cost 1).
        case rate(GCRA)
        /// Tokens over a window: the request's estimate is reserved, then settled to its usage.
        case quota(GCRA)
        /// Requests in flight at once.
        case concurrency(Int)
    }

    public let name: LimitName
    /// The top-level rule's name (nil: the caller's plan or tenant).
    public let rule: String?
    public let scope: LimitRuleSpec.Scope
    public let kind: Kind
    /// Evaluated and counted, never enforced.
    public let shadow: Bool
    /// A token quota or budget held as a hard ceiling: a stream is cut off rather than pass it.
    public let ceiling: Bool
    /// The tokens a quota counts (`total` for the other kinds).
    public let tokens: TokenKind
    /// What the rule does while a shared store cannot answer (nil: the store's `onFailure`).
    public let onStoreFailure: StoreFailureMode?
    /// What names this counter across reloads and replicas: `plan.requestsPerMinute`,
    /// `rule.NAME.requestsPerMinute`. Two plans share a key: the counter is the tenant's.
    public let key: String
    /// The metric's `limit` label: the limit's label, after the rule's name for a top-level one.
    public let label: String
    public let methods: Set<AuthMethod>?
    public let credentials: Set<String>?
    public let routes: Set<String>?
    public let models: [Glob]?
    /// Position among the config's top-level rules (``ConfigSnapshot/limitRules``); -1 for a plan's.
    public let index: Int

    init(
        name: LimitName, value: Int, burst: Int?, rule: String?, scope: LimitRuleSpec.Scope, shadow: Bool, ceiling: Bool = false,
        index: Int = -1,
        tokens: TokenKind? = nil, onStoreFailure: StoreFailureMode? = nil,
        methods: Set<AuthMethod>? = nil, credentials: Set<String>? = nil, routes: Set<String>? = nil, models: [Glob]? = nil
    ) {
        self.name = name
        self.rule = rule
        self.scope = scope
        self.shadow = shadow
        self.ceiling = ceiling && name.isReserved && !shadow
        self.tokens = tokens ?? .total
        self.onStoreFailure = onStoreFailure
        if let period = name.periodNanos {
            let gcra = GCRA(limit: value, periodNanos: period, burst: name.isRequestRate ? burst : nil)
            self.kind = name.isReserved ? .quota(gcra) : .rate(gcra)
        } else {
            self.kind = .concurrency(value)
        }
        self.key = rule.map { "rule.\($0).\(name.rawValue)" } ?? Self.planKey(name)
        self.label = rule.map { "\($0).\(name.label)" } ?? name.label
        self.methods = methods
        self.credentials = credentials
        self.routes = routes
        self.models = models
        self.index = index
    }

    /// The key of a plan's (or tenant's) limit `name`.
    public static func planKey(_ name: LimitName) -> String { "plan.\(name.rawValue)" }

    /// The configured amount: requests or tokens per window, or slots.
    public var limit: Int {
        switch self.kind {
        case .rate(let gcra), .quota(let gcra): gcra.limit
        case .concurrency(let max): max
        }
    }

    /// Whether the rule applies to a request (a plan's rules apply to all of its tenant's).
    public func matches(method: AuthMethod?, credential: String?, route: String?, model: String?) -> Bool {
        if let methods = self.methods, !(method.map(methods.contains) ?? false) { return false }
        if let credentials = self.credentials, !(credential.map(credentials.contains) ?? false) { return false }
        if let routes = self.routes, !(route.map(routes.contains) ?? false) { return false }
        if let models = self.models, !(model.map { name in models.contains { $0.matches(name) } } ?? false) { return false }
        return true
    }

    /// The counted limits of a plan's (or tenant's) `limits`, per tenant.
    static func rules(of limits: LimitsSpec) -> [LimitRule] {
        LimitName.allCases.compactMap { name in
            guard name.isCounted, let value = limits[name] else { return nil }
            return LimitRule(
                name: name, value: value, burst: limits.burst, rule: nil, scope: .tenant, shadow: limits.isShadow(name),
                ceiling: limits.isCeiling(name),
                tokens: limits.tokenType, onStoreFailure: limits.onStoreFailure)
        }
    }

    /// The rules of one top-level `limits:` entry.
    static func rules(of spec: LimitRuleSpec, from index: Int) -> [LimitRule] {
        var next = index
        return LimitName.allCases.compactMap { name in
            guard name.isCounted, let value = spec.limits[name] else { return nil }
            defer { next += 1 }
            return LimitRule(
                name: name, value: value, burst: spec.limits.burst, rule: spec.name, scope: spec.per, shadow: spec.shadow,
                ceiling: spec.ceiling, index: next,
                tokens: spec.limits.tokenType, onStoreFailure: spec.limits.onStoreFailure,
                methods: spec.methods.map(Set.init), credentials: spec.credentials.map(Set.init), routes: spec.routes.map(Set.init),
                models: spec.models?.map(Glob.init))
        }
    }
}
