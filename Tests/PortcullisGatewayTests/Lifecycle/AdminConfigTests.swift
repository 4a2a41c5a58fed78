import Foundation
import PortcullisTestSupport
import Testing

/// The admin `/config` endpoint over real sockets: the effective config and the stage order,
/// with every secret the config holds kept out of it.
@Suite("The admin /config endpoint")
struct AdminConfigTests {
    static let hmacSecret = "CANARY-HMAC-SECRET-0123456789abcdef0123"
    static let signSecret = "CANARY-SIGN-SECRET-0123456789abcdef"
    static let keyHash = "ac7fde03c2109964ab87f7a720c1dbaebb816e4047951928642a1fab937bccc5"
    static let uriToken = "CANARY-URI-TOKEN"
    static let uriPassword = "CANARY-URI-PASSWORD"

    @Test func showsTheEffectiveConfigWithEverySecretRedacted() async throws {
        let mock = try await MockProcess.start()
        defer { mock.stop() }
        let yaml = """
            listeners: [{ name: main, address: 127.0.0.1:0 }]
            admin: { address: 127.0.0.1:0 }
            reload: { watch: false }
            accessLog: { destination: "off" }
            metrics: { tenantLabel: false }
            backends:
              mock:
                endpoints: [\(mock.url)]
                signContext: { secret: "\(Self.signSecret)", keyId: k1 }
            routes:
              - { name: chat, match: { model: demo-chat }, backend: mock, maxRequestBytes: 64KiB }
            authentication:
              jwt:
                - name: internal
                  issuer: https://internal.example.com/
                  audiences: [portcullis]
                  algorithms: [HS256]
                  secret: "\(Self.hmacSecret)"
                - name: remote
                  issuer: https://idp.example.com/
                  audiences: [portcullis]
                  algorithms: [RS256]
                  jwks: { uri: "http://idp-user:\(Self.uriPassword)@127.0.0.1:1/jwks.json?token=\(Self.uriToken)" }
              apiKeys:
                - { name: acme-prod, tenant: acme, sha256: "\(Self.keyHash)" }
            tenants:
              acme: { plan: pro, org: acme-corp }
            plans:
              pro: { limits: { requestsPerMinute: 600 } }
            """
        let gateway = try await GatewayHarness.start(yaml: yaml)
        do {
            let admin = "http://127.0.0.1:\(gateway.runtime.admin!.port)"
            let reply = try await TestHTTP.request(admin + "/config", method: .GET, headers: [])
            #expect(reply.status == 200)
            let json = try #require(reply.json)
            #expect(json["stages"] as? [String] == ["authenticate", "limits(head)", "inspect", "route", "limits(body)"])
            let http = try #require(json["http"] as? [String: Any])
            #expect(http["maxRequestBytes"] as? Int == 1024 * 1024, "defaults filled in")
            let routes = try #require(json["routes"] as? [[String: Any]])
            #expect(routes.first?["maxRequestBytes"] as? Int == 64 * 1024)
            let auth = try #require(json["authentication"] as? [String: Any])
            let keys = try #require(auth["apiKeys"] as? [[String: Any]])
            #expect(keys.first?["name"] as? String == "acme-prod" && keys.first?["tenant"] as? String == "acme")
            let providers = try #require(auth["jwt"] as? [[String: Any]])
            #expect(providers.map { $0["name"] as? String } == ["internal", "remote"])
            #expect((providers[0]["keys"] as? [String: String]) == ["secret": "redacted"])
            #expect((providers[1]["keys"] as? [String: String]) == ["jwksURI": "http://127.0.0.1:1/jwks.json"])
            let tenants = try #require(json["tenants"] as? [[String: Any]])
            #expect(tenants.first?["plan"] as? String == "pro")
            #expect((json["metrics"] as? [String: Bool]) == ["tenantLabel": false])
            #expect(json["tracing"] is NSNull)
            for secret in [Self.hmacSecret, Self.signSecret, Self.keyHash, Self.uriToken, Self.uriPassword] {
                #expect(!reply.body.contains(secret), "leaked \(secret)")
            }
            await gateway.stop()
        } catch {
            await gateway.stop()
            throw error
        }
    }
}
