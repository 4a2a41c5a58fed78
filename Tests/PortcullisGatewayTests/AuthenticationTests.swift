import Crypto
import Foundation
import NIOCore
import PortcullisCore
import PortcullisTestSupport
import Testing

/// Keys and config shared by the authentication tests.
struct AuthFixture {
    static let acmeKey = "pc-acme-0123456789abcdef"
    static let disabledKey = "pc-acme-disabled-01234567"
    static let betaKey = "pc-beta-0123456789abcdef"

    static func sha(_ key: String) -> String {
        SHA256.hash(data: Array(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func yaml(
        mockURL: String, jwks: String, refresh: String = "300ms", minRefetch: String = "200ms", algorithms: String = "[RS256, ES256]",
        accessLog: String = "off", extraBackend: String = "", routeExtra: String = "", extra: String = ""
    ) -> String {
        """
        listeners: [{ name: main, address: 127.0.0.1:0 }]
        accessLog: { destination: \(accessLog) }
        authentication:
          requireKnownTenant: false   # these tests also call as tenants the table does not list
          jwt:
            - name: idp
              issuer: https://idp.test/
              audiences: [portcullis]
              algorithms: \(algorithms)
              jwks: { uri: "\(jwks)", refresh: \(refresh), minRefetchInterval: \(minRefetch), timeout: 2s }
              claims: { tenant: tenant, plan: plan }
          apiKeys:
            - { name: acme-key, tenant: acme, sha256: \(sha(acmeKey)) }
            - { name: old-key, tenant: acme, sha256: \(sha(disabledKey)), disabled: true }
            - { name: beta-key, tenant: beta, sha256: \(sha(betaKey)) }
        tenants:
          acme: { plan: pro, org: acme-corp }
          frozen: { plan: pro, disabled: true }
        plans:
          pro: { limits: { requestsPerMinute: 600, burst: 50, concurrency: 8, tokensPerHour: 1000000, maxTokens: 4096 } }
        backends:
          mock:
            endpoints: [\(mockURL)]
        \(extraBackend)
        routes:
          - name: chat
            match: { model: demo-chat }
            backend: mock
        \(routeExtra)
        \(extra)
        """
    }
}

/// Runs `body` with a mock process, a JWKS server publishing `keys`, and a gateway configured by `yaml`.
func withAuthGateway(
    keys: [[String: Any]], yaml: (String, String) -> String, waitForKeys: Bool = true,
    _ body: (GatewayHarness, MockProcess, JWKSServer) async throws -> Void
) async throws {
    let mock = try await MockProcess.start()
    defer { mock.stop() }
    let jwks = try await JWKSServer.start(keys: keys)
    let gateway = try await GatewayHarness.start(yaml: yaml(mock.url, jwks.url))
    do {
        if waitForKeys {
            _ = try await eventually { gateway.runtime.isReady ? true : nil }
        }
        try await body(gateway, mock, jwks)
        await gateway.stop()
        await jwks.stop()
    } catch {
        await gateway.stop()
        await jwks.stop()
        throw error
    }
}

func bearer(_ token: String) -> [(String, String)] { [("authorization", "Bearer \(token)")] }

@Suite("Who is calling: JWT, API keys, trusted headers")
struct AuthenticationTests {
    @Test func rs256AndES256TokensAreAcceptedAndBecomeTrustedHeaders() async throws {
        let rsa = try TestSigningKey.rsa(kid: "rsa-1")
        let ec = TestSigningKey.es256(kid: "ec-1")
        try await withAuthGateway(keys: [rsa.jwk(alg: "RS256"), ec.jwk()], yaml: { AuthFixture.yaml(mockURL: $0, jwks: $1) }) {
            gateway, mock, _ in
            let rsaToken = try rsa.sign(testClaims(), alg: "RS256")
            let ecToken = try ec.sign(testClaims(tenant: "newco", extra: ["plan": "pro", "org": "x"]), alg: "ES256")
            // A client trying to choose its own tenant context, also via Connection.
            let spoofed: [(String, String)] = [
                ("x-tenant-id", "evil"), ("X-Tenant-Plan", "gold"), ("x-tenant-limits", "rpm=999999"),
                ("connection", "x-tenant-org"), ("x-tenant-org", "evil-org"),
            ]
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(rsaToken) + spoofed).status == 200)
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(ecToken)).status == 200)
            let recorded = try await TestHTTP.recorded(mock.url)
            #expect(recorded.count == 2)
            // Tenant table overrides plan/org for known tenants; claims fill in for others.
            #expect(recorded[0].recordedHeader("x-tenant-id") == ["acme"])
            #expect(recorded[0].recordedHeader("x-tenant-plan") == ["pro"])
            #expect(recorded[0].recordedHeader("x-tenant-org") == ["acme-corp"])
            #expect(recorded[0].recordedHeader("x-tenant-limits") == ["rpm=600, burst=50, concurrency=8, tph=1000000, max-tokens=4096"])
            #expect(recorded[1].recordedHeader("x-tenant-id") == ["newco"])
            #expect(recorded[1].recordedHeader("x-tenant-plan") == ["pro"])
            for request in recorded {
                #expect(request.recordedHeader("authorization").isEmpty, "the client's token reached the backend")
                let all = (request["headers"] as? [[String]] ?? []).map { $0.joined(separator: ": ") }.joined(separator: "\n")
                #expect(!all.contains("evil"))
                #expect(!all.contains(rsaToken) && !all.contains(ecToken))
            }
        }
    }

    @Test func refusedTokensGet401AndNeverReachTheBackend() async throws {
        let rsa = try TestSigningKey.rsa(kid: "rsa-1")
        let stranger = try TestSigningKey.rsa(kid: "rsa-1")  // same kid, different key
        let ec = TestSigningKey.es256(kid: "ec-1")
        try await withAuthGateway(
            keys: [rsa.jwk(alg: "RS256"), ec.jwk(alg: "ES256")], yaml: { AuthFixture.yaml(mockURL: $0, jwks: $1, minRefetch: "30s") }
        ) { gateway, mock, _ in
            let now = Date().timeIntervalSince1970
            let good = try rsa.sign(testClaims(), alg: "RS256")
            var tampered = Array(good.utf8)
            let middle = good.split(separator: ".")[0].utf8.count + 5
            tampered[middle] = tampered[middle] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let cases: [(String, String)] = [
                ("alg none", TestSigningKey.unsigned(testClaims())),
                ("HS256 with the RSA public key as secret", TestSigningKey.signHMAC(testClaims(), secret: rsa.publicKeyDER, kid: "rsa-1")),
                ("HS256 with the PEM as secret", TestSigningKey.signHMAC(testClaims(), secret: Array(rsa.publicKeyPEM.utf8), kid: "rsa-1")),
                ("expired", try rsa.sign(testClaims(now: now - 7200), alg: "RS256")),
                ("nbf in the future", try rsa.sign(testClaims(extra: ["nbf": Int(now) + 3600]), alg: "RS256")),
                ("wrong iss", try rsa.sign(testClaims(issuer: "https://evil.test/"), alg: "RS256")),
                ("wrong aud", try rsa.sign(testClaims(audience: "someone-else"), alg: "RS256")),
                ("bad signature", try stranger.sign(testClaims(), alg: "RS256")),
                ("tampered payload", String(decoding: tampered, as: UTF8.self)),
                ("truncated", String(good.dropLast(20))),
                ("garbage", "not.a.jwt"),
                ("unknown kid", try rsa.sign(testClaims(), alg: "RS256", kid: "no-such-kid")),
                ("ES256 token under the RSA kid", try ec.sign(testClaims(), alg: "ES256", kid: "rsa-1")),
                ("RS512 not allowed", try rsa.sign(testClaims(), alg: "RS512")),
                ("crit", try rsa.sign(testClaims(), alg: "RS256", extraHeader: ["crit": ["exp"]])),
                ("embedded jwk", try stranger.sign(testClaims(), alg: "RS256", kid: "attacker", extraHeader: ["jwk": stranger.jwk()])),
                ("jku", try stranger.sign(testClaims(), alg: "RS256", kid: "attacker", extraHeader: ["jku": "http://127.0.0.1:1/x"])),
                ("over 16 KiB", try rsa.sign(testClaims(extra: ["pad": String(repeating: "x", count: 17000)]), alg: "RS256")),
                ("no tenant claim", try rsa.sign(testClaims(tenant: nil), alg: "RS256")),
            ]
            for (name, token) in cases {
                let reply = try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(token))
                #expect(reply.status == 401, "\(name): \(reply.status) \(reply.body)")
                #expect(reply.errorCode == "invalid_token", "\(name)")
                #expect(reply.headers.first(name: "www-authenticate")?.hasPrefix("Bearer") == true, "\(name)")
                #expect(!reply.body.contains(token.prefix(30)), "\(name): the token was echoed")
            }
            #expect(try await TestHTTP.recorded(mock.url).isEmpty, "a refused request reached the backend")
            // And the genuine token still works after all that.
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(good)).status == 200)
        }
    }

    @Test func apiKeysInBothHeaderFormsAndTheirRefusals() async throws {
        let rsa = try TestSigningKey.rsa(kid: "rsa-1")
        try await withAuthGateway(keys: [rsa.jwk(alg: "RS256")], yaml: { AuthFixture.yaml(mockURL: $0, jwks: $1) }) {
            gateway, mock, _ in
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(AuthFixture.acmeKey)).status == 200)
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-api-key", AuthFixture.acmeKey)]).status == 200)
            var wrong = Array(AuthFixture.acmeKey)
            wrong[wrong.count - 1] = wrong.last == "f" ? "e" : "f"
            for (name, headers) in [
                ("disabled", bearer(AuthFixture.disabledKey)),
                ("wrong key, right length", bearer(String(wrong))),
                ("wrong x-api-key", [("x-api-key", "pc-nope")]),
                ("no credential", []),
                ("basic scheme", [("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")]),
            ] as [(String, [(String, String)])] {
                let reply = try await TestHTTP.chat(gateway.baseURL, extraHeaders: headers)
                #expect(reply.status == 401, "\(name)")
                #expect(["invalid_api_key", "invalid_token"].contains(reply.errorCode ?? ""), "\(name)")
                #expect(reply.headers.first(name: "www-authenticate") != nil, "\(name)")
            }
            let recorded = try await TestHTTP.recorded(mock.url)
            #expect(recorded.count == 2)
            #expect(recorded.allSatisfy { $0.recordedHeader("x-api-key").isEmpty && $0.recordedHeader("authorization").isEmpty })
            #expect(recorded.allSatisfy { $0.recordedHeader("x-tenant-id") == ["acme"] })
        }
    }

    @Test func twoCredentialsForDifferentTenantsAreAConflict() async throws {
        let rsa = try TestSigningKey.rsa(kid: "rsa-1")
        try await withAuthGateway(keys: [rsa.jwk(alg: "RS256")], yaml: { AuthFixture.yaml(mockURL: $0, jwks: $1) }) {
            gateway, mock, _ in
            let acmeToken = try rsa.sign(testClaims(tenant: "acme"), alg: "RS256")
            let conflict = try await TestHTTP.chat(
                gateway.baseURL, extraHeaders: bearer(acmeToken) + [("x-api-key", AuthFixture.betaKey)])
            #expect(conflict.status == 403)
            #expect(conflict.errorCode == "identity_conflict")
            let agree = try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(acmeToken) + [("x-api-key", AuthFixture.acmeKey)])
            #expect(agree.status == 200)
            let disabled = try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(try rsa.sign(testClaims(tenant: "frozen"), alg: "RS256")))
            #expect(disabled.status == 403)
            #expect(disabled.errorCode == "tenant_disabled")
            #expect(try await TestHTTP.recorded(mock.url).count == 1)
        }
    }

    @Test func keyRotationRemovalAndIssuerOutage() async throws {
        let first = try TestSigningKey.rsa(kid: "k1")
        let second = TestSigningKey.es256(kid: "k2")
        try await withAuthGateway(keys: [first.jwk(alg: "RS256")], yaml: { AuthFixture.yaml(mockURL: $0, jwks: $1) }) {
            gateway, _, jwks in
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(try first.sign(testClaims(), alg: "RS256"))).status == 200)
            // A new kid published at the endpoint is accepted (the unknown kid triggers a refetch).
            jwks.setKeys([first.jwk(alg: "RS256"), second.jwk(alg: "ES256")])
            let rotated = try second.sign(testClaims(), alg: "ES256")
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(rotated)).status == 200)
            // A removed key stops being accepted after a refresh, even for a token verified before.
            let oldToken = try first.sign(testClaims(extra: ["jti": "cached"]), alg: "RS256")
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(oldToken)).status == 200)
            jwks.setKeys([second.jwk(alg: "ES256")])
            _ = try await eventually(timeout: .seconds(10)) { () -> Bool? in
                try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(oldToken)).status == 401 ? true : nil
            }
            // Issuer down: the cached key set keeps serving fresh tokens.
            await jwks.stop()
            let fetchesBefore = jwks.fetchCount
            try await Task.sleep(for: .milliseconds(900))  // several refresh attempts fail meanwhile
            #expect(jwks.fetchCount == fetchesBefore)
            let fresh = try second.sign(testClaims(extra: ["jti": "after-outage"]), alg: "ES256")
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(fresh)).status == 200)
        }
    }

    @Test func brokenJWKSResponsesKeepTheLastGoodSet() async throws {
        let key = try TestSigningKey.rsa(kid: "k1")
        try await withAuthGateway(keys: [key.jwk(alg: "RS256")], yaml: { AuthFixture.yaml(mockURL: $0, jwks: $1) }) {
            gateway, _, jwks in
            let oversized = #"{"keys":[],"padding":""# + String(repeating: "x", count: 300 * 1024) + #""}"#
            for (status, body) in [
                (200, "<html>maintenance</html>"), (200, "{not json"), (200, #"{"keys":[]}"#), (500, "oops"), (200, oversized),
            ] {
                jwks.setRaw(status: status, body: body)
                let before = jwks.fetchCount
                _ = try await eventually { jwks.fetchCount > before + 1 ? true : nil }
                let token = try key.sign(testClaims(extra: ["jti": "\(status)-\(body.count)"]), alg: "RS256")
                #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(token)).status == 200, "\(body)")
            }
        }
    }

    @Test func hmacOnlyWithAnExplicitSharedSecretProvider() async throws {
        let rsa = try TestSigningKey.rsa(kid: "rsa-1")
        let secret = String(repeating: "s", count: 48)
        let hmacProvider = """
                - name: internal
                  issuer: https://internal.test/
                  audiences: [portcullis]
                  algorithms: [HS256]
                  secret: \(secret)
            """
        try await withAuthGateway(
            keys: [rsa.jwk(alg: "RS256")],
            yaml: {
                AuthFixture.yaml(mockURL: $0, jwks: $1).replacingOccurrences(of: "      claims: { tenant: tenant, plan: plan }\n", with: "      claims: { tenant: tenant, plan: plan }\n" + hmacProvider + "\n")
            }
        ) { gateway, _, _ in
            let good = TestSigningKey.signHMAC(testClaims(issuer: "https://internal.test/"), secret: Array(secret.utf8))
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(good)).status == 200)
            let wrongSecret = TestSigningKey.signHMAC(testClaims(issuer: "https://internal.test/"), secret: Array("nope".utf8))
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(wrongSecret)).status == 401)
            // The JWKS provider never accepts HMAC, whatever the secret.
            let confused = TestSigningKey.signHMAC(testClaims(), secret: Array(secret.utf8), kid: "rsa-1")
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(confused)).status == 401)
            // And the shared-secret provider accepts nothing but HMAC.
            let rsaSigned = try rsa.sign(testClaims(issuer: "https://internal.test/"), alg: "RS256")
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(rsaSigned)).status == 401)
        }
    }

    @Test func rotatingASecretOrChangingRulesInvalidatesCachedVerifications() async throws {
        let mock = try await MockProcess.start()
        defer { mock.stop() }
        try await withTemporaryDirectory { dir in
            let path = dir + "/gateway.yaml"
            func write(secret: String, audience: String) throws {
                try """
                listeners: [{ address: 127.0.0.1:0 }]
                accessLog: { destination: "off" }
                authentication:
                  jwt:
                    - { name: internal, issuer: "https://internal.test/", audiences: [\(audience)], algorithms: [HS256], secret: \(secret) }
                backends: { mock: { endpoints: [\(mock.url)] } }
                routes: [{ match: { model: demo-chat }, backend: mock }]
                """.write(toFile: path, atomically: true, encoding: .utf8)
            }
            let first = String(repeating: "a", count: 40)
            try write(secret: first, audience: "portcullis")
            let gateway = try await GatewayHarness.start(configPath: path, threads: 1)
            do {
                let token = TestSigningKey.signHMAC(testClaims(issuer: "https://internal.test/"), secret: Array(first.utf8))
                #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(token)).status == 200)
                #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(token)).status == 200)  // cached
                // The secret leaked and is rotated: the old token must stop working at once.
                try write(secret: String(repeating: "b", count: 40), audience: "portcullis")
                #expect(await gateway.runtime.reload().succeeded)
                #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(token)).status == 401)
                // Same secret, stricter rules: cached verifications do not escape them either.
                try write(secret: first, audience: "portcullis")
                #expect(await gateway.runtime.reload().succeeded)
                #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(token)).status == 200)
                try write(secret: first, audience: "someone-else")
                #expect(await gateway.runtime.reload().succeeded)
                #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(token)).status == 401)
                await gateway.stop()
            } catch {
                await gateway.stop()
                throw error
            }
        }
    }

    @Test func aFloodOfUnknownKidsCannotHammerTheIssuer() async throws {
        let key = try TestSigningKey.rsa(kid: "k1")
        try await withAuthGateway(
            keys: [key.jwk(alg: "RS256")], yaml: { AuthFixture.yaml(mockURL: $0, jwks: $1, refresh: "5m", minRefetch: "30s") }
        ) { gateway, _, jwks in
            let before = jwks.fetchCount
            for i in 0..<25 {
                let token = try key.sign(testClaims(), alg: "RS256", kid: "made-up-\(i)")
                #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(token)).status == 401)
            }
            #expect(jwks.fetchCount - before <= 1, "\(jwks.fetchCount - before) refetches for 25 unknown kids")
        }
    }

    @Test func tokensFromAProviderWithoutKeysGet503() async throws {
        let key = try TestSigningKey.rsa(kid: "k1")
        let mock = try await MockProcess.start()
        defer { mock.stop() }
        try await withHarness(yaml: AuthFixture.yaml(mockURL: mock.url, jwks: "http://127.0.0.1:1/jwks.json")) {
            (gateway: GatewayHarness) async throws in
            let reply = try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(try key.sign(testClaims(), alg: "RS256")))
            #expect(reply.status == 503)
            #expect(reply.errorCode == "auth_unavailable")
            // API keys still work meanwhile.
            #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(AuthFixture.acmeKey)).status == 200)
        }
    }

    @Test func accessLogRecordsTheReasonButNeverTheCredential() async throws {
        let key = try TestSigningKey.rsa(kid: "k1")
        try await withTemporaryDirectory { dir in
            let log = dir + "/access.log"
            try await withAuthGateway(keys: [key.jwk(alg: "RS256")], yaml: { AuthFixture.yaml(mockURL: $0, jwks: $1, accessLog: log) }) {
                gateway, _, _ in
                let expired = try key.sign(testClaims(now: Date().timeIntervalSince1970 - 7200), alg: "RS256")
                _ = try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(expired) + [("x-request-id", "expired-1")])
                _ = try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-api-key", AuthFixture.disabledKey), ("x-request-id", "disabled-1")])
                _ = try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-api-key", AuthFixture.acmeKey), ("x-request-id", "ok-1")])
                let valid = try key.sign(testClaims(), alg: "RS256")
                _ = try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(valid) + [("x-request-id", "jwt-1")])
                let frozen = try key.sign(testClaims(tenant: "frozen"), alg: "RS256")
                let refused = try await TestHTTP.chat(gateway.baseURL, extraHeaders: bearer(frozen) + [("x-request-id", "frozen-1")])
                #expect(refused.status == 403)
                let text = try await eventually { () -> String? in
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    return ["ok-1", "expired-1", "disabled-1", "jwt-1", "frozen-1"].allSatisfy(text.contains) ? text : nil
                }
                let lines = Dictionary(
                    uniqueKeysWithValues: text.split(separator: "\n").compactMap { line -> (String, [String: Any])? in
                        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                            let id = object["id"] as? String
                        else { return nil }
                        return (id, object)
                    })
                // The JWT's subject is logged; a refused tenant is named.
                #expect(lines["jwt-1"]?["subject"] as? String == "user-1")
                #expect(lines["frozen-1"]?["tenant"] as? String == "frozen")
                #expect(lines["frozen-1"]?["auth_failure"] as? String == "tenant_disabled")
                #expect(lines["frozen-1"]?["outcome"] as? String == "refused")
                #expect(text.contains(#""auth_failure":"token_expired""#))
                #expect(text.contains(#""auth_failure":"api_key_disabled""#))
                #expect(text.contains(#""tenant":"acme","auth":"apiKey""#))
                for secret in [expired, AuthFixture.disabledKey, AuthFixture.acmeKey] {
                    #expect(!text.contains(secret), "a credential reached the access log")
                }
            }
        }
    }

    @Test func routesCanForwardCredentialsAndBackendsGetASignedContext() async throws {
        let key = try TestSigningKey.rsa(kid: "k1")
        let secret = String(repeating: "k", count: 40)
        let routeExtra = """
              - name: passthrough
                match: { model: passthrough-model }
                backend: signed
                forwardClientCredentials: true
            """
        let backend = """
              signed:
                endpoints: [MOCK]
                signContext: { secret: \(secret), keyId: test-key }
            """
        try await withAuthGateway(
            keys: [key.jwk(alg: "RS256")],
            yaml: { AuthFixture.yaml(mockURL: $0, jwks: $1, extraBackend: backend.replacingOccurrences(of: "MOCK", with: $0), routeExtra: routeExtra) }
        ) { gateway, mock, _ in
            let before = Int(Date().timeIntervalSince1970)
            let reply = try await TestHTTP.chat(gateway.baseURL, model: "passthrough-model", extraHeaders: [("x-api-key", AuthFixture.acmeKey)])
            #expect(reply.status == 200)
            let recorded = try #require(try await TestHTTP.recorded(mock.url).first)
            #expect(recorded.recordedHeader("x-api-key") == [AuthFixture.acmeKey])
            // Verify the signature the way a router would.
            let signature = try #require(recorded.recordedHeader("x-tenant-signature").first)
            let fields = Dictionary(uniqueKeysWithValues: signature.split(separator: ",").map {
                let pair = $0.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                return (String(pair[0]), String(pair[1]))
            })
            let t = try #require(fields["t"].flatMap(Int.init))
            #expect(abs(t - before) <= 5)
            #expect(fields["keyid"] == "test-key")
            let nonce = try #require(fields["nonce"])
            #expect(nonce.count == 22)
            let lines = [
                "portcullis-v1", String(t), nonce, "POST", "/v1/chat/completions", recorded.recordedHeader("x-request-id")[0],
                recorded.recordedHeader("x-tenant-id")[0], recorded.recordedHeader("x-tenant-plan")[0],
                recorded.recordedHeader("x-tenant-org")[0], recorded.recordedHeader("x-tenant-limits")[0],
            ].joined(separator: "\n")
            let expected = HMAC<SHA256>.authenticationCode(for: Array(lines.utf8), using: SymmetricKey(data: Array(secret.utf8)))
            #expect(fields["v1"] == Base64URL.encode(Array(expected)))
        }
    }
}
