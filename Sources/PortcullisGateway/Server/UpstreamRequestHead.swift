import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// The request head sent upstream, built from the client's head in one pass.
///
/// Dropped: hop-by-hop headers (and any named in `Connection`), names containing `_` (CGI-style
/// backends fold `X_Tenant_Id` into `X-Tenant-Id`, which would defeat the stripping), the
/// headers the gateway sets itself (`Host`, `Content-Length`, `Expect`, `x-request-id`,
/// `x-forwarded-*`, `Forwarded`), the reserved `x-tenant-*` family and configured reserved
/// names, and the client's own credential unless the route opts in. Added: the gateway's
/// `Host`, length, request id, forwarding headers and the trusted tenant context, signed when
/// the backend asks for it.
enum UpstreamRequestHead {
    static func build(_ exchange: Exchange, endpoint: UpstreamEndpoint) -> HTTPRequestHead {
        let client = exchange.head.headers
        let authentication = exchange.snapshot.config.authentication
        let checkConfiguredReserved = !authentication.reservedExact.isEmpty || !authentication.reservedPrefixes.isEmpty
        let forwardCredentials = exchange.route?.forwardClientCredentials ?? false
        let tokens = HeaderRules.connectionTokens(client)
        var headers = HTTPHeaders()
        headers.reserveCapacity(client.count + 8)
        headers.add(name: "host", value: endpoint.hostHeader)
        for (name, value) in client {
            if name.utf8.contains(UInt8(ascii: "_")) || HeaderRules.isHopByHop(name) || HeaderRules.isReplacedUpstream(name)
                || HeaderRules.isListed(name, in: tokens)
                || HeaderRules.hasPrefixIgnoringCase(name, "x-tenant-")
                || (!forwardCredentials && HeaderRules.isClientCredential(name))
                || (checkConfiguredReserved && authentication.isReserved(name.lowercased()))
            {
                continue
            }
            headers.add(name: name, value: value)
        }
        headers.add(name: "content-length", value: String(exchange.body?.readableBytes ?? 0))
        headers.add(name: "x-request-id", value: exchange.requestID)
        if let address = exchange.clientAddress {
            headers.add(name: "x-forwarded-for", value: address)
        }
        headers.add(name: "x-forwarded-proto", value: exchange.isTLS ? "https" : "http")
        let uri = endpoint.basePath.isEmpty ? exchange.target.pathAndQuery : endpoint.basePath + exchange.target.pathAndQuery
        if let identity = exchange.identity {
            let limits = identity.plan.flatMap { exchange.snapshot.config.tenants.plans[$0]?.limitsHeader } ?? ""
            headers.add(name: "x-tenant-id", value: identity.tenant)
            headers.add(name: "x-tenant-plan", value: identity.plan ?? "")
            headers.add(name: "x-tenant-org", value: identity.org ?? "")
            headers.add(name: "x-tenant-limits", value: limits)
            if let signing = exchange.route?.backend.signContext {
                headers.add(
                    name: "x-tenant-signature",
                    value: TenantContextSignature.sign(
                        secret: signing.secret, keyID: signing.keyID, timestamp: Int(exchange.receivedAtWall / 1000),
                        method: exchange.head.method.rawValue, pathAndQuery: uri, requestID: exchange.requestID,
                        tenant: identity.tenant, plan: identity.plan ?? "", org: identity.org ?? "", limits: limits))
            }
        }
        return HTTPRequestHead(version: .http1_1, method: exchange.head.method, uri: uri, headers: headers)
    }
}
