import PortcullisCore

/// JWS algorithms the gateway can verify. `none` is not among them and cannot be configured.
public enum JWSAlgorithm: String, Sendable, Hashable, CaseIterable {
    case RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512

    public var isHMAC: Bool { self == .HS256 || self == .HS384 || self == .HS512 }
}

/// A compiled API key entry (the key itself is never in the config, only its SHA-256).
public struct APIKeyEntry: Sendable {
    public let name: String
    public let tenant: String
    public let disabled: Bool
}

/// A compiled client-certificate mapping.
public struct CertificateMapping: Sendable {
    public enum Field: Sendable { case spiffe, dns, commonName }
    public let name: String
    public let field: Field
    public let pattern: Glob
    public let tenant: String
}

/// A validated JWT provider: exactly one key source, algorithms consistent with it.
public struct JWTProviderConfig: Sendable {
    public let spec: JWTProviderSpec
    public let algorithms: Set<JWSAlgorithm>

    public var name: String { self.spec.name }
}

/// Everything the authentication stage needs, compiled.
public struct AuthenticationSettings: Sendable {
    public let order: [AuthMethod]
    /// Methods with at least one credential configured.
    public let configured: Set<AuthMethod>
    public let required: Bool
    public let apiKeys: [KeyDigest: APIKeyEntry]
    public let jwtProviders: [JWTProviderConfig]
    public let certificateMappings: [CertificateMapping]
    public let reservedExact: Set<String>
    public let reservedPrefixes: [String]
    public let requireKnownTenant: Bool
    /// The plan given to a verified tenant the table does not list (instead of 403).
    public let unknownTenantPlan: String?
    public let tokenCacheSize: Int

    /// Whether a client request header must be dropped because only the gateway may set it.
    public func isReserved(_ lowercasedName: String) -> Bool {
        if lowercasedName.hasPrefix("x-tenant-") { return true }
        if self.reservedExact.contains(lowercasedName) { return true }
        return self.reservedPrefixes.contains { lowercasedName.hasPrefix($0) }
    }
}

/// A listener's or route's authentication policy, compiled.
public struct AuthenticationPolicy: Sendable {
    /// Methods accepted (nil: every configured method).
    public let methods: Set<AuthMethod>?
    public let required: Bool

    public init(methods: Set<AuthMethod>?, required: Bool) {
        self.methods = methods
        self.required = required
    }
}

public struct TenantInfo: Sendable {
    public let name: String
    /// Position in the config's tenant table (metrics series are found by it, not by name).
    public let index: Int
    public let plan: String?
    public let org: String?
    public let disabled: Bool
    /// Set when the tenant is suspended: the reason its requests are refused with.
    public let suspendedReason: String?
    /// What the tenant may do: its plan, with the tenant's own overrides applied (nil: no plan
    /// and no overrides, so nothing limits it).
    public let policy: PlanInfo?
}

/// A compiled plan. A class: an exchange holds its caller's plan by reference.
public final class PlanInfo: Sendable {
    public let name: String
    /// Models the plan allows (nil: every routed model).
    public let models: [Glob]?
    /// Route names the plan allows (nil: all).
    public let routes: Set<String>?
    /// Features allowed (nil: all).
    public let features: RequestFeature.Set?
    /// Top-level fields refused (empty: none).
    public let forbiddenFields: [String]
    /// ``forbiddenFields`` looked up by a key's bytes (the field stage's one lookup per member).
    public let forbiddenTable: ByteNameTable
    /// Regions whose backends may serve the plan's tenants (nil: any).
    public let regions: Set<String>?
    public let limits: LimitsSpec
    /// The counted limits (rates, token quotas, concurrency), each counted per tenant.
    public let limitRules: [LimitRule]
    /// `x-tenant-limits` value: an RFC 8941 dictionary of the plan's limits.
    public let limitsHeader: String
    /// The spec this was compiled from (a tenant's: its plan's with its overrides applied).
    public let spec: PlanSpec
    /// The tenant whose overrides this carries (nil: the plan itself).
    public let tenant: String?
    /// With ``regions``: per route of the snapshot (by ``Route/index``), the route and its
    /// backend for this plan's tenants (``Route/backend(in:)``), decided once at compile time
    /// instead of by set lookups per request. Empty without regions.
    private let regionBackends: [(route: Route, backend: Backend?)]

    init(spec: PlanSpec, tenant: String? = nil, routes: [Route] = []) {
        self.name = spec.name
        self.spec = spec
        self.tenant = tenant
        self.models = spec.models?.map(Glob.init)
        self.routes = spec.routes.map(Set.init)
        self.features = spec.features.map { RequestFeature.Set($0) }
        self.forbiddenFields = spec.forbiddenFields ?? []
        self.forbiddenTable = ByteNameTable(self.forbiddenFields)
        self.regions = spec.regions.map(Set.init)
        self.limits = spec.limits
        self.limitRules = LimitRule.rules(of: spec.limits)
        self.limitsHeader = Self.encode(spec.limits)
        let regions = self.regions
        self.regionBackends = regions.map { regions in routes.map { ($0, $0.backend(in: regions)) } } ?? []
    }

    /// The backend `route` sends this plan's tenants to when the plan names regions (the first
    /// of its backends in one of them; nil: none is). Read from the table built with the
    /// snapshot; a route from elsewhere is decided on the spot.
    @inline(__always)
    public func regionBackend(for route: Route) -> Backend? {
        if route.index < self.regionBackends.count, self.regionBackends[route.index].route === route {
            return self.regionBackends[route.index].backend
        }
        return route.backend(in: self.regions)
    }

    /// The plan bounds the tokens a request may ask for.
    public var hasTokenCaps: Bool { self.limits.maxTokens != nil || self.limits.defaultMaxTokens != nil }

    /// The plan sets a limit the limit stage holds (counted limits and the size caps).
    public var hasLimits: Bool {
        !self.limitRules.isEmpty || self.limits.maxRequestBytes != nil || self.limits.maxPromptTokens != nil
    }

    /// The plan limits features or fields (read from the body by the field-policy stage).
    public var checksFields: Bool { self.features != nil || !self.forbiddenFields.isEmpty }

    /// The plan limits anything read from an OpenAI body (models, routes, tokens, features,
    /// fields), so a path route, whose body is not read, must be listed in its routes.
    public var restricts: Bool { self.models != nil || self.routes != nil || self.hasTokenCaps || self.checksFields }

    /// Whether the plan offers `model`: the name is in its models, and the route `router`
    /// sends it to is in its routes.
    public func offers(model: String, router: Router) -> Bool {
        guard self.allows(model: model) else { return false }
        guard let routes = self.routes else { return true }
        return router.serving(model: model).map { routes.contains($0.name) } ?? false
    }

    /// Whether `GET /v1/models` shows `model` to the plan's tenants: offered, and its route has
    /// a backend in one of the plan's regions (a model they could only be refused is not listed).
    public func lists(model: String, router: Router) -> Bool {
        guard self.offers(model: model, router: router) else { return false }
        guard let regions = self.regions else { return true }
        return router.serving(model: model).map { $0.backend(in: regions) != nil } ?? false
    }

    /// The model list differs from the whole one (models, routes or regions limit it).
    public var filtersModels: Bool { self.models != nil || self.routes != nil || self.regions != nil }

    /// Whether the plan lets its tenants use `model` (byte-exact names and globs).
    public func allows(model: String) -> Bool {
        guard let models = self.models else { return true }
        return models.contains { $0.matches(model) }
    }

    /// `rps=…, rpm=100, rph=…, burst=20, concurrency=4, tpm=…, tph=…, tpd=…, max-request-bytes=…,
    /// max-prompt-tokens=…, max-tokens=…`;
    /// only the limits that are set appear.
    public static func encode(_ limits: LimitsSpec) -> String {
        var parts: [String] = []
        func add(_ key: String, _ value: Int?) {
            if let value { parts.append("\(key)=\(value)") }
        }
        add("rps", limits.requestsPerSecond)
        add("rpm", limits.requestsPerMinute)
        add("rph", limits.requestsPerHour)
        add("burst", limits.burst)
        add("concurrency", limits.concurrency)
        add("tpm", limits.tokensPerMinute)
        add("tph", limits.tokensPerHour)
        add("tpd", limits.tokensPerDay)
        add("max-request-bytes", limits.maxRequestBytes)
        add("max-prompt-tokens", limits.maxPromptTokens)
        add("max-tokens", limits.maxTokens)
        return parts.joined(separator: ", ")
    }
}

/// Tenants and plans by name.
public struct TenantDirectory: Sendable {
    public let tenants: [String: TenantInfo]
    public let plans: [String: PlanInfo]

    /// Every compiled policy: the plans, then each tenant's own (its plan with its overrides).
    public var policies: [PlanInfo] {
        Array(self.plans.values) + self.tenants.values.compactMap { $0.policy?.tenant != nil ? $0.policy : nil }
    }
}
