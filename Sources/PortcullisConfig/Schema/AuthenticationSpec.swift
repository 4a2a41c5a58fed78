import PortcullisCore

/// TLS for a listener.
public struct TLSSpec: Sendable {
    public enum ClientAuth: String, Sendable { case none, optional, required }

    public var certificate: String
    public var key: String
    public var clientCA: String?
    public var clientAuth: ClientAuth = .none
    /// `1.2` or `1.3`.
    public var minimumVersion = "1.2"
    /// How often the certificate, key and CA files are checked for changes (0 = only on reload).
    public var reloadIntervalNanos: Int64 = 5_000_000_000
    public var location: SourceLocation
}

public struct HTTP2Spec: Sendable {
    public var enabled = true
    public var maxConcurrentStreams = 100
    /// Stream resets tolerated per window before the connection is closed (rapid reset).
    public var maxResetsPerWindow = 200
    public var resetWindowNanos: Int64 = 30_000_000_000

    public init() {}
}

/// Which authentication methods a listener or route accepts.
public struct AuthenticationPolicySpec: Sendable {
    public var methods: [AuthMethod]?
    public var required: Bool?

    public init() {}
}

/// The `authentication:` section.
public struct AuthenticationSpec: Sendable {
    /// The order in which presented credentials are reported; every presented credential is
    /// verified and all must name the same tenant.
    public var order: [AuthMethod] = [.mtls, .jwt, .apiKey]
    /// Refuse requests without a credential (default: true when any method is configured).
    public var required: Bool?
    public var jwt: [JWTProviderSpec] = []
    public var apiKeys: [APIKeySpec] = []
    public var clientCertificates: [ClientCertificateSpec] = []
    /// Extra request headers clients may not send (exact names, or prefixes ending in `*`),
    /// on top of `x-tenant-*` which is always reserved.
    public var reservedHeaders: [String] = []
    /// Refuse tenants that are not listed under `tenants:`.
    /// Refuse a verified caller whose tenant the `tenants:` table does not list (nil: on when
    /// there is a table, which is then the list of who may call; off without one).
    public var requireKnownTenant: Bool?
    /// The plan a tenant the table does not list gets instead of being refused.
    public var unknownTenantPlan: String?
    /// Verified tokens remembered per event loop.
    public var tokenCacheSize = 10_000

    public init() {}
}

public struct JWTProviderSpec: Sendable {
    public var name: String
    public var issuer: String
    public var audiences: [String]
    public var algorithms: [String]
    public var jwksURI: String?
    public var jwksFile: String?
    /// HMAC shared secret (only then are HS256/384/512 allowed, and never with a JWKS).
    public var secret: String?
    /// PEM CA bundle trusted for an https JWKS URI (default: system roots).
    public var jwksCA: String?
    public var refreshIntervalNanos: Int64 = 300_000_000_000
    /// At most one refetch for an unknown `kid` per this period.
    public var minRefetchIntervalNanos: Int64 = 30_000_000_000
    public var fetchTimeoutNanos: Int64 = 5_000_000_000
    /// The longest a request waits for the refetch an unknown `kid` triggered.
    public var refetchWaitNanos: Int64 = 2_000_000_000
    public var maxJWKSBytes = 256 * 1024
    public var clockSkewNanos: Int64 = 60_000_000_000
    public var requireExpiry = true
    public var maxTokenBytes = 16 * 1024
    public var claims = ClaimNames()
    public var location: SourceLocation

    /// Claim names (dotted for nested claims: `org.tenant_id`).
    public struct ClaimNames: Sendable, Equatable {
        public var tenant = "tenant"
        public var org = "org"
        public var plan = "plan"
        public var subject = "sub"
        public init() {}
    }
}

public struct APIKeySpec: Sendable {
    public var name: String
    public var tenant: String
    /// Hex SHA-256 of the key (`portcullis hash-key` prints it).
    public var sha256: String
    public var disabled = false
    public var location: SourceLocation
}

/// Maps a verified client certificate to a tenant. Patterns may use `*` globs.
public struct ClientCertificateSpec: Sendable {
    public var name: String
    public var spiffe: String?
    public var dns: String?
    public var commonName: String?
    public var tenant: String
    public var location: SourceLocation
}

public struct TenantSpec: Sendable {
    public var name: String
    public var plan: String?
    public var org: String?
    public var disabled = false
    /// `status: suspended`: refused with 403 `tenant_suspended` and this reason (the operator's).
    public var suspendedReason: String?
    /// What the tenant overrides of its plan (`models`, `routes`, `features`,
    /// `forbiddenFields`, `regions`, each `limits` key), written under the tenant with the
    /// plan's own keys; nil when it overrides nothing. A key set here replaces the plan's.
    public var overrides: PlanSpec?
    public var location: SourceLocation
}

public struct PlanSpec: Sendable {
    public var name: String
    /// Models the plan's tenants may use (exact names and `*` globs; nil: every routed model).
    public var models: [String]?
    /// Routes the plan's tenants may use, by name (nil: every route).
    public var routes: [String]?
    /// Features the plan's tenants may use (nil: all of them).
    public var features: [RequestFeature]?
    /// Top-level request fields the plan's tenants may not send (for example `logit_bias`).
    public var forbiddenFields: [String]?
    /// Regions whose backends the plan's tenants may be routed to (nil: any).
    public var regions: [String]?
    public var limits = LimitsSpec()
    public var location: SourceLocation

    /// This plan with every key `overrides` sets replaced by the override's (limits key by key).
    public func overridden(by overrides: PlanSpec) -> PlanSpec {
        var merged = self
        if let v = overrides.models { merged.models = v }
        if let v = overrides.routes { merged.routes = v }
        if let v = overrides.features { merged.features = v }
        if let v = overrides.forbiddenFields { merged.forbiddenFields = v }
        if let v = overrides.regions { merged.regions = v }
        merged.limits = self.limits.overridden(by: overrides.limits)
        return merged
    }
}

public struct BackendTLSSpec: Sendable {
    /// PEM CA bundle trusted for this backend (default: system roots).
    public var ca: String?
    /// The gateway's own client certificate chain and key (PEM), presented to a backend that
    /// asks for one (mTLS toward the router behind the gateway). Both or neither.
    public var certificate: String?
    public var key: String?
    /// The name sent in SNI and checked against the backend's certificate (default: the
    /// endpoint's host, unless it is an IP address).
    public var serverName: String?
}

/// Signing of the trusted tenant context toward a backend (`x-tenant-signature`).
public struct SignContextSpec: Sendable {
    public var secret: String
    public var keyID: String = "default"
}
