import Crypto
import Foundation
import PortcullisCore
import _CryptoExtras

/// Signing keys made by the tests and the JWTs they sign, plus their public JWKs.
public struct TestSigningKey: Sendable {
    public enum Material: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    public let kid: String
    public let material: Material

    public static func rsa(kid: String, bits: Int = 2048) throws -> TestSigningKey {
        let size: _RSA.Signing.KeySize = bits == 2048 ? .bits2048 : (bits == 3072 ? .bits3072 : .bits4096)
        return TestSigningKey(kid: kid, material: .rsa(try _RSA.Signing.PrivateKey(keySize: size)))
    }

    public static func es256(kid: String) -> TestSigningKey {
        TestSigningKey(kid: kid, material: .p256(P256.Signing.PrivateKey()))
    }

    public static func es384(kid: String) -> TestSigningKey {
        TestSigningKey(kid: kid, material: .p384(P384.Signing.PrivateKey()))
    }

    public static func ed25519(kid: String) -> TestSigningKey {
        TestSigningKey(kid: kid, material: .ed25519(Curve25519.Signing.PrivateKey()))
    }

    /// The public JWK. `alg` is included unless nil.
    public func jwk(alg: String? = nil, use: String? = "sig", kid: String? = nil) -> [String: Any] {
        var jwk: [String: Any] = ["kid": kid ?? self.kid]
        if let alg { jwk["alg"] = alg }
        if let use { jwk["use"] = use }
        switch self.material {
        case .rsa(let key):
            let (n, e) = Self.rsaComponents(key.publicKey.derRepresentation)
            jwk["kty"] = "RSA"
            jwk["n"] = Base64URL.encode(n)
            jwk["e"] = Base64URL.encode(e)
        case .p256(let key):
            let raw = key.publicKey.rawRepresentation
            jwk["kty"] = "EC"
            jwk["crv"] = "P-256"
            jwk["x"] = Base64URL.encode(raw.prefix(32))
            jwk["y"] = Base64URL.encode(raw.suffix(32))
        case .p384(let key):
            let raw = key.publicKey.rawRepresentation
            jwk["kty"] = "EC"
            jwk["crv"] = "P-384"
            jwk["x"] = Base64URL.encode(raw.prefix(48))
            jwk["y"] = Base64URL.encode(raw.suffix(48))
        case .ed25519(let key):
            jwk["kty"] = "OKP"
            jwk["crv"] = "Ed25519"
            jwk["x"] = Base64URL.encode(key.publicKey.rawRepresentation)
        }
        return jwk
    }

    /// The RSA public key in DER (SubjectPublicKeyInfo), for the "HS256 with the public key as secret" attack.
    public var publicKeyDER: [UInt8] {
        switch self.material {
        case .rsa(let key): Array(key.publicKey.derRepresentation)
        case .p256(let key): Array(key.publicKey.derRepresentation)
        case .p384(let key): Array(key.publicKey.derRepresentation)
        case .ed25519(let key): Array(key.publicKey.rawRepresentation)
        }
    }

    public var publicKeyPEM: String {
        switch self.material {
        case .rsa(let key): key.publicKey.pemRepresentation
        case .p256(let key): key.publicKey.pemRepresentation
        case .p384(let key): key.publicKey.pemRepresentation
        case .ed25519: ""
        }
    }

    /// Signs `claims` with `alg`, putting this key's kid (or `kid`, or none when `includeKid` is false) in the header.
    public func sign(
        _ claims: [String: Any], alg: String, kid: String? = nil, includeKid: Bool = true, extraHeader: [String: Any] = [:]
    ) throws -> String {
        var header: [String: Any] = ["alg": alg, "typ": "JWT"]
        if includeKid { header["kid"] = kid ?? self.kid }
        for (k, v) in extraHeader { header[k] = v }
        let input = Self.encodeJSON(header) + "." + Self.encodeJSON(claims)
        let data = Array(input.utf8)
        let signature: [UInt8]
        switch (self.material, alg) {
        case (.rsa(let key), "RS256"):
            signature = Array(try key.signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.rsa(let key), "RS384"):
            signature = Array(try key.signature(for: SHA384.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.rsa(let key), "RS512"):
            signature = Array(try key.signature(for: SHA512.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.rsa(let key), "PS256"):
            signature = Array(try key.signature(for: SHA256.hash(data: data), padding: .PSS).rawRepresentation)
        case (.p256(let key), "ES256"):
            signature = Array(try key.signature(for: SHA256.hash(data: data)).rawRepresentation)
        case (.p384(let key), "ES384"):
            signature = Array(try key.signature(for: SHA384.hash(data: data)).rawRepresentation)
        case (.ed25519(let key), "EdDSA"):
            signature = Array(try key.signature(for: data))
        default:
            throw TestFailure("cannot sign \(alg) with this key")
        }
        return input + "." + Base64URL.encode(signature)
    }

    /// An HMAC-signed token (for secret providers and for key-confusion attacks).
    public static func signHMAC(_ claims: [String: Any], secret: [UInt8], alg: String = "HS256", kid: String? = nil) -> String {
        var header: [String: Any] = ["alg": alg, "typ": "JWT"]
        if let kid { header["kid"] = kid }
        let input = encodeJSON(header) + "." + encodeJSON(claims)
        let key = SymmetricKey(data: secret)
        let mac: [UInt8]
        switch alg {
        case "HS384": mac = Array(HMAC<SHA384>.authenticationCode(for: Array(input.utf8), using: key))
        case "HS512": mac = Array(HMAC<SHA512>.authenticationCode(for: Array(input.utf8), using: key))
        default: mac = Array(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key))
        }
        return input + "." + Base64URL.encode(mac)
    }

    /// An unsigned `alg: none` token.
    public static func unsigned(_ claims: [String: Any]) -> String {
        encodeJSON(["alg": "none", "typ": "JWT"]) + "." + encodeJSON(claims) + "."
    }

    public static func encodeJSON(_ object: [String: Any]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return Base64URL.encode(Array(data))
    }

    /// n and e from an RSA SubjectPublicKeyInfo (minimal DER walk, enough for keys we made).
    static func rsaComponents(_ der: Data) -> ([UInt8], [UInt8]) {
        let bytes = Array(der)
        var i = 0
        func readLength() -> Int {
            var length = Int(bytes[i])
            i += 1
            if length & 0x80 != 0 {
                let count = length & 0x7F
                length = 0
                for _ in 0..<count {
                    length = length << 8 | Int(bytes[i])
                    i += 1
                }
            }
            return length
        }
        func readInteger() -> [UInt8] {
            precondition(bytes[i] == 0x02)
            i += 1
            let length = readLength()
            var value = Array(bytes[i..<(i + length)])
            i += length
            while value.first == 0 && value.count > 1 { value.removeFirst() }
            return value
        }
        // SEQUENCE { SEQUENCE { alg }, BIT STRING { SEQUENCE { INTEGER n, INTEGER e } } }
        i += 1; _ = readLength()  // outer SEQUENCE
        i += 1; let algLength = readLength(); i += algLength  // AlgorithmIdentifier
        i += 1; _ = readLength(); i += 1  // BIT STRING + unused-bits byte
        i += 1; _ = readLength()  // RSAPublicKey SEQUENCE
        let n = readInteger()
        let e = readInteger()
        return (n, e)
    }
}

/// Standard claims for tests: issuer, audience, tenant and a one-hour lifetime.
public func testClaims(
    issuer: String = "https://idp.test/", audience: Any = "portcullis", tenant: String? = "acme", now: Double = Date().timeIntervalSince1970,
    extra: [String: Any] = [:]
) -> [String: Any] {
    var claims: [String: Any] = ["iss": issuer, "aud": audience, "sub": "user-1", "iat": Int(now), "exp": Int(now) + 3600]
    if let tenant { claims["tenant"] = tenant }
    for (k, v) in extra { claims[k] = v }
    return claims
}
