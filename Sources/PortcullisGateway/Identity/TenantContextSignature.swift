import Crypto
import PortcullisCore

/// `x-tenant-signature`: lets a backend (or an inference router in front of it) that cannot use
/// mTLS verify that the tenant context came from the gateway, for this request, recently.
///
/// Format: `t=<unix seconds>, nonce=<base64url 16 random bytes>, keyid=<key id>,
/// v1=<base64url HMAC-SHA256>` where the MAC is over the lines (joined by a newline):
///
///     portcullis-v1
///     <t>
///     <nonce>
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
/// nonces it accepted within the window to refuse replays (README shows an example). The nonce
/// is the gateway's own random value: the request id is the client's when it sent a sane one,
/// so it cannot serve as the replay key.
enum TenantContextSignature {
    static func canonical(
        timestamp: Int, nonce: String, method: String, pathAndQuery: String, requestID: String, tenant: String, plan: String,
        org: String, limits: String
    ) -> String {
        ["portcullis-v1", String(timestamp), nonce, method, pathAndQuery, requestID, tenant, plan, org, limits]
            .joined(separator: "\n")
    }

    static func sign(
        secret: String, keyID: String, timestamp: Int, nonce: String = makeNonce(), method: String, pathAndQuery: String,
        requestID: String, tenant: String, plan: String, org: String, limits: String
    ) -> String {
        let message = self.canonical(
            timestamp: timestamp, nonce: nonce, method: method, pathAndQuery: pathAndQuery, requestID: requestID, tenant: tenant,
            plan: plan, org: org, limits: limits)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp), nonce=\(nonce), keyid=\(keyID), v1=\(Base64URL.encode(Array(mac)))"
    }

    /// 16 random bytes, base64url.
    static func makeNonce() -> String {
        var rng = SystemRandomNumberGenerator()
        let a: UInt64 = rng.next()
        let b: UInt64 = rng.next()
        return Base64URL.encode(withUnsafeBytes(of: (a, b)) { Array($0) })
    }
}
