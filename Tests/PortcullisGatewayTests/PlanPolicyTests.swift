import Foundation
import PortcullisTestSupport
import Testing

/// Plans over real sockets: a tenant sees and reaches only its plan's models, a model outside
/// the plan is answered exactly as an unknown one, and a suspended tenant is told why; nothing
/// refused reaches the backend.
@Suite("Plans and tenant status")
struct PlanPolicyTests {
    static let smallKey = "pc-small-0123456789abcdef"
    static let lateKey = "pc-late-0123456789abcdef"

    @Test func aTenantSeesAndReachesOnlyItsPlansModels() async throws {
        let mock = try await MockProcess.start()
        defer { mock.stop() }
        let yaml = """
            listeners: [{ name: main, address: 127.0.0.1:0 }]
            accessLog: { destination: "off" }
            authentication:
              apiKeys:
                - { name: small-key, tenant: small, sha256: \(AuthFixture.sha(Self.smallKey)) }
                - { name: late-key, tenant: late, sha256: \(AuthFixture.sha(Self.lateKey)) }
            tenants:
              small: { plan: small }
              late: { plan: small, status: suspended, reason: "Invoice 42 is overdue." }
            plans:
              small: { models: [demo-chat] }
            backends: { mock: { endpoints: [\(mock.url)] } }
            routes:
              - { name: chat, match: { model: demo-chat }, backend: mock }
              - { name: embed, match: { model: demo-embed }, backend: mock }
            """
        let gateway = try await GatewayHarness.start(yaml: yaml)
        do {
            let base = gateway.baseURL
            let auth = [("authorization", "Bearer \(Self.smallKey)"), ("content-type", "application/json")]
            let models = try await TestHTTP.request(base + "/v1/models", method: .GET, headers: auth)
            let ids = ((models.json?["data"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
            #expect(ids == ["demo-chat"])
            #expect(try await TestHTTP.request(base + "/v1/models/demo-embed", method: .GET, headers: auth).status == 404)
            let outside = try await TestHTTP.request(base + "/v1/embeddings", headers: auth, body: #"{"model":"demo-embed","input":"x"}"#)
            let unknown = try await TestHTTP.request(base + "/v1/embeddings", headers: auth, body: #"{"model":"demo-embex","input":"x"}"#)
            #expect(outside.status == 404 && outside.errorCode == "model_not_found")
            #expect(outside.body.replacingOccurrences(of: "demo-embed", with: "demo-embex") == unknown.body)
            let late = try await TestHTTP.request(
                base + "/v1/chat/completions", headers: [("authorization", "Bearer \(Self.lateKey)")], body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(late.status == 403 && late.errorCode == "tenant_suspended")
            #expect(late.body.contains("Invoice 42 is overdue."))
            #expect(try await TestHTTP.recorded(mock.url).isEmpty, "a refused request reached the backend")
            #expect(try await TestHTTP.request(base + "/v1/chat/completions", headers: auth, body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#).status == 200)
            await gateway.stop()
        } catch {
            await gateway.stop()
            throw error
        }
    }
}
