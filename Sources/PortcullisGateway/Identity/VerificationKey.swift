import Crypto
import Foundation
import PortcullisConfig
import _CryptoExtras

/// A public key (or HMAC secret) usable to verify JWS signatures, with the algorithms it may be
/// used with fixed when it was loaded. Nothing about a token can widen that set later.
///
/// Why not jwt-kit: jwt-kit 5.8 (`JWKSigner.makeSigner`) builds the signer for a JWK without
/// `alg` from the first token's `alg` header and stores it, so a forged token can decide how a
/// key is used for every token after it; `JWTKeyCollection.getSigner` falls back to the default
/// key when the `kid` is unknown, and `verifyToken` can iterate over other keys. The gateway's
/// rules are the opposite of each, so verification is done here directly with swift-crypto.
struct VerificationKey: Sendable {
    enum Material: Sendable {
        case rsa(_RSA.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
        case hmac(SymmetricKey)
    }

    let kid: String?
    let algorithms: Set<JWSAlgorithm>
    let material: Material

    /// Verifies `signature` over `signingInput` with `algorithm`, which must be one this key
    /// was loaded for.
    func verify(signature: [UInt8], signingInput: [UInt8], algorithm: JWSAlgorithm) -> Bool {
        guard self.algorithms.contains(algorithm) else { return false }
        switch (self.material, algorithm) {
        case (.rsa(let key), .RS256):
            return key.isValidSignature(.init(rawRepresentation: signature), for: SHA256.hash(data: signingInput), padding: .insecurePKCS1v1_5)
        case (.rsa(let key), .RS384):
            return key.isValidSignature(.init(rawRepresentation: signature), for: SHA384.hash(data: signingInput), padding: .insecurePKCS1v1_5)
        case (.rsa(let key), .RS512):
            return key.isValidSignature(.init(rawRepresentation: signature), for: SHA512.hash(data: signingInput), padding: .insecurePKCS1v1_5)
        case (.rsa(let key), .PS256):
            return key.isValidSignature(.init(rawRepresentation: signature), for: SHA256.hash(data: signingInput), padding: .PSS)
        case (.rsa(let key), .PS384):
            return key.isValidSignature(.init(rawRepresentation: signature), for: SHA384.hash(data: signingInput), padding: .PSS)
        case (.rsa(let key), .PS512):
            return key.isValidSignature(.init(rawRepresentation: signature), for: SHA512.hash(data: signingInput), padding: .PSS)
        case (.p256(let key), .ES256):
            guard signature.count == 64, let sig = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else {
                return false
            }
            return key.isValidSignature(sig, for: SHA256.hash(data: signingInput))
        case (.p384(let key), .ES384):
            guard signature.count == 96, let sig = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else {
                return false
            }
            return key.isValidSignature(sig, for: SHA384.hash(data: signingInput))
        case (.ed25519(let key), .EdDSA):
            return signature.count == 64 && key.isValidSignature(signature, for: signingInput)
        case (.hmac(let key), .HS256):
            return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key)
        case (.hmac(let key), .HS384):
            return HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key)
        case (.hmac(let key), .HS512):
            return HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key)
        default:
            return false
        }
    }
}

/// A JWKS turned into verification keys by `kid`. Built once per fetch and never changed; a
/// refresh builds a new set and swaps it in.
struct JWKSet: Sendable {
    let keys: [String: VerificationKey]
    /// Keys that were skipped and why (for the log; never fatal to the set).
    let skipped: [String]
    /// Identity of the usable key material, to tell a real rotation from a refetch of the same set.
    let fingerprint: String

    enum Problem: Error, Equatable, CustomStringConvertible {
        case notJSON
        case noKeysMember
        case noUsableKeys(skipped: [String])

        var description: String {
            switch self {
            case .notJSON: "the JWKS is not a JSON object"
            case .noKeysMember: "the JWKS has no 'keys' array"
            case .noUsableKeys(let skipped): "the JWKS has no usable key (\(skipped.joined(separator: "; ")))"
            }
        }
    }

    static let rsaAlgorithms: Set<JWSAlgorithm> = [.RS256, .RS384, .RS512, .PS256, .PS384, .PS512]

    /// Parses a JWKS document. Unusable keys (unsupported type, RSA under 2048 bits,
    /// `use: enc`, no `kid`, an `alg` the provider does not allow, symmetric keys, duplicated
    /// `kid`) are skipped; the set fails only when nothing usable remains.
    static func parse(_ data: [UInt8], allowed: Set<JWSAlgorithm>) -> Result<JWKSet, Problem> {
        guard StrictJSON.isValidObjectWithoutDuplicateKeys(data),
            let object = (try? JSONSerialization.jsonObject(with: Data(data))) as? [String: Any]
        else { return .failure(.notJSON) }
        guard let list = object["keys"] as? [Any] else { return .failure(.noKeysMember) }
        var keys: [String: VerificationKey] = [:]
        var duplicated: Set<String> = []
        var skipped: [String] = []
        var fingerprint: [String] = []
        for (index, item) in list.enumerated() {
            guard let jwk = item as? [String: Any] else {
                skipped.append("key \(index): not an object")
                continue
            }
            switch self.key(from: jwk, allowed: allowed) {
            case .success(let key):
                let kid = key.kid!
                if keys[kid] != nil || duplicated.contains(kid) {
                    // Two keys under one kid: refuse to guess which one a token means.
                    keys[kid] = nil
                    duplicated.insert(kid)
                    skipped.append("kid \(kid): duplicated")
                } else {
                    keys[kid] = key
                    fingerprint.append(kid + ":" + (jwk["n"] as? String ?? "") + (jwk["x"] as? String ?? "") + (jwk["y"] as? String ?? "")
                        + ":" + key.algorithms.map(\.rawValue).sorted().joined(separator: ","))
                }
            case .failure(let reason):
                let kid = (jwk["kid"] as? String).map { "kid \($0)" } ?? "key \(index)"
                skipped.append("\(kid): \(reason)")
            }
        }
        guard !keys.isEmpty else { return .failure(.noUsableKeys(skipped: skipped)) }
        return .success(JWKSet(keys: keys, skipped: skipped, fingerprint: fingerprint.sorted().joined(separator: "|")))
    }

    private struct SkipReason: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private static func key(from jwk: [String: Any], allowed: Set<JWSAlgorithm>) -> Result<VerificationKey, SkipReason> {
        guard let kid = jwk["kid"] as? String, !kid.isEmpty else { return .failure(SkipReason("no kid")) }
        if let use = jwk["use"] {
            guard (use as? String) == "sig" else { return .failure(SkipReason("use is not sig")) }
        }
        if let ops = jwk["key_ops"] {
            guard let list = ops as? [String], list.contains("verify") else { return .failure(SkipReason("key_ops lacks verify")) }
        }
        var declared: JWSAlgorithm?
        if let alg = jwk["alg"] {
            guard let name = alg as? String, let algorithm = JWSAlgorithm(rawValue: name) else {
                return .failure(SkipReason("unsupported alg"))
            }
            guard allowed.contains(algorithm) else { return .failure(SkipReason("alg \(name) not allowed by the provider")) }
            declared = algorithm
        }
        func usable(_ family: Set<JWSAlgorithm>) -> Set<JWSAlgorithm> {
            if let declared { return family.contains(declared) ? [declared] : [] }
            return family.intersection(allowed)
        }
        func bytes(_ member: String) -> [UInt8]? {
            (jwk[member] as? String).flatMap { Base64URLStrict.decode($0) }
        }
        guard let kty = jwk["kty"] as? String else { return .failure(SkipReason("no kty")) }
        switch kty {
        case "RSA":
            let algorithms = usable(self.rsaAlgorithms)
            guard !algorithms.isEmpty else { return .failure(SkipReason("no allowed algorithm for an RSA key")) }
            guard let n = bytes("n"), let e = bytes("e"), !n.isEmpty, !e.isEmpty else {
                return .failure(SkipReason("bad RSA parameters"))
            }
            // swift-crypto refuses moduli under 2048 bits here.
            guard let key = try? _RSA.Signing.PublicKey(n: n, e: e) else {
                return .failure(SkipReason("RSA key refused (under 2048 bits or malformed)"))
            }
            return .success(VerificationKey(kid: kid, algorithms: algorithms, material: .rsa(key)))
        case "EC":
            guard let x = bytes("x"), let y = bytes("y") else { return .failure(SkipReason("bad EC parameters")) }
            switch jwk["crv"] as? String {
            case "P-256":
                let algorithms = usable([.ES256])
                guard !algorithms.isEmpty else { return .failure(SkipReason("ES256 not allowed")) }
                guard x.count == 32, y.count == 32, let key = try? P256.Signing.PublicKey(rawRepresentation: x + y) else {
                    return .failure(SkipReason("bad P-256 point"))
                }
                return .success(VerificationKey(kid: kid, algorithms: algorithms, material: .p256(key)))
            case "P-384":
                let algorithms = usable([.ES384])
                guard !algorithms.isEmpty else { return .failure(SkipReason("ES384 not allowed")) }
                guard x.count == 48, y.count == 48, let key = try? P384.Signing.PublicKey(rawRepresentation: x + y) else {
                    return .failure(SkipReason("bad P-384 point"))
                }
                return .success(VerificationKey(kid: kid, algorithms: algorithms, material: .p384(key)))
            default:
                return .failure(SkipReason("unsupported curve"))
            }
        case "OKP":
            guard jwk["crv"] as? String == "Ed25519" else { return .failure(SkipReason("unsupported OKP curve")) }
            let algorithms = usable([.EdDSA])
            guard !algorithms.isEmpty else { return .failure(SkipReason("EdDSA not allowed")) }
            guard let x = bytes("x"), x.count == 32, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x) else {
                return .failure(SkipReason("bad Ed25519 key"))
            }
            return .success(VerificationKey(kid: kid, algorithms: algorithms, material: .ed25519(key)))
        case "oct":
            return .failure(SkipReason("symmetric keys are never taken from a JWKS"))
        default:
            return .failure(SkipReason("unsupported kty \(kty)"))
        }
    }
}

import PortcullisCore

/// Strict base64url for `String` values.
enum Base64URLStrict {
    static func decode(_ text: String) -> [UInt8]? {
        Base64URL.decode(Substring(text))
    }
}

/// JSON checks Foundation does not make: strict grammar and no duplicated keys at the top level
/// (a JOSE header or claim set with two `alg` or two `exp` is refused rather than resolved).
enum StrictJSON {
    static func isValidObjectWithoutDuplicateKeys(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw, maxDepth: 32)
            let view = JSONView(raw)
            var seen: Set<String> = []
            var duplicate = false
            do {
                let isObject = try scanner.scanTopLevelObject { (member: JSONScanner.Member) throws(JSONScanner.ScanError) in
                    if !seen.insert(view.keyString(member)).inserted { duplicate = true }
                }
                return isObject && !duplicate
            } catch {
                return false
            }
        }
    }
}
