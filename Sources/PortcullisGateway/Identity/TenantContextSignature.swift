import Crypto
import PortcullisCore

/// `x-tenant-signature`: lets a backend (or an inference router in front of it) that cannot use
/// mTLS verify that the tenant context came from the gateway, for this request, recently.
///
/// Format: `t=<unix seconds>, keyid=<key id>, v1=<base64url HMAC-SHA256>` where the MAC is over
/// the lines (joined by a newline):
///
///     portcullis-v1
///     <t>
///     <method>
///     <path and query as sent upstream>
///     <x-request-id>
///     <x-tenant-id>
///     <x-tenant-plan>
///     <x-tenant-org>
///     <x-tenant-limits>
///
/// A verifier recomputes the MAC with the shared secret, compares in constant time, refuses
/// timestamps more than its window (for example 60 s) away from its clock, and remembers the
/// request ids it accepted within the window to refuse replays (README shows an example).
enum TenantContextSignature {
    static func canonical(
        timestamp: Int, method: String, pathAndQuery: String, requestID: String, tenant: String, plan: String, org: String,
        limits: String
    ) -> String {
        ["portcullis-v1", String(timestamp), method, pathAndQuery, requestID, tenant, plan, org, limits].joined(separator: "\n")
    }

    static func sign(
        secret: String, keyID: String, timestamp: Int, method: String, pathAndQuery: String, requestID: String,
        tenant: String, plan: String, org: String, limits: String
    ) -> String {
        let message = self.canonical(
            timestamp: timestamp, method: method, pathAndQuery: pathAndQuery, requestID: requestID, tenant: tenant, plan: plan,
            org: org, limits: limits)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp), keyid=\(keyID), v1=\(Base64URL.encode(Array(mac)))"
    }
}
