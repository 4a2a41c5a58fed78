/// The family a ``RefusalReason`` belongs to: the `category` label of
/// `portcullis_refusals_total`, so a dashboard can show refusals by kind (auth, policy,
/// validation, rate limit, quota, ...) without listing every reason.
public enum RefusalCategory: String, Sendable, CaseIterable {
    /// The caller could not be identified (missing, bad or unverifiable credentials).
    case auth
    /// The caller was identified but is not allowed (disabled tenant, route methods, policy).
    case policy
    /// The request itself is not acceptable (JSON, fields, size).
    case validation
    /// Nothing is routed for what the request names (model, path, method).
    case routing
    /// The HTTP exchange was malformed or too slow (framing, Host, header size, timeouts).
    case `protocol`
    /// A rate or concurrency limit.
    case rateLimit = "rate_limit"
    /// A token quota or budget.
    case quota
    /// The backend could not be reached or answered badly before a response started.
    case upstream
    /// Something the gateway waited on (a JWKS refetch, later external authorization) failed.
    case dependency
    /// The gateway's own fault.
    case `internal`
}

extension RefusalReason {
    public var category: RefusalCategory {
        switch self {
        case .unauthenticated, .authUnavailable, .identityConflict: .auth
        case .forbidden, .tenantSuspended, .routeNotAllowed, .unknownPlan, .featureNotAllowed, .fieldNotAllowed, .regionNotAllowed,
            .authorizationDenied:
            .policy
        case .malformedJSON, .invalidRequest, .missingModel, .duplicateKey, .bodyTooLarge, .unsupportedMediaType, .unknownField,
            .promptTooLarge:
            .validation
        // The ext_authz lease table is the gateway's own capacity, held like a concurrency cap.
        case .rateLimited, .concurrencyLimited, .leasesExhausted: .rateLimit
        case .tokenQuotaExceeded, .budgetExceeded: .quota
        case .modelNotFound, .routeNotFound, .methodNotAllowed: .routing
        case .badPath, .badHost, .ambiguousFraming, .headersTooLarge, .requestTimeout, .protocolError: .protocol
        case .upstreamUnreachable, .upstreamTimeout, .upstreamProtocolError, .upstreamAuthFailed, .upstreamOverloaded,
            .noHealthyUpstream, .upstreamBroken:
            .upstream
        case .dependencyFailed, .dependencyTimeout, .authorizationFailed: .dependency
        case .internalError: .internal
        }
    }

    /// The reason's position in `allCases`, for counters kept in arrays (no hashing on the
    /// request path). A payload-free enum is stored as its case's position, so this reads that
    /// byte; `RefusalReasonTests` checks it against `allCases`.
    @inline(__always)
    public var ordinal: Int {
        withUnsafeBytes(of: self) { Int($0[0]) }
    }
}
