import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// The request head sent upstream, built from the client's head in one pass.
///
/// Dropped: hop-by-hop headers (and any named in `Connection`), names containing `_` (CGI-style
/// backends fold `X_Tenant_Id` into `X-Tenant-Id`, which would defeat the stripping), the
/// headers the gateway sets itself (`Host`, `Content-Length`, `Expect`, `x-request-id`,
/// `x-forwarded-*`, `Forwarded`), the reserved `x-tenant-*` family and configured reserved
/// names, the client's own credential unless the route opts in, and whatever the route's and
/// backend's header edits set or remove (``HeaderEdits``). Added: the gateway's
/// `Host`, length, request id, forwarding headers and the trusted tenant context, signed when
/// the backend asks for it, then the header edits and the backend's credential. When the
/// gateway traces, the client's `traceparent` and `tracestate` are replaced by the upstream
/// span's (same trace); when it does not, they pass through unchanged.
///
/// Written straight into bytes (HTTP/1.1): no header dictionary is built and no encoder runs.
/// Every value written is safe on the wire: the client's were refused by the request decoder
/// (``ClientRequestParser``, or NIOHTTP2's validation) if they held CR, LF or NUL; the gateway's own are
/// config values checked when compiled, sane request ids and printable identity text.
enum UpstreamRequestHead {
    static func write(
        _ exchange: Exchange, endpoint: UpstreamEndpoint, traceHeaders: [(String, String)]? = nil, into buffer: inout ByteBuffer
    ) {
        let client = exchange.head.headers
        let authentication = exchange.snapshot.config.authentication
        let checkConfiguredReserved = !authentication.reservedExact.isEmpty || !authentication.reservedPrefixes.isEmpty
        let forwardCredentials = exchange.route?.forwardClientCredentials ?? false
        let tokens = HeaderRules.connectionTokens(client)
        let overrides = exchange.authorizationHeaders
        let removed = exchange.authorizationRemoved
        let edits = exchange.route.map { route in exchange.backend.map(route.edits(toward:)) ?? .none } ?? .none
        let dropped = edits.dropped
        let uri = endpoint.basePath.isEmpty ? exchange.target.pathAndQuery : endpoint.basePath + exchange.target.pathAndQuery
        buffer.writeString(exchange.head.method.rawValue)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(uri)
        buffer.writeStaticString(" HTTP/1.1\r\nhost: ")
        buffer.writeString(endpoint.hostHeader)
        buffer.writeStaticString("\r\n")
        for (name, value) in client {
            if HeaderRules.isHopByHop(name) || HeaderRules.isReplacedUpstream(name) || HeaderRules.isListed(name, in: tokens)
                || HeaderRules.isWithheldFromBackend(
                    name, forwardCredentials: forwardCredentials, authentication: authentication, checkReserved: checkConfiguredReserved)
                || (traceHeaders != nil && TraceHeaders.isTraceContext(name))
                || (!overrides.isEmpty && Self.isOverridden(name, by: overrides))
                || (!removed.isEmpty && HeaderRules.isListed(name, in: removed))
                || HeaderRules.isListed(name, in: dropped)
            {
                continue
            }
            Self.field(name, value, into: &buffer)
        }
        if let traceHeaders {
            for (name, value) in traceHeaders { Self.field(name, value, into: &buffer) }
        }
        for (name, value) in overrides where !HeaderRules.isListed(name, in: dropped) { Self.field(name, value, into: &buffer) }
        for (name, value) in exchange.authorizationAppended where !HeaderRules.isListed(name, in: dropped) {
            Self.field(name, value, into: &buffer)
        }
        if exchange.authorizationSkipped {
            buffer.writeStaticString("x-portcullis-authz-failure-mode-allowed: true\r\n")
        }
        buffer.writeStaticString("content-length: ")
        buffer.writeString(String(exchange.body?.readableBytes ?? 0))
        buffer.writeStaticString("\r\nx-request-id: ")
        buffer.writeString(exchange.requestID)
        if let address = exchange.clientAddress {
            buffer.writeStaticString("\r\nx-forwarded-for: ")
            buffer.writeString(address)
        }
        buffer.writeStaticString(exchange.isTLS ? "\r\nx-forwarded-proto: https\r\n" : "\r\nx-forwarded-proto: http\r\n")
        if let identity = exchange.identity {
            let limits = exchange.plan?.limitsHeader ?? ""
            // An identity header the authorization answer set (listed by exact name) replaces the gateway's.
            let own = overrides.isEmpty
            if own || !Self.isOverridden("x-tenant-id", by: overrides) { Self.field("x-tenant-id", identity.tenant, into: &buffer) }
            if own || !Self.isOverridden("x-tenant-plan", by: overrides) { Self.field("x-tenant-plan", identity.plan ?? "", into: &buffer) }
            if own || !Self.isOverridden("x-tenant-org", by: overrides) { Self.field("x-tenant-org", identity.org ?? "", into: &buffer) }
            if own || !Self.isOverridden("x-tenant-limits", by: overrides) { Self.field("x-tenant-limits", limits, into: &buffer) }
            if let signing = exchange.backend?.signContext {
                Self.field(
                    "x-tenant-signature",
                    TenantContextSignature.sign(
                        secret: signing.secret, keyID: signing.keyID, timestamp: Int(exchange.receivedAtWall / 1000),
                        method: exchange.head.method.rawValue, pathAndQuery: uri, requestID: exchange.requestID,
                        tenant: identity.tenant, plan: identity.plan ?? "", org: identity.org ?? "", limits: limits),
                    into: &buffer)
            }
        }
        // The operator's edits and the backend's credential come last: nothing the client or
        // a policy service sent can stand in for them.
        for (name, value) in edits.fields { Self.field(name, value, into: &buffer) }
        buffer.writeStaticString("\r\n")
    }

    /// Whether the authorization answer replaces the client's header `name`.
    private static func isOverridden(_ name: String, by overrides: [(String, String)]) -> Bool {
        let lowercased = name.lowercased()
        return overrides.contains { $0.0 == lowercased }
    }

    @inline(__always)
    private static func field(_ name: String, _ value: String, into buffer: inout ByteBuffer) {
        buffer.writeString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(value)
        buffer.writeStaticString("\r\n")
    }
}
