import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// The request sent to an external authorization service for one exchange (see
/// ``ExternalAuthorizationSpec`` for both contracts). Only what the operator listed leaves the
/// gateway: the configured client headers, the identity the gateway verified, the request id,
/// and the body up to `includeBody` bytes.
enum AuthorizationCheck {
    static func request(for exchange: Exchange, authorizer: ExternalAuthorizer) throws -> HTTPClient.Request {
        let spec = authorizer.spec
        let endpoint = authorizer.endpoint
        var headers = HTTPHeaders()
        var sent: [(String, String)] = []
        for name in spec.clientHeaders {
            for value in exchange.head.headers[name] { sent.append((name, value)) }
        }
        let identity = exchange.identity
        let trusted: [(String, String)] = [
            ("x-tenant-id", identity?.tenant ?? ""), ("x-tenant-plan", identity?.plan ?? ""), ("x-tenant-org", identity?.org ?? ""),
            ("x-request-id", exchange.requestID),
        ]
        var body = ByteBuffer()
        var partial = false
        if spec.includeBody > 0, let whole = exchange.body {
            partial = whole.readableBytes > spec.includeBody
            body = whole.getSlice(at: whole.readerIndex, length: min(whole.readableBytes, spec.includeBody)) ?? ByteBuffer()
        }
        let base = "\(endpoint.scheme.rawValue)://\(endpoint.hostHeader)"
        switch spec.wireProtocol {
        case .envoy:
            for (name, value) in sent + trusted where !value.isEmpty { headers.add(name: name, value: value) }
            if partial { headers.add(name: "x-portcullis-authz-partial-body", value: "true") }
            return try HTTPClient.Request(
                url: base + endpoint.basePath + exchange.target.pathAndQuery, method: exchange.head.method, headers: headers,
                body: body.readableBytes > 0 ? .byteBuffer(body) : nil)
        case .opa:
            headers.add(name: "content-type", value: "application/json")
            let input = Self.opaInput(exchange, headers: sent + trusted, body: body, partial: partial)
            return try HTTPClient.Request(
                url: base + endpoint.basePath, method: .POST, headers: headers, body: .byteBuffer(input))
        case .grpc:
            // Not an HTTP request: the stage sends ``grpcCall(for:authorizer:)`` instead.
            throw HTTPClientError.invalidURL
        }
    }

    /// The gRPC `CheckRequest`'s content: the same headers as the HTTP contract's, the trusted
    /// identity again as `context_extensions`, and the body up to `includeBody`.
    static func grpcCall(for exchange: Exchange, authorizer: ExternalAuthorizer) -> GRPCCheckCall {
        let spec = authorizer.spec
        var headers: [(String, String)] = []
        for name in spec.clientHeaders {
            for value in exchange.head.headers[name] { headers.append((name, value)) }
        }
        let identity = exchange.identity
        let fields = [
            ("x-tenant-id", "tenant_id", identity?.tenant ?? ""), ("x-tenant-plan", "tenant_plan", identity?.plan ?? ""),
            ("x-tenant-org", "tenant_org", identity?.org ?? ""),
        ].filter { !$0.2.isEmpty }
        for (name, _, value) in fields { headers.append((name, value)) }
        headers.append(("x-request-id", exchange.requestID))
        let trusted = fields.map { ($0.1, $0.2) }
        var body: ByteBuffer?
        var partial = false
        let size = exchange.body?.readableBytes ?? 0
        if spec.includeBody > 0, let whole = exchange.body {
            partial = whole.readableBytes > spec.includeBody
            body = whole.getSlice(at: whole.readerIndex, length: min(whole.readableBytes, spec.includeBody))
        }
        return GRPCCheckCall(
            method: exchange.head.method.rawValue, path: exchange.target.pathAndQuery,
            host: exchange.head.headers.first(name: "host") ?? "", scheme: exchange.isTLS ? "https" : "http",
            protocolName: exchange.connection.isHTTP2 ? "HTTP/2" : "HTTP/1.1", requestID: exchange.requestID, headers: headers,
            contextExtensions: trusted, body: body, bodySize: size, partial: partial, sourceAddress: exchange.clientAddress)
    }

    /// `{"input":{"attributes":{"request":{"http":{…}}},"tenant":{…},"route":…,"model":…}}`, the
    /// shape opa-envoy-plugin policies read. `parsed_body` is the JSON body itself (validated
    /// already) when it was sent whole.
    static func opaInput(_ exchange: Exchange, headers: [(String, String)], body: ByteBuffer, partial: Bool) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeStaticString(#"{"input":{"attributes":{"request":{"http":{"method":"#)
        JSONString.writeQuoted(exchange.head.method.rawValue, into: &out)
        out.writeStaticString(#","path":"#)
        JSONString.writeQuoted(exchange.target.pathAndQuery, into: &out)
        out.writeStaticString(#","headers":{"#)
        for (index, (name, value)) in headers.enumerated() {
            if index > 0 { out.writeStaticString(",") }
            JSONString.writeQuoted(name, into: &out)
            out.writeStaticString(":")
            JSONString.writeQuoted(value, into: &out)
        }
        out.writeStaticString("}")
        if body.readableBytes > 0 {
            out.writeStaticString(#","body":"#)
            JSONString.writeQuoted(String(decoding: body.readableBytesView, as: UTF8.self), into: &out)
            if !partial && exchange.request != nil {
                out.writeStaticString(#","parsed_body":"#)
                out.writeImmutableBuffer(body)
            }
        }
        out.writeStaticString(#"}}},"tenant":{"id":"#)
        Self.writeOptional(exchange.identity?.tenant, into: &out)
        out.writeStaticString(#","plan":"#)
        Self.writeOptional(exchange.identity?.plan, into: &out)
        out.writeStaticString(#","org":"#)
        Self.writeOptional(exchange.identity?.org, into: &out)
        out.writeStaticString(#"},"route":"#)
        Self.writeOptional(exchange.route?.name, into: &out)
        out.writeStaticString(#","model":"#)
        Self.writeOptional(exchange.request?.model, into: &out)
        out.writeStaticString("}}")
        return out
    }

    private static func writeOptional(_ text: String?, into out: inout ByteBuffer) {
        if let text { JSONString.writeQuoted(text, into: &out) } else { out.writeStaticString("null") }
    }
}
