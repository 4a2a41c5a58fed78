import Foundation
import NIOCore
import PortcullisConfig
import PortcullisCore
import PortcullisTestSupport
import Testing

@testable import PortcullisConfig
@testable import PortcullisGateway

@Suite("JWKS parsing and JWT validation, without IO")
struct JOSETests {
    static func provider(algorithms: Set<JWSAlgorithm> = [.RS256, .ES256], requireExpiry: Bool = true) -> JWTProviderConfig {
        var spec = JWTProviderSpec(
            name: "idp", issuer: "https://idp.test/", audiences: ["portcullis"], algorithms: algorithms.map(\.rawValue),
            location: .init(path: "x", line: nil))
        spec.jwksURI = "http://127.0.0.1:1/jwks"
        spec.requireExpiry = requireExpiry
        return JWTProviderConfig(spec: spec, algorithms: algorithms)
    }

    static func jwks(_ keys: [[String: Any]]) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: ["keys": keys]))
    }

    @Test func unusableKeysAreSkippedNotFatal() throws {
        let good = try TestSigningKey.rsa(kid: "good")
        let ec = TestSigningKey.es256(kid: "ec")
        var enc = good.jwk(alg: "RS256", use: "enc", kid: "enc")
        enc["use"] = "enc"
        let keys: [[String: Any]] = [
            good.jwk(alg: "RS256"),
            ec.jwk(),
            enc,
            ["kty": "oct", "kid": "sym", "k": "c2VjcmV0"],
            ["kty": "XYZ", "kid": "weird"],
            good.jwk(alg: nil, kid: nil).filter { $0.key != "kid" },
            TestSigningKey.ed25519(kid: "ed").jwk(alg: "EdDSA"),
            ec.jwk(alg: "ES384", kid: "ec-wrong-alg"),
        ]
        let set = try JWKSet.parse(Self.jwks(keys), allowed: [.RS256, .ES256]).get()
        #expect(Set(set.keys.keys) == ["good", "ec"])
        #expect(set.keys["ec"]?.algorithms == [.ES256])
        #expect(set.skipped.count == 6)
    }

    @Test func smallRSAKeysAreRefused() throws {
        // A 1024-bit modulus (random bytes with the top bit set) must not load.
        var n = [UInt8](repeating: 0xAB, count: 128)
        n[0] = 0xC1
        let jwk: [String: Any] = ["kty": "RSA", "kid": "small", "n": Base64URL.encode(n), "e": "AQAB"]
        let result = JWKSet.parse(Self.jwks([jwk]), allowed: [.RS256])
        guard case .failure(.noUsableKeys) = result else {
            Issue.record("a 1024-bit key was accepted")
            return
        }
    }

    @Test func brokenDocumentsAreRefused() {
        #expect((try? JWKSet.parse(Array("<html>".utf8), allowed: [.RS256]).get()) == nil)
        #expect((try? JWKSet.parse(Array(#"{"keys":[]}"#.utf8), allowed: [.RS256]).get()) == nil)
        #expect((try? JWKSet.parse(Array(#"{"nokeys":1}"#.utf8), allowed: [.RS256]).get()) == nil)
        #expect((try? JWKSet.parse(Array(#"{"keys":[],"keys":[]}"#.utf8), allowed: [.RS256]).get()) == nil)
    }

    @Test func aKeyWithoutAlgIsBoundToTheProvidersAlgorithmsAtLoad() throws {
        let rsa = try TestSigningKey.rsa(kid: "k")
        let set = try JWKSet.parse(Self.jwks([rsa.jwk(alg: nil)]), allowed: [.RS256, .ES256]).get()
        #expect(set.keys["k"]?.algorithms == [.RS256])
        let provider = Self.provider()
        let now = Date().timeIntervalSince1970
        // A forged token naming another alg the provider does not allow is refused...
        let forged = try ParsedToken.parse(Substring(try rsa.sign(testClaims(now: now), alg: "RS512")), maxBytes: 16384).get()
        guard case .failure(.tokenAlgorithmNotAllowed) = JWTValidator.validate(forged, provider: provider, keys: set, now: now) else {
            Issue.record("forged alg accepted")
            return
        }
        // ...and does not change how the key is used: the genuine token still verifies.
        let genuine = try ParsedToken.parse(Substring(try rsa.sign(testClaims(now: now), alg: "RS256")), maxBytes: 16384).get()
        #expect((try? JWTValidator.validate(genuine, provider: provider, keys: set, now: now).get()) != nil)
    }

    @Test func validationRules() throws {
        let rsa = try TestSigningKey.rsa(kid: "k")
        let set = try JWKSet.parse(Self.jwks([rsa.jwk(alg: "RS256")]), allowed: [.RS256]).get()
        let provider = Self.provider(algorithms: [.RS256])
        let now = 1_800_000_000.0
        func check(_ claims: [String: Any], kid: String? = nil, expect problem: AuthFailure?) throws {
            let token = try ParsedToken.parse(Substring(try rsa.sign(claims, alg: "RS256", kid: kid)), maxBytes: 16384).get()
            let result = JWTValidator.validate(token, provider: provider, keys: set, now: now)
            switch (result, problem) {
            case (.success, nil): break
            case (.failure(let got), let want?): #expect(got == want)
            default: Issue.record("\(claims): got \(result), wanted \(String(describing: problem))")
            }
        }
        try check(testClaims(now: now), expect: nil)
        try check(testClaims(now: now, extra: ["exp": now - 61]), expect: .tokenExpired)
        try check(testClaims(now: now, extra: ["exp": now - 30]), expect: nil)  // within the 60 s skew
        try check(testClaims(now: now, extra: ["nbf": now + 120]), expect: .tokenNotYetValid)
        try check(testClaims(now: now, extra: ["iat": now + 120]), expect: .tokenIssuedInFuture)
        try check(testClaims(now: now).filter { $0.key != "exp" }, expect: .tokenMissingExpiry)
        try check(testClaims(now: now, extra: ["exp": "soon"]), expect: .tokenBadClaim(.exp))
        try check(testClaims(issuer: "https://evil/", now: now), expect: .tokenUnknownIssuer)
        try check(testClaims(audience: "other", now: now), expect: .tokenWrongAudience)
        try check(testClaims(audience: ["other", "portcullis"], now: now), expect: nil)
        try check(testClaims(tenant: nil, now: now), expect: .tokenBadClaim(.tenant))
        try check(testClaims(tenant: "bad tenant\r\n", now: now), expect: .tokenBadClaim(.tenant))
        try check(testClaims(now: now), kid: "unknown", expect: .tokenUnknownKeyID)
        // NumericDates are finite numbers of seconds between 0 and the end of the year 9999.
        try check(testClaims(now: now, extra: ["exp": 1e308]), expect: .tokenBadClaim(.exp))
        try check(testClaims(now: now, extra: ["exp": 253_402_300_800]), expect: .tokenBadClaim(.exp))
        try check(testClaims(now: now, extra: ["exp": now + 60.5]), expect: nil)
        try check(testClaims(now: now, extra: ["exp": true]), expect: .tokenBadClaim(.exp))
        try check(testClaims(now: now, extra: ["nbf": -1]), expect: .tokenBadClaim(.nbf))
        try check(testClaims(now: now, extra: ["iat": 1e300]), expect: .tokenBadClaim(.iat))
        // Tenant, org and plan travel in headers: one that cannot be carried safely refuses the
        // token; it is never blanked or passed through (a comma would read as two tenants).
        try check(testClaims(tenant: "a,b", now: now), expect: .tokenBadClaim(.tenant))
        try check(testClaims(now: now, extra: ["org": "evil\r\nx-tenant-id: other"]), expect: .tokenBadClaim(.org))
        try check(testClaims(now: now, extra: ["org": ["nested": "object"]]), expect: .tokenBadClaim(.org))
        try check(testClaims(now: now, extra: ["plan": "gold\u{00E9}"]), expect: .tokenBadClaim(.plan))
        try check(testClaims(now: now, extra: ["plan": "a;b"]), expect: .tokenBadClaim(.plan))
        try check(testClaims(now: now, extra: ["org": NSNull(), "plan": "gold"]), expect: nil)
        // The subject is only logged: one that is not plain text is left out, not refused.
        try check(testClaims(now: now, extra: ["sub": "Ünïcode user"]), expect: nil)
    }

    @Test func nestedClaimsMap() throws {
        let claims: [String: Any] = ["realm": ["tenant": "acme", "plan": "gold"], "org.id": "flat"]
        #expect(JWTValidator.claim(claims, "realm.tenant") == .value("acme"))
        #expect(JWTValidator.claim(claims, "org.id") == .value("flat"))
        #expect(JWTValidator.claim(claims, "realm.missing") == .absent)
        #expect(JWTValidator.claim(["n": 42], "n") == .value("42"))
        #expect(JWTValidator.claim(["b": true], "b") == .invalid)
    }

    @Test(arguments: [
        "a.b", "a.b.c.d", "", "x..", "!!!.e30.sig",
    ])
    func malformedTokensAreRefused(token: String) {
        #expect((try? ParsedToken.parse(Substring(token), maxBytes: 16384).get()) == nil)
    }

    @Test func headersWithCritOrDuplicateAlgOrNoneAreRefused() {
        let claims = TestSigningKey.encodeJSON(testClaims())
        let crit = Base64URL.encode(Array(#"{"alg":"RS256","crit":["exp"],"exp":1}"#.utf8))
        #expect((try? ParsedToken.parse(Substring("\(crit).\(claims).c2ln"), maxBytes: 16384).get()) == nil)
        let dup = Base64URL.encode(Array(#"{"alg":"RS256","alg":"HS256"}"#.utf8))
        #expect((try? ParsedToken.parse(Substring("\(dup).\(claims).c2ln"), maxBytes: 16384).get()) == nil)
        #expect((try? ParsedToken.parse(Substring(TestSigningKey.unsigned(testClaims())), maxBytes: 16384).get()) == nil)
        let none = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8))
        #expect((try? ParsedToken.parse(Substring("\(none).\(claims).c2ln"), maxBytes: 16384).get()) == nil)
    }
}

@Suite struct JWKSRefreshPolicyTests {
    @Test func refreshesOnIntervalAndBacksOffOnFailure() {
        var policy = JWKSRefreshPolicy(refreshInterval: .seconds(300), minRefetchInterval: .seconds(30), initialBackoff: .seconds(1))
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        var waits: [Int64] = []
        for success in [true, false, false, false] {
            waits.append((policy.fetchEnded(success: success, at: t0) - t0).nanoseconds / 1_000_000_000)
        }
        #expect(waits == [300, 1, 2, 4])
        for _ in 0..<20 { _ = policy.fetchEnded(success: false, at: t0) }
        let capped = policy.fetchEnded(success: false, at: t0)
        #expect(capped == t0 + .seconds(300))
        let afterSuccess = policy.fetchEnded(success: true, at: t0)
        #expect(afterSuccess == t0 + .seconds(300))
        #expect(policy.consecutiveFailures == 0)
    }

    @Test func unknownKidRefetchesAreRateLimited() {
        var policy = JWKSRefreshPolicy(refreshInterval: .seconds(300), minRefetchInterval: .seconds(30))
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        let decisions = [0, 1, 29, 30].map { policy.allowUnknownKidFetch(at: t0 + .seconds($0)) }
        #expect(decisions == [true, false, false, true])
    }
}

@Suite struct TokenCacheTests {
    @Test func expiresAndFollowsKeyVersionsAndIsBounded() {
        let cache = TokenCache(capacity: 2)
        let identity = Identity(tenant: "t", org: nil, plan: nil, subject: nil, method: .jwt, credentialName: "idp")
        let a = TokenCache.Key(token: "a.b.c")
        cache.insert(a, .init(identity: identity, expiresAt: 100, provider: "idp", keyVersion: 1))
        #expect(cache.lookup(a, now: 50, version: { _ in 1 }) != nil)
        #expect(cache.lookup(a, now: 50, version: { _ in 2 }) == nil)  // keys rotated
        cache.insert(a, .init(identity: identity, expiresAt: 100, provider: "idp", keyVersion: 1))
        #expect(cache.lookup(a, now: 100, version: { _ in 1 }) == nil)  // expired
        for token in ["1", "2", "3"] {
            cache.insert(.init(token: Substring(token)), .init(identity: identity, expiresAt: 100, provider: "idp", keyVersion: 1))
        }
        #expect(cache.count <= 2)
    }
}

@Suite struct TenantSignatureTests {
    @Test func signatureIsAnHMACOverTheDocumentedLines() {
        let value = TenantContextSignature.sign(
            secret: String(repeating: "s", count: 32), keyID: "k1", timestamp: 1_800_000_000, nonce: "n1", method: "POST",
            pathAndQuery: "/v1/chat/completions", requestID: "r1", tenant: "acme", plan: "pro", org: "acme-org",
            limits: "rpm=10")
        #expect(value.hasPrefix("t=1800000000, nonce=n1, keyid=k1, v1="))
        let canonical = "portcullis-v1\n1800000000\nn1\nPOST\n/v1/chat/completions\nr1\nacme\npro\nacme-org\nrpm=10"
        #expect(
            TenantContextSignature.canonical(
                timestamp: 1_800_000_000, nonce: "n1", method: "POST", pathAndQuery: "/v1/chat/completions", requestID: "r1",
                tenant: "acme", plan: "pro", org: "acme-org", limits: "rpm=10") == canonical)
        let nonces = Set((0..<100).map { _ in TenantContextSignature.makeNonce() })
        #expect(nonces.count == 100)
    }
}

@Suite struct BearerParsingTests {
    @Test func parsesTheBearerSchemeStrictly() {
        #expect(AuthenticationStage.bearerToken("Bearer abc.def.ghi") == "abc.def.ghi")
        #expect(AuthenticationStage.bearerToken("  bEaReR   tok  ") == "tok")
        #expect(AuthenticationStage.bearerToken("Bearer") == nil)
        #expect(AuthenticationStage.bearerToken("Bearer ") == nil)
        #expect(AuthenticationStage.bearerToken("Bearer a b") == nil)
        #expect(AuthenticationStage.bearerToken("Basic dXNlcg==") == nil)
        #expect(AuthenticationStage.bearerToken("Bearerx tok") == nil)
        #expect(AuthenticationStage.looksLikeJWT("a.b.c"))
        #expect(!AuthenticationStage.looksLikeJWT("pc-key"))
        #expect(!AuthenticationStage.looksLikeJWT("a.b.c.d"))
    }
}
