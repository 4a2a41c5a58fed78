/// The catalogue: what each ``GatewayError`` case answers. The one place a status, an OpenAI
/// `type`/`code` or a ``RefusalReason`` is chosen.
extension GatewayError {
    /// HTTP status code.
    public var status: Int {
        switch self {
        case .malformedJSON, .notAnObject, .emptyBody, .missingModel, .modelNotString, .invalidType, .valueTooLarge,
            .valueOutOfRange, .duplicateKey, .missingField, .invalidField, .emptyField, .duplicateField,
            .fieldNotAllowed, .unknownField, .badPath, .badHost, .ambiguousFraming, .protocolError:
            400
        case .missingCredentials, .credentialRefused, .methodNotAccepted: 401
        case .identityConflict, .tenantDisabled, .tenantSuspended, .unknownTenant, .routeNotAllowed, .unknownPlan,
            .featureNotAllowed, .regionNotAllowed:
            403
        case .authorizationDenied(let status, _, _), .authorizationFailed(let status): status
        case .modelNotFound, .notFound: 404
        case .methodNotAllowed, .unsupportedMethod: 405
        case .requestTimeout: 408
        case .bodyTooLarge, .promptTooLarge: 413
        case .limitExceeded: 429
        case .unsupportedMediaType: 415
        case .headersTooLarge: 431
        case .internalError: 500
        case .upstreamUnreachable, .upstreamProtocolError, .upstreamClosed, .upstreamAuthFailed, .upstreamStreamBroken: 502
        case .unsupportedTransferCoding: 501
        case .authUnavailable, .dependencyFailed, .upstreamOverloaded, .noHealthyUpstream, .leasesExhausted: 503
        case .upstreamTimeout, .dependencyTimedOut: 504
        }
    }

    /// OpenAI error `type`.
    public var type: String {
        switch self {
        case .missingCredentials(let apiKey): apiKey ? "invalid_request_error" : "authentication_error"
        case .credentialRefused(let failure): failure.concernsAPIKey ? "invalid_request_error" : "authentication_error"
        case .methodNotAccepted: "authentication_error"
        case .identityConflict, .tenantDisabled, .tenantSuspended, .unknownTenant, .routeNotAllowed, .unknownPlan,
            .featureNotAllowed, .regionNotAllowed, .authorizationDenied, .authorizationFailed:
            "permission_error"
        case .authUnavailable, .dependencyFailed, .dependencyTimedOut, .upstreamUnreachable, .upstreamProtocolError,
            .upstreamClosed, .upstreamTimeout, .upstreamAuthFailed, .upstreamOverloaded, .noHealthyUpstream, .upstreamStreamBroken,
            .leasesExhausted,
            .internalError:
            "server_error"
        case .limitExceeded(let refusal):
            refusal.name.isBudget ? "insufficient_quota" : refusal.name.isTokenQuota ? "tokens" : "requests"
        default: "invalid_request_error"
        }
    }

    /// OpenAI error `code`, machine-readable.
    public var code: String {
        switch self {
        case .malformedJSON, .notAnObject: "invalid_json"
        case .emptyBody: "invalid_request"
        case .missingModel: "missing_model"
        case .modelNotString, .invalidType: "invalid_type"
        case .valueTooLarge, .valueOutOfRange, .emptyField: "invalid_value"
        case .missingField: "missing_required_parameter"
        case .invalidField: "invalid_type"
        case .duplicateField: "duplicate_key"
        case .duplicateKey: "duplicate_key"
        case .modelNotFound: "model_not_found"
        case .notFound: "not_found"
        case .methodNotAllowed, .unsupportedMethod: "method_not_allowed"
        case .unsupportedTransferCoding: "unsupported_transfer_encoding"
        case .unsupportedMediaType: "unsupported_media_type"
        case .badPath: "invalid_path"
        case .badHost: "invalid_host"
        case .ambiguousFraming: "invalid_framing"
        case .bodyTooLarge: "request_too_large"
        case .promptTooLarge: "prompt_too_large"
        case .limitExceeded(let refusal): refusal.name.isBudget ? "insufficient_quota" : "rate_limit_exceeded"
        case .headersTooLarge: "headers_too_large"
        case .requestTimeout: "request_timeout"
        case .protocolError: "invalid_http"
        case .missingCredentials(let apiKey): apiKey ? "invalid_api_key" : "invalid_token"
        case .credentialRefused(let failure): failure.concernsAPIKey ? "invalid_api_key" : "invalid_token"
        case .methodNotAccepted: "invalid_token"
        case .authUnavailable: "auth_unavailable"
        case .identityConflict: "identity_conflict"
        case .tenantDisabled: "tenant_disabled"
        case .tenantSuspended: "tenant_suspended"
        case .unknownTenant: "unknown_tenant"
        case .routeNotAllowed: "route_not_allowed"
        case .unknownPlan: "unknown_plan"
        case .featureNotAllowed: "feature_not_allowed"
        case .fieldNotAllowed: "field_not_allowed"
        case .unknownField: "unknown_parameter"
        case .regionNotAllowed: "region_not_allowed"
        case .authorizationDenied: "authorization_denied"
        case .authorizationFailed: "authorization_unavailable"
        case .dependencyFailed: "dependency_failed"
        case .dependencyTimedOut: "dependency_timeout"
        case .upstreamUnreachable, .upstreamProtocolError, .upstreamClosed, .upstreamStreamBroken: "upstream_error"
        case .upstreamTimeout: "upstream_timeout"
        case .upstreamAuthFailed: "upstream_auth_failed"
        case .upstreamOverloaded: "upstream_overloaded"
        case .leasesExhausted: "leases_exhausted"
        case .noHealthyUpstream: "no_healthy_upstream"
        case .internalError: "internal_error"
        }
    }

    public var message: String {
        switch self {
        case .malformedJSON(let problem): "The request body is not valid JSON: \(problem.message) at byte \(problem.offset)."
        case .notAnObject, .emptyBody: "The request body must be a JSON object."
        case .missingModel: "You must provide a model parameter."
        case .modelNotString: "The model parameter must be a non-empty string."
        case .invalidType(let param, let expected): "The \(param.label) parameter must be \(expected.rawValue)."
        case .valueTooLarge(let param, let max): "The \(param.label) parameter must be at most \(max)."
        case .missingField(let path): "Missing required parameter: '\(path)'."
        case .invalidField(let path, let expected): "The \(path) parameter must be \(expected.rawValue)."
        case .emptyField(let path): "The \(path) parameter must not be empty."
        case .duplicateField(let path): "The request body contains '\(path)' more than once."
        case .valueOutOfRange(let param, let range):
            "The \(param.label) parameter must be between \(Self.shown(range.lowerBound)) and \(Self.shown(range.upperBound))."
        case .duplicateKey(let key): "The request body contains the key '\(key.label)' more than once."
        case .modelNotFound(let model):
            // The caller's own input: escaped by the renderer, truncated so an error body cannot
            // reflect large payloads.
            "The model '\(model.count > 128 ? String(model.prefix(128)) + "…" : model)' does not exist or you do not have access to it."
        case .notFound: "No endpoint is served at this path."
        case .methodNotAllowed(let endpoint): "This endpoint does not accept this HTTP method; allowed: \(endpoint.allowedMethod ?? "none")."
        case .badPath: "The request target is not a valid origin-form path."
        case .badHost(.missing): "A request must name its host (one Host header, or :authority on HTTP/2); it has none."
        case .badHost(.duplicated): "An HTTP/1.1 request must carry exactly one Host header; it has several."
        case .badHost(.invalid): "The Host header is not a valid host[:port]."
        case .ambiguousFraming: "Transfer-Encoding is not allowed on an HTTP/1.0 request."
        case .unsupportedMethod: "CONNECT and TRACE are not served."
        case .unsupportedTransferCoding: "Only the chunked transfer coding is accepted."
        case .unsupportedMediaType: "The request body must be sent as JSON (Content-Type: application/json)."
        case .bodyTooLarge(let limit, _): "The request body exceeds the limit of \(limit) bytes."
        case .promptTooLarge(let estimate, let limit):
            "The prompt is estimated at \(estimate) tokens, over your plan's limit of \(limit) prompt tokens."
        case .limitExceeded(let refusal): refusal.message
        case .headersTooLarge: "The request headers are too large or too many."
        case .requestTimeout: "The request was not received in time."
        case .protocolError: "The request is not valid HTTP."
        case .missingCredentials(let apiKey):
            apiKey
                ? "You didn't provide an API key. Send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'."
                : "No credential was provided."
        case .credentialRefused(let failure): failure.message
        case .methodNotAccepted(let methods):
            "This route requires authentication by: \(methods.map(\.rawValue).joined(separator: ", "))."
        case .authUnavailable: AuthFailure.keysUnavailable.message
        case .identityConflict: AuthFailure.identityConflict.message
        case .tenantDisabled: AuthFailure.tenantDisabled.message
        case .tenantSuspended(let reason): "This tenant is suspended: \(reason)"
        case .unknownTenant: AuthFailure.unknownTenant.message
        case .routeNotAllowed: "Your plan does not include this endpoint."
        case .unknownPlan: "Your credential names a plan this gateway does not offer."
        case .featureNotAllowed(let feature): "Your plan does not include the '\(feature.rawValue)' feature."
        case .fieldNotAllowed(let field): "The \(field) parameter is not allowed on your plan."
        case .unknownField(let field): "Unrecognized request argument supplied: \(field)."
        case .regionNotAllowed: "No backend for this request is in a region your tenant may use."
        case .authorizationDenied: "The request was denied by the authorization policy."
        case .authorizationFailed: "The authorization policy could not be checked, so the request is refused."
        case .dependencyFailed(let stage): "The gateway could not complete the \(stage) check; try again shortly."
        case .dependencyTimedOut(let stage): "The gateway's \(stage) check did not finish in time; try again shortly."
        case .upstreamUnreachable: "The backend for this model could not be reached."
        case .upstreamProtocolError: "The backend sent an invalid response."
        case .upstreamClosed: "The backend closed the connection without answering."
        case .upstreamTimeout: "The backend for this model did not respond in time."
        case .upstreamAuthFailed: "The backend refused the gateway's own credential; this is not a problem with your request."
        case .upstreamOverloaded: "The backend for this model is at capacity; try again shortly."
        case .leasesExhausted: "The gateway holds as many authorized requests as it may; try again shortly."
        case .upstreamStreamBroken: "The backend stopped in the middle of this response; what came before this event is all it sent."
        case .noHealthyUpstream: "No healthy backend is available for this model; try again shortly."
        case .internalError: "The gateway failed to process the request."
        }
    }

    /// OpenAI error `param`, when one parameter is at fault.
    public var param: String? {
        switch self {
        case .missingModel, .modelNotString, .modelNotFound: "model"
        case .invalidType(let param, _): param.label
        case .valueTooLarge(let param, _): param.label
        case .valueOutOfRange(let param, _): param.label
        case .missingField(let path), .invalidField(let path, _), .emptyField(let path), .duplicateField(let path): path
        case .duplicateKey(let key): key.label
        case .featureNotAllowed(let feature): feature.rawValue
        case .fieldNotAllowed(let field), .unknownField(let field): field
        default: nil
        }
    }

    /// The closed reason used by the access log and metrics.
    public var reason: RefusalReason {
        switch self {
        case .malformedJSON, .notAnObject: .malformedJSON
        case .emptyBody, .invalidType, .valueTooLarge, .valueOutOfRange, .missingField, .invalidField, .emptyField:
            .invalidRequest
        case .duplicateField: .duplicateKey
        case .missingModel, .modelNotString: .missingModel
        case .duplicateKey: .duplicateKey
        case .modelNotFound: .modelNotFound
        case .notFound: .routeNotFound
        case .methodNotAllowed, .unsupportedMethod: .methodNotAllowed
        case .unsupportedTransferCoding: .ambiguousFraming
        case .unsupportedMediaType: .unsupportedMediaType
        case .badPath: .badPath
        case .badHost: .badHost
        case .ambiguousFraming: .ambiguousFraming
        case .bodyTooLarge: .bodyTooLarge
        case .promptTooLarge: .promptTooLarge
        case .limitExceeded(let refusal):
            refusal.name == .concurrency
                ? .concurrencyLimited : refusal.name.isBudget ? .budgetExceeded : refusal.name.isTokenQuota ? .tokenQuotaExceeded : .rateLimited
        case .headersTooLarge: .headersTooLarge
        case .requestTimeout: .requestTimeout
        case .protocolError: .protocolError
        case .missingCredentials, .credentialRefused, .methodNotAccepted: .unauthenticated
        case .authUnavailable: .authUnavailable
        case .identityConflict: .identityConflict
        case .tenantDisabled, .unknownTenant: .forbidden
        case .tenantSuspended: .tenantSuspended
        case .routeNotAllowed: .routeNotAllowed
        case .unknownPlan: .unknownPlan
        case .featureNotAllowed: .featureNotAllowed
        case .fieldNotAllowed: .fieldNotAllowed
        case .unknownField: .unknownField
        case .regionNotAllowed: .regionNotAllowed
        case .authorizationDenied: .authorizationDenied
        case .authorizationFailed: .authorizationFailed
        case .dependencyFailed: .dependencyFailed
        case .dependencyTimedOut: .dependencyTimeout
        case .upstreamUnreachable: .upstreamUnreachable
        case .upstreamProtocolError, .upstreamClosed: .upstreamProtocolError
        case .upstreamTimeout: .upstreamTimeout
        case .upstreamAuthFailed: .upstreamAuthFailed
        case .upstreamOverloaded: .upstreamOverloaded
        case .leasesExhausted: .leasesExhausted
        case .upstreamStreamBroken: .upstreamBroken
        case .noHealthyUpstream: .noHealthyUpstream
        case .internalError: .internalError
        }
    }

    /// Close the client connection after answering: the request stream is in an unknown state
    /// (unparseable, too large to read, too slow).
    public var closesConnection: Bool {
        switch self {
        case .badPath, .badHost, .ambiguousFraming, .unsupportedMethod, .unsupportedTransferCoding, .headersTooLarge, .requestTimeout,
            .protocolError:
            true
        case .bodyTooLarge(_, let bodyRead): !bodyRead
        default: false
        }
    }

    /// Extra response headers.
    public var headers: [(String, String)] {
        switch self {
        case .methodNotAllowed(let endpoint): [("allow", endpoint.allowedMethod ?? "")]
        case .unsupportedMethod: [("allow", "GET, POST")]
        case .missingCredentials(true), .methodNotAccepted: [("www-authenticate", "Bearer realm=\"portcullis\"")]
        case .missingCredentials(false):
            [("www-authenticate", "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"\(self.message)\"")]
        case .credentialRefused(let failure):
            failure.concernsAPIKey
                ? [("www-authenticate", "Bearer realm=\"portcullis\"")]
                : [("www-authenticate", "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"\(failure.message)\"")]
        case .authUnavailable, .dependencyFailed, .dependencyTimedOut: [("retry-after", "5")]
        case .upstreamOverloaded, .noHealthyUpstream, .leasesExhausted: [("retry-after", "1")]
        case .authorizationDenied(_, _, let passed): passed.map { ($0.name, $0.value) }
        case .limitExceeded(let refusal): refusal.retryAfterSeconds.map { [("retry-after", String($0))] } ?? []
        default: []
        }
    }

    /// The authentication failure behind this refusal, for the access log.
    public var authFailure: AuthFailure? {
        switch self {
        case .missingCredentials: .missingCredentials
        case .credentialRefused(let failure): failure
        case .authUnavailable: .keysUnavailable
        case .identityConflict: .identityConflict
        case .tenantDisabled: .tenantDisabled
        case .unknownTenant: .unknownTenant
        case .methodNotAccepted: .routeMethod
        default: nil
        }
    }

    /// A range bound as the message prints it (`2`, not `2.0`).
    private static func shown(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

extension GatewayError {
    /// Bytes of a policy service's body passed back (0 for every other error).
    var passedBodyLength: Int {
        if case .authorizationDenied(_, let body?, _) = self { return body.readableBytes }
        return 0
    }
}
