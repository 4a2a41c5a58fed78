import PortcullisConfig
import PortcullisCore

/// The header edits an allowed check asks Envoy to make upstream, on the same rules the
/// gateway's own forwarder writes by (``UpstreamRequestHead``): the trusted tenant context
/// set (signed when the routed backend asks for it), and every client header that could
/// pass for it removed.
enum CheckHeaders {
    /// `x-request-id`, `x-tenant-id`, `-plan`, `-org`, `-limits` and `x-tenant-signature`,
    /// then what a nested external check set, and its fail-open marker.
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
        // A nested check that failed open says so to the backend, as the forwarder does.
        if exchange.authorizationSkipped { set.append(.init("x-portcullis-authz-failure-mode-allowed", "true")) }
        return set
    }

    /// The client's headers that must not reach the backend, by the forwarder's own rule
    /// (``HeaderRules/isWithheldFromBackend(_:forwardCredentials:authentication:checkReserved:)``),
    /// what a nested check removed, and the two address claims Envoy leaves alone
    /// (`x-real-ip`, `forwarded`; Envoy itself owns `x-forwarded-*`, `host` and the framing,
    /// which the forwarder replaces instead). A name the answer sets is not listed (the set
    /// already replaces it, and Envoy would apply the removal after it).
    static func removed(_ exchange: Exchange, setting set: [CheckVerdict.Header], appending append: [CheckVerdict.Header]) -> [String] {
        let authentication = exchange.snapshot.config.authentication
        let forwardCredentials = exchange.route?.forwardClientCredentials ?? false
        var removed: [String] = []
        for (name, _) in exchange.head.headers {
            let lowercased = name.lowercased()
            guard
                HeaderRules.isWithheldFromBackend(
                    lowercased, forwardCredentials: forwardCredentials, authentication: authentication, checkReserved: true)
                    || lowercased == "x-real-ip" || lowercased == "forwarded" || exchange.authorizationRemoved.contains(lowercased)
            else { continue }
            // Envoy removes after it adds: a name the answer sets or appends is never removed.
            if set.contains(where: { $0.name == lowercased }) || append.contains(where: { $0.name == lowercased })
                || removed.contains(lowercased)
            {
                continue
            }
            removed.append(lowercased)
        }
        return removed
    }
}
