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
