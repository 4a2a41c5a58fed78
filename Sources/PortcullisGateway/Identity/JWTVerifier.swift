import Foundation
import PortcullisConfig
import PortcullisCore

/// A compact JWS split and decoded, before its signature is checked.
struct ParsedToken {
    let algorithm: JWSAlgorithm
    let kid: String?
    let claims: [String: Any]
    let signingInput: [UInt8]
    let signature: [UInt8]

    /// Splits and decodes a compact JWS strictly: three base64url parts, header and claims
    /// strict JSON objects without duplicated keys, a known non-`none` algorithm, no `crit`.
    /// `jku`, `x5u`, `jwk` and `x5c` header parameters are never looked at.
    static func parse(_ token: Substring, maxBytes: Int) -> Result<ParsedToken, AuthFailure> {
        guard token.utf8.count <= maxBytes else { return .failure(.tokenTooLarge) }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.tokenMalformed(.parts)) }
        guard !parts[2].isEmpty else { return .failure(.tokenMalformed(.signature)) }
        guard let headerBytes = Base64URL.decode(parts[0]), let claimBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { return .failure(.tokenMalformed(.base64)) }
        guard StrictJSON.isValidObjectWithoutDuplicateKeys(headerBytes),
            let header = (try? JSONSerialization.jsonObject(with: Data(headerBytes))) as? [String: Any]
        else { return .failure(.tokenMalformed(.header)) }
        guard let algName = header["alg"] as? String else { return .failure(.tokenMalformed(.algorithm)) }
        guard let algorithm = JWSAlgorithm(rawValue: algName) else { return .failure(.tokenAlgorithmUnsupported) }
        if header["crit"] != nil { return .failure(.tokenCriticalHeader) }
        var kid: String?
        if let value = header["kid"] {
            guard let string = value as? String else { return .failure(.tokenMalformed(.keyID)) }
            kid = string
        }
        guard StrictJSON.isValidObjectWithoutDuplicateKeys(claimBytes),
            let claims = (try? JSONSerialization.jsonObject(with: Data(claimBytes))) as? [String: Any]
        else { return .failure(.tokenMalformed(.claims)) }
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        return .success(
            ParsedToken(algorithm: algorithm, kid: kid, claims: claims, signingInput: signingInput, signature: signature))
    }

    var issuer: String? { self.claims["iss"] as? String }
}

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

        guard let tenant = self.claim(token.claims, spec.claims.tenant) else { return .failure(.tokenBadClaim(.tenant)) }
        let identity = Identity(
            tenant: tenant, org: self.claim(token.claims, spec.claims.org), plan: self.claim(token.claims, spec.claims.plan),
            subject: self.claim(token.claims, spec.claims.subject), method: .jwt, credentialName: spec.name)
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

    /// A claim by name, or by dotted path into nested objects (`realm.tenant`). Only strings (and
    /// integers) that are safe as header values are accepted.
    static func claim(_ claims: [String: Any], _ name: String) -> String? {
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
        case let string as String: text = string
        case let number as NSNumber where !isBoolean(number) && number.doubleValue == number.doubleValue.rounded():
            text = number.stringValue
        default: return nil
        }
        guard IdentityText.isSafe(text) else { return nil }
        return text
    }
}

/// Identity values travel in headers: printable ASCII only, 1…256 bytes.
enum IdentityText {
    static func isSafe(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= 256 else { return false }
        return utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }
}
