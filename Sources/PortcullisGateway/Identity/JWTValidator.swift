import Foundation
import PortcullisConfig
import PortcullisCore

/// Checks a parsed token against one provider's keys and rules, and maps its claims to an
/// identity. Pure: the key set and the current time are passed in.
enum JWTValidator {
    struct Verified {
        var identity: Identity
        /// Seconds since the epoch at which the token expires, if it does.
        var expiresAt: Double?
    }

    static func validate(
        _ token: ParsedToken, provider: JWTProviderConfig, keys: JWKSet, now: Double
    ) -> Result<Verified, AuthFailure> {
        let spec = provider.spec
        guard token.issuer == spec.issuer else { return .failure(.tokenUnknownIssuer) }
        guard provider.algorithms.contains(token.algorithm) else { return .failure(.tokenAlgorithmNotAllowed) }
        let key: VerificationKey
        if let kid = token.kid, !token.algorithm.isHMAC {
            guard let found = keys.keys[kid] else { return .failure(.tokenUnknownKeyID) }
            key = found
        } else if keys.keys.count == 1, let only = keys.keys.values.first {
            key = only
        } else {
            return .failure(.tokenMissingKeyID)
        }
        guard key.algorithms.contains(token.algorithm) else { return .failure(.tokenKeyAlgorithmMismatch) }
        guard key.verify(signature: token.signature, signingInput: token.signingInput, algorithm: token.algorithm) else {
            return .failure(.tokenBadSignature)
        }
        let skew = Double(spec.clockSkewNanos) / 1e9
        let exp = self.number(token.claims["exp"])
        if token.claims["exp"] != nil && exp == nil { return .failure(.tokenBadClaim(.exp)) }
        if let exp {
            if now > exp + skew { return .failure(.tokenExpired) }
        } else if spec.requireExpiry {
            return .failure(.tokenMissingExpiry)
        }
        if let raw = token.claims["nbf"] {
            guard let nbf = self.number(raw) else { return .failure(.tokenBadClaim(.nbf)) }
            if now + skew < nbf { return .failure(.tokenNotYetValid) }
        }
        if let raw = token.claims["iat"] {
            guard let iat = self.number(raw) else { return .failure(.tokenBadClaim(.iat)) }
            if iat > now + skew { return .failure(.tokenIssuedInFuture) }
        }
        let audiences: [String]
        switch token.claims["aud"] {
        case let single as String: audiences = [single]
        case let list as [Any]: audiences = list.compactMap { $0 as? String }
        default: audiences = []
        }
        guard audiences.contains(where: { spec.audiences.contains($0) }) else { return .failure(.tokenWrongAudience) }

        // Tenant, org and plan go to the backend in headers: one that cannot be carried safely
        // refuses the token (never blanked: a blanked plan would also drop the tenant's limits).
        guard case .value(let tenant) = self.claim(token.claims, spec.claims.tenant) else {
            return .failure(.tokenBadClaim(.tenant))
        }
        let org: String?
        switch self.claim(token.claims, spec.claims.org) {
        case .absent: org = nil
        case .value(let value): org = value
        case .invalid: return .failure(.tokenBadClaim(.org))
        }
        let plan: String?
        switch self.claim(token.claims, spec.claims.plan) {
        case .absent: plan = nil
        case .value(let value): plan = value
        case .invalid: return .failure(.tokenBadClaim(.plan))
        }
        // The subject is only logged (escaped), never sent on: one that is not plain text is left out.
        let subject: String?
        if case .value(let value) = self.claim(token.claims, spec.claims.subject) { subject = value } else { subject = nil }
        let identity = Identity(
            tenant: tenant, org: org, plan: plan, subject: subject, method: .jwt, credentialName: spec.name)
        return .success(Verified(identity: identity, expiresAt: exp))
    }

    /// Latest time a `exp`, `nbf` or `iat` may name: the end of the year 9999 (RFC 7519 says
    /// NumericDate; a validly signed `exp: 1e308` is a token that never expires, and is refused).
    static let latestNumericDate = 253_402_300_799.0

    /// A NumericDate: an integer or finite number of seconds, 0…``latestNumericDate``.
    static func number(_ value: Any?) -> Double? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        let double = number.doubleValue
        guard double.isFinite, double >= 0, double <= Self.latestNumericDate else { return nil }
        return double
    }

    /// JSON `true`/`false` also arrive as `NSNumber`; their Objective-C type code is `c`.
    static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    /// What a claim held.
    enum ClaimValue: Equatable {
        /// Not there (or JSON `null`).
        case absent
        case value(String)
        /// There, but not a string or integer that is safe as a header value (``IdentityText``).
        case invalid
    }

    /// A claim by name, or by dotted path into nested objects (`realm.tenant`). Only strings (and
    /// integers) that are safe as header values are accepted.
    static func claim(_ claims: [String: Any], _ name: String) -> ClaimValue {
        var value: Any? = claims[name]
        if value == nil && name.contains(".") {
            var current: Any? = claims
            for part in name.split(separator: ".") {
                current = (current as? [String: Any])?[String(part)]
            }
            value = current
        }
        let text: String
        switch value {
        case nil, is NSNull: return .absent
        case let string as String: text = string
        case let number as NSNumber where !isBoolean(number) && number.doubleValue == number.doubleValue.rounded():
            text = number.stringValue
        default: return .invalid
        }
        guard IdentityText.isSafe(text) else { return .invalid }
        return .value(text)
    }
}
