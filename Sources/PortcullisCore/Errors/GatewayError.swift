import NIOCore

/// The one error type of the request path: every refusal the gateway produces itself.
///
/// It renders itself in exactly one place (`renderBody`) into OpenAI's error shape,
/// `{"error":{"message":…,"type":…,"param":…,"code":…}}`. Messages are written by the gateway
/// and never contain a header value, token, key or prompt text: callers pass fixed strings or
/// values the gateway itself validated (a model name that matched no route is the one echo, and
/// it is escaped and truncated).
public struct GatewayError: Error, Sendable, Equatable {
    /// HTTP status code.
    public var status: Int
    /// OpenAI error `type` (`invalid_request_error`, `authentication_error`, …).
    public var type: String
    /// OpenAI error `code`, machine-readable.
    public var code: String
    public var message: String
    public var param: String?
    public var reason: RefusalReason
    /// Close the client connection after answering (the request stream is in an unknown state).
    public var closeConnection: Bool
    /// Extra response headers (for example `WWW-Authenticate`).
    public var headers: [(String, String)]

    public init(
        status: Int, type: String, code: String, message: String, param: String? = nil,
        reason: RefusalReason, closeConnection: Bool = false, headers: [(String, String)] = []
    ) {
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.reason = reason
        self.closeConnection = closeConnection
        self.headers = headers
    }

    public static func == (lhs: GatewayError, rhs: GatewayError) -> Bool {
        lhs.status == rhs.status && lhs.type == rhs.type && lhs.code == rhs.code && lhs.message == rhs.message
            && lhs.param == rhs.param && lhs.reason == rhs.reason && lhs.closeConnection == rhs.closeConnection
            && lhs.headers.map { $0.0 + ":" + $0.1 } == rhs.headers.map { $0.0 + ":" + $0.1 }
    }

    /// Writes the OpenAI-shaped JSON body.
    public func renderBody(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"error\":{\"message\":")
        JSONString.writeQuoted(self.message, into: &buffer)
        buffer.writeStaticString(",\"type\":")
        JSONString.writeQuoted(self.type, into: &buffer)
        buffer.writeStaticString(",\"param\":")
        if let param {
            JSONString.writeQuoted(param, into: &buffer)
        } else {
            buffer.writeStaticString("null")
        }
        buffer.writeStaticString(",\"code\":")
        JSONString.writeQuoted(self.code, into: &buffer)
        buffer.writeStaticString("}}")
    }

    public func renderBody(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 96 + self.message.utf8.count)
        self.renderBody(into: &buffer)
        return buffer
    }
}

// MARK: - The catalogue of refusals

extension GatewayError {
    public static func malformedJSON(_ detail: String) -> GatewayError {
        GatewayError(
            status: 400, type: "invalid_request_error", code: "invalid_json",
            message: "The request body is not valid JSON: \(detail).", reason: .malformedJSON)
    }

    public static func notAnObject() -> GatewayError {
        GatewayError(
            status: 400, type: "invalid_request_error", code: "invalid_json",
            message: "The request body must be a JSON object.", reason: .malformedJSON)
    }

    public static func missingModel() -> GatewayError {
        GatewayError(
            status: 400, type: "invalid_request_error", code: "missing_model",
            message: "You must provide a model parameter.", param: "model", reason: .missingModel)
    }

    public static func modelNotString() -> GatewayError {
        GatewayError(
            status: 400, type: "invalid_request_error", code: "invalid_type",
            message: "The model parameter must be a non-empty string.", param: "model", reason: .missingModel)
    }

    public static func invalidType(param: String, expected: String) -> GatewayError {
        GatewayError(
            status: 400, type: "invalid_request_error", code: "invalid_type",
            message: "The \(param) parameter must be \(expected).", param: param, reason: .invalidRequest)
    }

    public static func duplicateKey(_ key: String) -> GatewayError {
        GatewayError(
            status: 400, type: "invalid_request_error", code: "duplicate_key",
            message: "The request body contains the key '\(key)' more than once.", param: key,
            reason: .duplicateKey)
    }

    public static func modelNotFound(_ model: String) -> GatewayError {
        // The model name is the caller's own input; it is escaped by the renderer and truncated
        // so an error body cannot be used to reflect large payloads.
        let shown = model.count > 128 ? String(model.prefix(128)) + "…" : model
        return GatewayError(
            status: 404, type: "invalid_request_error", code: "model_not_found",
            message: "The model '\(shown)' does not exist or you do not have access to it.", param: "model",
            reason: .modelNotFound)
    }

    public static func notFound() -> GatewayError {
        GatewayError(
            status: 404, type: "invalid_request_error", code: "not_found",
            message: "No endpoint is served at this path.", reason: .routeNotFound)
    }

    public static func methodNotAllowed(allowed: String) -> GatewayError {
        GatewayError(
            status: 405, type: "invalid_request_error", code: "method_not_allowed",
            message: "This endpoint does not accept this HTTP method; allowed: \(allowed).",
            reason: .methodNotAllowed, headers: [("allow", allowed)])
    }

    public static func badPath() -> GatewayError {
        GatewayError(
            status: 400, type: "invalid_request_error", code: "invalid_path",
            message: "The request target is not a valid origin-form path.", reason: .badPath,
            closeConnection: true)
    }

    public static func badRequest(_ message: String, closeConnection: Bool = false) -> GatewayError {
        GatewayError(
            status: 400, type: "invalid_request_error", code: "invalid_request", message: message,
            reason: .invalidRequest, closeConnection: closeConnection)
    }

    public static func bodyTooLarge(limit: Int) -> GatewayError {
        GatewayError(
            status: 413, type: "invalid_request_error", code: "request_too_large",
            message: "The request body exceeds the limit of \(limit) bytes.", reason: .bodyTooLarge,
            closeConnection: true)
    }

    public static func headersTooLarge() -> GatewayError {
        GatewayError(
            status: 431, type: "invalid_request_error", code: "headers_too_large",
            message: "The request headers are too large or too many.", reason: .headersTooLarge,
            closeConnection: true)
    }

    public static func requestTimeout() -> GatewayError {
        GatewayError(
            status: 408, type: "invalid_request_error", code: "request_timeout",
            message: "The request was not received in time.", reason: .requestTimeout, closeConnection: true)
    }

    public static func protocolError() -> GatewayError {
        GatewayError(
            status: 400, type: "invalid_request_error", code: "invalid_http",
            message: "The request is not valid HTTP.", reason: .protocolError, closeConnection: true)
    }

    public static func upstreamUnreachable() -> GatewayError {
        GatewayError(
            status: 502, type: "server_error", code: "upstream_unreachable",
            message: "The backend for this model could not be reached.", reason: .upstreamUnreachable)
    }

    public static func upstreamProtocolError() -> GatewayError {
        GatewayError(
            status: 502, type: "server_error", code: "upstream_error",
            message: "The backend sent an invalid response.", reason: .upstreamProtocolError)
    }

    public static func upstreamTimeout() -> GatewayError {
        GatewayError(
            status: 504, type: "server_error", code: "upstream_timeout",
            message: "The backend for this model did not respond in time.", reason: .upstreamTimeout)
    }

    public static func internalError() -> GatewayError {
        GatewayError(
            status: 500, type: "server_error", code: "internal_error",
            message: "The gateway failed to process the request.", reason: .internalError)
    }
}
