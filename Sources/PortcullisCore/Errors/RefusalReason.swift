/// Why the gateway answered a request itself instead of (or after) forwarding it.
///
/// A closed set: metrics and the access log use `rawValue` as a label, so adding a case is a
/// deliberate act and a typo cannot invent a new label.
public enum RefusalReason: String, Sendable, CaseIterable {
    case malformedJSON = "malformed_json"
    case invalidRequest = "invalid_request"
    case missingModel = "missing_model"
    case duplicateKey = "duplicate_key"
    case modelNotFound = "model_not_found"
    case routeNotFound = "route_not_found"
    case methodNotAllowed = "method_not_allowed"
    case badPath = "bad_path"
    case badHost = "bad_host"
    case ambiguousFraming = "ambiguous_framing"
    case bodyTooLarge = "body_too_large"
    case headersTooLarge = "headers_too_large"
    case requestTimeout = "request_timeout"
    case protocolError = "protocol_error"
    case upstreamUnreachable = "upstream_unreachable"
    case upstreamTimeout = "upstream_timeout"
    case upstreamProtocolError = "upstream_protocol_error"
    case unauthenticated = "unauthenticated"
    case authUnavailable = "auth_unavailable"
    case identityConflict = "identity_conflict"
    case forbidden = "forbidden"
    case dependencyFailed = "dependency_failed"
    case dependencyTimeout = "dependency_timeout"
    case internalError = "internal_error"
    case unsupportedMediaType = "unsupported_media_type"
    case tenantSuspended = "tenant_suspended"
    case routeNotAllowed = "route_not_allowed"
    case unknownPlan = "unknown_plan"
}
