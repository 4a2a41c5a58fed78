import Foundation
import PortcullisConfig
import PortcullisCore

/// Why a token was refused. `logReason` goes to the access log; `message` to the client. Neither
/// ever contains the token or any part of it.
enum TokenProblem: Error, Equatable {
    case tooLarge
    case malformed(String)
    case unsupportedAlgorithm
    case algorithmNotAllowed
    case critical
    case unknownIssuer
    case unknownKeyID
    case missingKeyID
    case keyAlgorithmMismatch
    case badSignature
    case expired
    case notYetValid
    case issuedInFuture
    case missingExpiry
    case wrongAudience
    case badClaim(String)
    case keysUnavailable

    var logReason: String {
        switch self {
        case .tooLarge: "token_too_large"
        case .malformed: "token_malformed"
        case .unsupportedAlgorithm: "token_alg_unsupported"
        case .algorithmNotAllowed: "token_alg_not_allowed"
        case .critical: "token_crit_unsupported"
        case .unknownIssuer: "token_unknown_issuer"
        case .unknownKeyID: "token_unknown_kid"
        case .missingKeyID: "token_missing_kid"
        case .keyAlgorithmMismatch: "token_key_alg_mismatch"
        case .badSignature: "token_bad_signature"
        case .expired: "token_expired"
        case .notYetValid: "token_not_yet_valid"
        case .issuedInFuture: "token_issued_in_future"
        case .missingExpiry: "token_missing_exp"
        case .wrongAudience: "token_wrong_audience"
        case .badClaim: "token_bad_claim"
        case .keysUnavailable: "jwks_unavailable"
        }
    }

    var message: String {
        switch self {
        case .tooLarge: "The bearer token is too large."
        case .malformed(let what): "The bearer token is malformed (\(what))."
        case .unsupportedAlgorithm, .algorithmNotAllowed: "The bearer token's signing algorithm is not accepted."
        case .critical: "The bearer token requires extensions the gateway does not support."
        case .unknownIssuer: "The bearer token's issuer is not trusted."
        case .unknownKeyID, .missingKeyID, .keyAlgorithmMismatch, .badSignature: "The bearer token's signature could not be verified."
        case .expired: "The bearer token has expired."
        case .notYetValid: "The bearer token is not valid yet."
        case .issuedInFuture: "The bearer token was issued in the future."
        case .missingExpiry: "The bearer token has no expiry."
        case .wrongAudience: "The bearer token is not meant for this service."
        case .badClaim(let claim): "The bearer token's \(claim) claim is missing or invalid."
        case .keysUnavailable: "The token issuer's keys are not available yet."
        }
    }
}

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
    static func parse(_ token: Substring, maxBytes: Int) -> Result<ParsedToken, TokenProblem> {
        guard token.utf8.count <= maxBytes else { return .failure(.tooLarge) }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.malformed("not three parts")) }
        guard !parts[2].isEmpty else { return .failure(.malformed("no signature")) }
        guard let headerBytes = Base64URL.decode(parts[0]), let claimBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { return .failure(.malformed("invalid base64url")) }
        guard StrictJSON.isValidObjectWithoutDuplicateKeys(headerBytes),
            let header = (try? JSONSerialization.jsonObject(with: Data(headerBytes))) as? [String: Any]
        else { return .failure(.malformed("header is not a JSON object")) }
        guard let algName = header["alg"] as? String else { return .failure(.malformed("no alg")) }
        guard let algorithm = JWSAlgorithm(rawValue: algName) else { return .failure(.unsupportedAlgorithm) }
        if header["crit"] != nil { return .failure(.critical) }
        var kid: String?
        if let value = header["kid"] {
            guard let string = value as? String else { return .failure(.malformed("kid is not a string")) }
            kid = string
        }
        guard StrictJSON.isValidObjectWithoutDuplicateKeys(claimBytes),
            let claims = (try? JSONSerialization.jsonObject(with: Data(claimBytes))) as? [String: Any]
        else { return .failure(.malformed("claims are not a JSON object")) }
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
    ) -> Result<Verified, TokenProblem> {
        let spec = provider.spec
        guard token.issuer == spec.issuer else { return .failure(.unknownIssuer) }
        guard provider.algorithms.contains(token.algorithm) else { return .failure(.algorithmNotAllowed) }
        let key: VerificationKey
        if let kid = token.kid, !token.algorithm.isHMAC {
            guard let found = keys.keys[kid] else { return .failure(.unknownKeyID) }
            key = found
        } else if keys.keys.count == 1, let only = keys.keys.values.first {
            key = only
        } else {
            return .failure(.missingKeyID)
        }
        guard key.algorithms.contains(token.algorithm) else { return .failure(.keyAlgorithmMismatch) }
        guard key.verify(signature: token.signature, signingInput: token.signingInput, algorithm: token.algorithm) else {
            return .failure(.badSignature)
        }
        let skew = Double(spec.clockSkewNanos) / 1e9
        let exp = self.number(token.claims["exp"])
        if token.claims["exp"] != nil && exp == nil { return .failure(.badClaim("exp")) }
        if let exp {
            if now > exp + skew { return .failure(.expired) }
        } else if spec.requireExpiry {
            return .failure(.missingExpiry)
        }
        if let raw = token.claims["nbf"] {
            guard let nbf = self.number(raw) else { return .failure(.badClaim("nbf")) }
            if now + skew < nbf { return .failure(.notYetValid) }
        }
        if let raw = token.claims["iat"] {
            guard let iat = self.number(raw) else { return .failure(.badClaim("iat")) }
            if iat > now + skew { return .failure(.issuedInFuture) }
        }
        let audiences: [String]
        switch token.claims["aud"] {
        case let single as String: audiences = [single]
        case let list as [Any]: audiences = list.compactMap { $0 as? String }
        default: audiences = []
        }
        guard audiences.contains(where: { spec.audiences.contains($0) }) else { return .failure(.wrongAudience) }

        guard let tenant = self.claim(token.claims, spec.claims.tenant) else { return .failure(.badClaim("tenant")) }
        let identity = Identity(
            tenant: tenant, org: self.claim(token.claims, spec.claims.org), plan: self.claim(token.claims, spec.claims.plan),
            subject: self.claim(token.claims, spec.claims.subject), method: .jwt, credentialName: spec.name)
        return .success(Verified(identity: identity, expiresAt: exp))
    }

    private static func number(_ value: Any?) -> Double? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        let double = number.doubleValue
        return double.isFinite ? double : nil
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
