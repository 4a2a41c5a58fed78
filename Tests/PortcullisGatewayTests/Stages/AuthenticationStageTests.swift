import Foundation
import Logging
import NIOCore
import PortcullisConfig
import PortcullisCore
import PortcullisTestSupport
import Testing

@testable import PortcullisGateway

/// The authentication stage alone: an exchange built from headers (and a client certificate),
/// no socket. The JWT path runs against an HMAC provider, whose key needs no fetch.
@Suite struct AuthenticationStageTests {
    static let secret = String(repeating: "s", count: 40)
    static let yaml = """
        listeners:
          - name: main
            address: 127.0.0.1:0
            tls: { certificate: server.pem, key: server.key, clientCA: ca.pem, clientAuth: optional }
        authentication:
          requireKnownTenant: true
          jwt:
            - { name: internal, issuer: "https://idp.test/", audiences: [portcullis], algorithms: [HS256], secret: "\(secret)",
                claims: { tenant: tenant, subject: sub } }
          apiKeys:
            - { name: acme-key, tenant: acme, sha256: \(AuthFixture.sha(AuthFixture.acmeKey)) }
            - { name: old-key, tenant: acme, sha256: \(AuthFixture.sha(AuthFixture.disabledKey)), disabled: true }
            - { name: beta-key, tenant: beta, sha256: \(AuthFixture.sha(AuthFixture.betaKey)) }
            - { name: ghost-key, tenant: ghost, sha256: \(AuthFixture.sha("pc-ghost-0123456789abcdef")) }
          clientCertificates:
            - { name: acme-cert, spiffe: "spiffe://example.org/tenant/acme/*", tenant: acme }
        tenants:
          acme: { plan: pro, org: acme-corp }
          beta: { plan: pro, disabled: true }
        plans:
          pro: {}
        routes: [{ match: { model: m }, backend: b }]
        """

    static func stage(_ yaml: String = Self.yaml) throws -> (AuthenticationStage, GatewaySnapshot) {
        let snapshot = try ExchangeFixture.snapshot(yaml)
        var providers: [String: JWTProvider] = [:]
        for config in snapshot.config.authentication.jwtProviders {
            providers[config.name] = try JWTProvider(config: config, logger: Logger(label: "test"))
        }
        return (AuthenticationStage(config: snapshot.config, providers: providers, wallClock: { Date().timeIntervalSince1970 }), snapshot)
    }

    static func token(tenant: String = "acme", extra: [String: Any] = [:]) -> String {
        TestSigningKey.signHMAC(testClaims(tenant: tenant, extra: extra), secret: Array(secret.utf8))
    }

    /// Headers → expected failure (nil: proven) and the tenant the exchange records.
    static let cases: [(String, [(String, String)], AuthFailure?, String?)] = [
        ("bearer API key", [("authorization", "Bearer \(AuthFixture.acmeKey)")], nil, "acme"),
        ("x-api-key", [("x-api-key", AuthFixture.acmeKey)], nil, "acme"),
        ("JWT", [("authorization", "Bearer \(token())")], nil, "acme"),
        ("no credential", [], .missingCredentials, nil),
        ("unknown key", [("x-api-key", "pc-nobody-0123456789")], .apiKeyUnknown, nil),
        ("disabled key", [("x-api-key", AuthFixture.disabledKey)], .apiKeyDisabled, nil),
        ("oversized key", [("x-api-key", String(repeating: "k", count: 600))], .apiKeyMalformed, nil),
        ("two Authorization", [("authorization", "Bearer a"), ("authorization", "Bearer b")], .duplicateAuthorization, nil),
        ("two x-api-key", [("x-api-key", "a"), ("x-api-key", "b")], .duplicateAPIKey, nil),
        ("basic scheme", [("authorization", "Basic YWJj")], .authorizationScheme, nil),
        ("expired JWT", [("authorization", "Bearer \(token(extra: ["exp": 1_000_000]))")], .tokenExpired, nil),
        ("exp 1e308", [("authorization", "Bearer \(token(extra: ["exp": 1e308]))")], .tokenBadClaim(.exp), nil),
        ("conflict", [("x-api-key", AuthFixture.acmeKey), ("authorization", "Bearer \(AuthFixture.betaKey)")], .identityConflict, nil),
        // Refused after verification: the tenant is still recorded, so the log says which it was.
        ("disabled tenant", [("x-api-key", AuthFixture.betaKey)], .tenantDisabled, "beta"),
        ("unknown tenant", [("x-api-key", "pc-ghost-0123456789abcdef")], .unknownTenant, "ghost"),
    ]

    @Test(arguments: Self.cases)
    func decides(name: String, headers: [(String, String)], failure: AuthFailure?, tenant: String?) throws {
        let (stage, snapshot) = try Self.stage()
        let exchange = try ExchangeFixture.exchange(snapshot, headers: headers)
        let result = stage.evaluate(exchange)
        #expect(exchange.authFailure == failure, "\(name)")
        #expect(exchange.identity?.tenant == tenant, "\(name)")
        if let failure {
            let refusal = try #require(result.refusal, "\(name)")
            #expect(refusal.authFailure == failure, "\(name)")
            // The answer never echoes the credential.
            for (_, value) in headers { #expect(!refusal.message.contains(value) || value.count < 4, "\(name)") }
        } else {
            #expect(result.proceeded, "\(name)")
        }
    }

    @Test func theTenantTableIsAuthoritativeAndTheSubjectIsKept() throws {
        let (stage, snapshot) = try Self.stage()
        let exchange = try ExchangeFixture.exchange(snapshot, headers: [("authorization", "Bearer \(Self.token())")])
        #expect(stage.evaluate(exchange).proceeded)
        #expect(exchange.identity == Identity(tenant: "acme", org: "acme-corp", plan: "pro", subject: "user-1", method: .jwt, credentialName: "internal"))
    }

    @Test func aClientCertificateProvesItsMappedTenant() throws {
        let (stage, snapshot) = try Self.stage()
        let certificate = ClientCertificateIdentity(spiffeIDs: ["spiffe://example.org/tenant/acme/batch"], dnsNames: [], commonName: nil)
        let exchange = try ExchangeFixture.exchange(snapshot, certificate: certificate)
        #expect(stage.evaluate(exchange).proceeded)
        #expect(exchange.identity?.method == .mtls)
        #expect(exchange.identity?.credentialName == "acme-cert")
        // A certificate and a key for another tenant conflict.
        let both = try ExchangeFixture.exchange(snapshot, headers: [("x-api-key", AuthFixture.betaKey)], certificate: certificate)
        #expect(stage.evaluate(both).refusal == .identityConflict)
    }

    @Test func missingCredentialsNameTheMethodsTheListenerAccepts() throws {
        let (stage, snapshot) = try Self.stage()
        let exchange = try ExchangeFixture.exchange(snapshot)
        #expect(stage.evaluate(exchange).refusal == .missingCredentials(apiKeyAccepted: true))
        #expect(GatewayError.missingCredentials(apiKeyAccepted: true).code == "invalid_api_key")
        #expect(GatewayError.missingCredentials(apiKeyAccepted: false).code == "invalid_token")
    }
}

@Suite struct RouteAuthenticationStageTests {
    @Test func aRouteAcceptsOnlyItsMethods() throws {
        let yaml = """
            authentication:
              apiKeys: [{ name: k, tenant: acme, sha256: \(AuthFixture.sha(AuthFixture.acmeKey)) }]
            routes:
              - { match: { model: m }, backend: b, authentication: { methods: [jwt] } }
              - { match: { model: open }, backend: b }
            """
        let snapshot = try ExchangeFixture.snapshot(yaml)
        let stage = RouteAuthenticationStage(phase: .body)
        for (model, refused) in [("m", true), ("open", false)] {
            let exchange = try ExchangeFixture.exchange(snapshot, body: #"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}]}"#)
            exchange.identity = Identity(tenant: "acme", org: nil, plan: nil, subject: nil, method: .apiKey, credentialName: "k")
            #expect(RequestInspectionStage().evaluate(exchange).proceeded)
            #expect(ModelRoutingStage().evaluate(exchange).proceeded)
            let result = stage.evaluate(exchange)
            #expect((result.refusal == .methodNotAccepted([.jwt])) == refused, "\(model)")
            #expect((exchange.authFailure == .routeMethod) == refused)
        }
    }
    /// Who decides the plan: the tenant table when it lists the tenant (a token's claim never
    /// overrides it), `unknownTenantPlan` for tenants it does not list, and a plan the config
    /// does not define is refused (never "no limits").
    @Test func thePlanComesFromTheTableNeverFromAMoreGenerousClaim() throws {
        func yaml(_ extra: String, tenants: Bool = true) -> String {
            """
            authentication:
              \(extra)
              jwt:
                - { name: internal, issuer: "https://idp.test/", audiences: [portcullis], algorithms: [HS256], secret: "\(AuthenticationStageTests.secret)",
                    claims: { tenant: tenant, plan: plan } }
            \(tenants ? "tenants:\n  acme: {}\n  paid: { plan: gold }" : "")
            plans:
              gold: { models: ["*"] }
              basic: { models: [m] }
            routes: [{ match: { model: m }, backend: b }]
            """
        }
        func run(_ yaml: String, tenant: String, plan: String) throws -> (StageResult, Exchange) {
            let (stage, snapshot) = try AuthenticationStageTests.stage(yaml)
            let exchange = try ExchangeFixture.exchange(
                snapshot, headers: [("authorization", "Bearer \(AuthenticationStageTests.token(tenant: tenant, extra: ["plan": plan]))")])
            return (stage.evaluate(exchange), exchange)
        }
        let table = yaml("required: true")
        let listedWithoutPlan = try run(table, tenant: "acme", plan: "gold")
        #expect(listedWithoutPlan.0.proceeded && listedWithoutPlan.1.plan == nil, "the table lists acme without a plan")
        let listed = try run(table, tenant: "paid", plan: "basic")
        #expect(listed.0.proceeded && listed.1.plan?.name == "gold")
        // A table is the list of who may call: a tenant it does not list is refused by default.
        #expect(try run(table, tenant: "newco", plan: "gold").0.refusal == .unknownTenant)
        let fallback = try run(yaml("unknownTenantPlan: basic"), tenant: "newco", plan: "gold")
        #expect(fallback.0.proceeded && fallback.1.plan?.name == "basic", "the configured plan, not the claimed one")
        // Without a table, the claim names the plan, but only one that exists.
        let claimed = try run(yaml("required: true", tenants: false), tenant: "newco", plan: "basic")
        #expect(claimed.0.proceeded && claimed.1.plan?.name == "basic")
        #expect(try run(yaml("required: true", tenants: false), tenant: "newco", plan: "platinum").0.refusal == .unknownPlan)
    }

}
