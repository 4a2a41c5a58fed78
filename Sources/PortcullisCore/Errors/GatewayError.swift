import NIOCore

/// The one error type of the request path: every refusal the gateway produces itself.
///
/// A closed enum: each case computes its status, OpenAI `type` and `code`, message, `param`,
/// ``RefusalReason`` and extra headers in one place (``GatewayError+Catalogue.swift``), and
/// there is no free-form initialiser, so no call site can invent a status or a code. It
/// renders itself in exactly one place (``renderBody(into:)``) into OpenAI's error shape,
/// `{"error":{"message":…,"type":…,"param":…,"code":…}}`. Messages are written by the gateway
/// and never contain a header value, token, key or prompt text: associated values are either
/// closed enums or values the gateway itself produced (a model name that matched no route is
/// the one echo, and it is escaped and truncated).
public enum GatewayError: Error, Sendable, Equatable {
    // The body.
    case malformedJSON(JSONScanner.ScanError)
    case notAnObject
    case emptyBody
    case missingModel
    case modelNotString
    case invalidType(param: RequestKey, expected: ExpectedType)
    /// A number above what is accepted: past 2^63-1, or past the caller's plan cap.
    case valueTooLarge(param: RequestKey, max: Int)
    /// A required field is missing (`path` is the gateway's own: names and indices).
    case missingField(String)
    /// A field (`messages[2].role`) of the wrong type or value.
    case invalidField(String, expected: ExpectedType)
    /// An array that must not be empty.
    case emptyField(String)
    /// A field given twice inside an element (a backend may read the other copy).
    case duplicateField(String)
    /// A feature the caller's plan does not include (``RequestFeature``).
    case featureNotAllowed(RequestFeature)
    /// A top-level field the caller's plan forbids (`plans.NAME.forbiddenFields`).
    case fieldNotAllowed(String)
    /// A top-level field the endpoint's spec does not define, on a route that rejects them
    /// (the name is shown only when it is short printable ASCII; see ``RequestFields/shown(_:)``).
    case unknownField(String)
    /// No backend of the route is in a region the tenant may use.
    case regionNotAllowed
    /// The external authorization service denied the request: its status and, when it sent
    /// them, its body and its safe headers (``PassedHeader``) go back to the client.
    case authorizationDenied(status: Int, body: ByteBuffer?, headers: [PassedHeader])
    /// The external authorization check failed (timeout, 5xx, refused connection, bad
    /// answer) and fails closed: answered with the configured status (403 by default).
    case authorizationFailed(status: Int)
    /// A rate, a token quota or a concurrency limit is reached: 429 with `Retry-After`.
    case limitExceeded(LimitRefusal)
    /// The estimated prompt is larger than the caller's plan allows (`limits.maxPromptTokens`).
    case promptTooLarge(estimate: Int, limit: Int)
    /// A number outside the range the API defines (`temperature` 0–2, `top_p` 0–1).
    case valueOutOfRange(param: RequestKey, range: ClosedRange<Double>)
    /// A key the gateway acts on appears twice.
    case duplicateKey(RequestKey)
    // Routing.
    case modelNotFound(String)
    case notFound
    /// The endpoint takes another method.
    case methodNotAllowed(EndpointKind)
    // HTTP framing.
    case badPath
    case badHost(HostProblem)
    case ambiguousFraming
    /// CONNECT (a tunnel) and TRACE (echoes the request) are not served on any path.
    case unsupportedMethod
    /// A transfer coding other than plain `chunked`.
    case unsupportedTransferCoding
    /// An OpenAI endpoint's body sent with a `Content-Type` that is not JSON.
    case unsupportedMediaType
    /// `bodyRead`: the whole body was read before the refusal, so the connection can be kept.
    case bodyTooLarge(limit: Int, bodyRead: Bool)
    case headersTooLarge
    case requestTimeout
    case protocolError
    // Identity.
    case missingCredentials(apiKeyAccepted: Bool)
    case credentialRefused(AuthFailure)
    case authUnavailable
    case identityConflict
    case tenantDisabled
    /// The operator suspended the tenant, with this reason (the operator's words, from the config).
    case tenantSuspended(reason: String)
    case unknownTenant
    /// The caller's plan does not include the route.
    case routeNotAllowed
    /// The caller's plan (from its token) is not one the config defines.
    case unknownPlan
    /// The route accepts only these methods (sorted by name).
    case methodNotAccepted([AuthMethod])
    // A stage that waited.
    case dependencyFailed(stage: String)
    case dependencyTimedOut(stage: String)
    // The backend.
    case upstreamUnreachable
    case upstreamProtocolError
    /// The backend closed the connection after taking the request, without answering.
    case upstreamClosed
    case upstreamTimeout
    /// A backend the gateway holds a credential for answered 401 or 403: the gateway's
    /// credential was refused, which is not the client's fault (502, the backend's body dropped).
    case upstreamAuthFailed
    /// The backend's circuit breaker is full (requests, pending connects or connections) and no
    /// fallback had room: 503 at once, never a queue.
    case upstreamOverloaded
    /// The ext_authz listener holds `authz.maxLeases` allowed requests already: a check that
    /// would take a slot or a reservation is refused rather than allowed unheld.
    case leasesExhausted
    /// The backend went away in the middle of an event stream (sent as its final `error` event).
    case upstreamStreamBroken
    /// Every endpoint of the backend (and of its fallbacks) is ejected or failing its health check.
    case noHealthyUpstream
    case internalError

    /// What is wrong with an HTTP/1.1 request's `Host` (RFC 9112 §3.2).
    public enum HostProblem: String, Sendable, Hashable {
        case missing, duplicated, invalid
    }

    /// Writes the OpenAI-shaped JSON body.
    public func renderBody(into buffer: inout ByteBuffer) {
        if case .authorizationDenied(_, let body?, _) = self {
            buffer.writeImmutableBuffer(body)  // the policy service's own answer, passed back
            return
        }
        buffer.writeStaticString("{\"error\":{\"message\":")
        JSONString.writeQuoted(self.message, into: &buffer)
        buffer.writeStaticString(",\"type\":")
        JSONString.writeQuoted(self.type, into: &buffer)
        buffer.writeStaticString(",\"param\":")
        if let param = self.param {
            JSONString.writeQuoted(param, into: &buffer)
        } else {
            buffer.writeStaticString("null")
        }
        buffer.writeStaticString(",\"code\":")
        JSONString.writeQuoted(self.code, into: &buffer)
        buffer.writeStaticString("}}")
    }

    /// The error as a stream's final SSE event (`data: {"error":…}`, then the blank line).
    public func renderEvent(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        let message = self.message
        var buffer = allocator.buffer(capacity: 104 + message.utf8.count)
        buffer.writeStaticString("data: ")
        self.renderBody(into: &buffer)
        buffer.writeStaticString("\n\n")
        return buffer
    }

    public func renderBody(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        let message = self.message
        var buffer = allocator.buffer(capacity: 96 + message.utf8.count + self.passedBodyLength)
        self.renderBody(into: &buffer)
        return buffer
    }
}
