import PortcullisConfig
import PortcullisCore

/// The header edits an allowed check asks Envoy to make upstream, on the same rules the
/// gateway's own forwarder writes by (``UpstreamRequestHead``): the trusted tenant context
/// set (signed when the routed backend asks for it), and every client header that could
/// pass for it removed.
enum CheckHeaders {
    /// `x-request-id`, `x-tenant-id`, `-plan`, `-org`, `-limits` and `x-tenant-signature`,
    /// then what a nested external check set.
    static func trusted(_ exchange: Exchange) -> [CheckVerdict.Header] {
        var set: [CheckVerdict.Header] = [.init("x-request-id", exchange.requestID)]
        if let identity = exchange.identity {
            let limits = exchange.plan?.limitsHeader ?? ""
            set.append(.init("x-tenant-id", identity.tenant))
            set.append(.init("x-tenant-plan", identity.plan ?? ""))
            set.append(.init("x-tenant-org", identity.org ?? ""))
            set.append(.init("x-tenant-limits", limits))
            if let signing = exchange.backend?.signContext {
                let signature = TenantContextSignature.sign(
                    secret: signing.secret, keyID: signing.keyID, timestamp: Int(exchange.receivedAtWall / 1000),
                    method: exchange.head.method.rawValue, pathAndQuery: exchange.target.pathAndQuery, requestID: exchange.requestID,
                    tenant: identity.tenant, plan: identity.plan ?? "", org: identity.org ?? "", limits: limits)
                set.append(.init("x-tenant-signature", signature))
            }
        }
        for (name, value) in exchange.authorizationHeaders where !set.contains(where: { $0.name == name }) {
            set.append(.init(name, value))
        }
        return set
    }

    /// The client's headers that must not reach the backend: the `x-tenant-*` family and
    /// `x-portcullis-*`, names with `_`, configured reserved names, and the client's own
    /// credential unless the route forwards it. A name the answer sets is not listed (the set
    /// already replaces it, and Envoy would apply the removal after it).
    static func removed(_ exchange: Exchange, setting set: [CheckVerdict.Header]) -> [String] {
        let authentication = exchange.snapshot.config.authentication
        let forwardCredentials = exchange.route?.forwardClientCredentials ?? false
        var removed: [String] = []
        for (name, _) in exchange.head.headers {
            let lowercased = name.lowercased()
            guard
                lowercased.utf8.contains(UInt8(ascii: "_")) || lowercased.hasPrefix("x-tenant-") || lowercased.hasPrefix("x-portcullis-")
                    || (!forwardCredentials && HeaderRules.isClientCredential(lowercased)) || authentication.isReserved(lowercased)
                    || exchange.authorizationRemoved.contains(lowercased)
            else { continue }
            if set.contains(where: { $0.name == lowercased }) || removed.contains(lowercased) { continue }
            removed.append(lowercased)
        }
        return removed
    }
}
