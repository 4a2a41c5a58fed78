/// An external authorization service (`externalAuthorization.NAME`), called by the routes that
/// name it, after every local check has passed and before any upstream work.
///
/// Two wire contracts:
/// - `envoy` (Envoy's HTTP ext_authz): the check is the client's method on `url`'s path plus
///   the client's path, with the configured client headers, the trusted identity headers
///   (`x-tenant-id`, `x-tenant-plan`, `x-tenant-org`), `x-request-id`, and optionally the body
///   up to `includeBody` bytes (`x-portcullis-authz-partial-body: true` when cut). 200 allows;
///   3xx and 4xx deny, and their status and body go back to the client; anything else (5xx,
///   timeout, refused connection) is a failure;
/// - `opa` (Open Policy Agent's data API): `POST url` with `{"input": …}` shaped like Envoy's
///   (`input.attributes.request.http.{method,path,headers,body}`, plus `input.tenant`); the
///   answer's `result` is `true`/`false`, or an object with `allowed`, `headers`, `http_status`
///   and `body` (the shape opa-envoy-plugin policies return). An undefined result denies;
/// - `grpc` (Envoy's gRPC ext_authz, `envoy.service.auth.v3.Authorization/Check`, to any server
///   of that contract, Open Policy Agent's Envoy plugin among them): `url` is `http://host:port`
///   (plaintext HTTP/2; TLS toward the service is not supported yet). The `CheckRequest` carries
///   the method, path, the same headers as `envoy`, the trusted identity also as
///   `context_extensions` (`tenant_id`, `tenant_plan`, `tenant_org`), and the body up to
///   `includeBody`. An OK status allows, with `headers` (set, or appended when `append` is
///   true) and `headers_to_remove` applied upstream within `upstreamHeaders`; any other
///   status denies with its `denied_response`.
public struct ExternalAuthorizationSpec: Sendable {
    public enum WireProtocol: String, Sendable, CaseIterable {
        case envoy, opa, grpc
    }

    public enum FailureMode: String, Sendable, CaseIterable {
        /// A failed check is refused (`statusOnError`, 403 by default).
        case closed
        /// A failed check lets the request through, marked `x-portcullis-authz-failure-mode-allowed: true`.
        case open
    }

    public var name: String
    public var url: String
    public var wireProtocol: WireProtocol = .envoy
    public var timeoutNanos: Int64 = 200_000_000
    /// Client request headers sent to the service (lowercased names).
    public var clientHeaders: [String] = []
    /// Body bytes sent along (0: none).
    public var includeBody = 0
    /// Names the service's answer may set on the upstream request (lowercased; `prefix-*`
    /// matches a prefix). Identity and credential names (`x-tenant-*`, `authorization`,
    /// `x-api-key`) only when listed exactly; framing headers never.
    public var upstreamHeaders: [String] = []
    public var failureMode: FailureMode = .closed
    public var statusOnError = 403
    public var location: SourceLocation
}
