/// Why authentication refused a request: a closed set, so the access log and metrics can use
/// ``label`` as a value without ever inventing one. Neither ``label`` nor ``message`` ever
/// contains the credential or any part of it.
public enum AuthFailure: Error, Sendable, Hashable {
    // No usable credential, or credential headers that cannot be read.
    case missingCredentials
    case duplicateAuthorization
    case duplicateAPIKey
    case authorizationScheme
    case tokenNotJWT
    // JWT.
    case tokenTooLarge
    case tokenMalformed(TokenMalformation)
    case tokenAlgorithmUnsupported
    case tokenAlgorithmNotAllowed
    case tokenCriticalHeader
    case tokenUnknownIssuer
    case tokenUnknownKeyID
    case tokenMissingKeyID
    case tokenKeyAlgorithmMismatch
    case tokenBadSignature
    case tokenExpired
    case tokenNotYetValid
    case tokenIssuedInFuture
    case tokenMissingExpiry
    case tokenWrongAudience
    case tokenBadClaim(TokenClaim)
    /// The issuer never published usable keys to the gateway (answered 503, not 401).
    case keysUnavailable
    // API keys.
    case apiKeyMalformed
    case apiKeyUnknown
    case apiKeyDisabled
    // After the credential was verified.
    case identityConflict
    case tenantDisabled
    case unknownTenant
    /// The route does not accept the method that proved the caller.
    case routeMethod

    /// What part of a compact JWS could not be read.
    public enum TokenMalformation: String, Sendable, Hashable {
        case parts = "not three parts"
        case signature = "no signature"
        case base64 = "invalid base64url"
        case header = "header is not a JSON object"
        case algorithm = "no alg"
        case keyID = "kid is not a string"
        case claims = "claims are not a JSON object"
    }

    /// A claim that is missing, of the wrong type, out of range, or (tenant, org, plan) not
    /// safe to carry in a header (``IdentityText``).
    public enum TokenClaim: String, Sendable, Hashable {
        case exp, nbf, iat, tenant, org, plan
    }

    /// The access-log and metric value.
    public var label: String {
        switch self {
        case .missingCredentials: "missing_credentials"
        case .duplicateAuthorization: "duplicate_authorization"
        case .duplicateAPIKey: "duplicate_api_key"
        case .authorizationScheme: "authorization_scheme"
        case .tokenNotJWT: "token_not_jwt"
        case .tokenTooLarge: "token_too_large"
        case .tokenMalformed: "token_malformed"
        case .tokenAlgorithmUnsupported: "token_alg_unsupported"
        case .tokenAlgorithmNotAllowed: "token_alg_not_allowed"
        case .tokenCriticalHeader: "token_crit_unsupported"
        case .tokenUnknownIssuer: "token_unknown_issuer"
        case .tokenUnknownKeyID: "token_unknown_kid"
        case .tokenMissingKeyID: "token_missing_kid"
        case .tokenKeyAlgorithmMismatch: "token_key_alg_mismatch"
        case .tokenBadSignature: "token_bad_signature"
        case .tokenExpired: "token_expired"
        case .tokenNotYetValid: "token_not_yet_valid"
        case .tokenIssuedInFuture: "token_issued_in_future"
        case .tokenMissingExpiry: "token_missing_exp"
        case .tokenWrongAudience: "token_wrong_audience"
        case .tokenBadClaim: "token_bad_claim"
        case .keysUnavailable: "jwks_unavailable"
        case .apiKeyMalformed: "api_key_malformed"
        case .apiKeyUnknown: "api_key_unknown"
        case .apiKeyDisabled: "api_key_disabled"
        case .identityConflict: "identity_conflict"
        case .tenantDisabled: "tenant_disabled"
        case .unknownTenant: "unknown_tenant"
        case .routeMethod: "route_method"
        }
    }

    /// Whether the failure concerns an API key (answered `invalid_api_key`) rather than a token.
    public var concernsAPIKey: Bool {
        switch self {
        case .duplicateAPIKey, .apiKeyMalformed, .apiKeyUnknown, .apiKeyDisabled: true
        default: false
        }
    }

    /// The message the client reads.
    public var message: String {
        switch self {
        case .missingCredentials: "No credential was provided."
        case .duplicateAuthorization: "More than one Authorization header."
        case .duplicateAPIKey: "More than one x-api-key header."
        case .authorizationScheme: "The Authorization header must use the Bearer scheme."
        case .tokenNotJWT: "The bearer token is not a JWT."
        case .tokenTooLarge: "The bearer token is too large."
        case .tokenMalformed(let what): "The bearer token is malformed (\(what.rawValue))."
        case .tokenAlgorithmUnsupported, .tokenAlgorithmNotAllowed: "The bearer token's signing algorithm is not accepted."
        case .tokenCriticalHeader: "The bearer token requires extensions the gateway does not support."
        case .tokenUnknownIssuer: "The bearer token's issuer is not trusted."
        case .tokenUnknownKeyID, .tokenMissingKeyID, .tokenKeyAlgorithmMismatch, .tokenBadSignature:
            "The bearer token's signature could not be verified."
        case .tokenExpired: "The bearer token has expired."
        case .tokenNotYetValid: "The bearer token is not valid yet."
        case .tokenIssuedInFuture: "The bearer token was issued in the future."
        case .tokenMissingExpiry: "The bearer token has no expiry."
        case .tokenWrongAudience: "The bearer token is not meant for this service."
        case .tokenBadClaim(let claim): "The bearer token's \(claim.rawValue) claim is missing or invalid."
        case .keysUnavailable: "The gateway cannot verify tokens from this issuer yet; try again shortly."
        case .apiKeyMalformed, .apiKeyUnknown, .apiKeyDisabled: "Incorrect API key provided."
        case .identityConflict: "The credentials presented prove different tenants."
        case .tenantDisabled: "This tenant is disabled."
        case .unknownTenant: "This tenant is not known to the gateway."
        case .routeMethod: "This route does not accept the authentication method used."
        }
    }
}
