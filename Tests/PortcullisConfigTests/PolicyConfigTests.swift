import PortcullisConfig
import PortcullisCore
import Testing

/// Plans, tenant overrides, features, fields and regions as the config states them: mistakes
/// are refused with their path, and a tenant's policy is its plan with its overrides applied.
@Suite struct PolicyConfigTests {
    func problems(_ yaml: String) -> [Diagnostic] {
        do {
            _ = try ConfigLoader(environment: [:]).load(yaml: yaml)
            return []
        } catch {
            return error.diagnostics
        }
    }

    static let head = """
        listeners: [{ address: 127.0.0.1:0 }]
        region: us-east
        backends:
          eu: { endpoints: [http://127.0.0.1:9], region: eu-west }
          us: { endpoints: [http://127.0.0.1:10] }
        """

    @Test func mistakesAreNamedByPath() {
        let found = problems(
            Self.head + """

                routes:
                  - { name: a, match: { model: a }, backend: eu, backends: [us] }
                  - { name: b, match: { model: b }, backends: [us, nowhere] }
                  - { name: c, match: { model: c }, backends: [us, us] }
                  - { name: k, match: { pathPrefix: /k }, backend: us, unknownFields: reject }
                  - { name: d, match: { model: d }, backend: us, unknownFields: sometimes }
                plans:
                  p: { features: [streaming, teleport], regions: [mars], forbiddenFields: ["a b"] }
                tenants:
                  t: { plan: p, limits: { maxTokens: 10, defaultMaxTokens: 20 }, routes: [nope] }
                """)
        let paths = found.map(\.path)
        #expect(paths.contains("routes[0]"), "\(found)")
        #expect(found.contains { $0.path == "routes[1].backends" && $0.message.contains("'nowhere'") }, "\(found)")
        #expect(found.contains { $0.path == "routes[2].backends" && $0.message.contains("twice") }, "\(found)")
        #expect(paths.contains("routes[3].unknownFields"), "\(found)")
        #expect(paths.contains("routes[4].unknownFields"), "\(found)")
        #expect(found.contains { $0.path == "plans.p.features" && $0.message.contains("teleport") }, "\(found)")
        #expect(found.contains { $0.path == "plans.p.regions" && $0.message.contains("mars") && $0.message.contains("eu-west, us-east") })
        #expect(paths.contains("plans.p.forbiddenFields"), "\(found)")
        #expect(found.contains { $0.path == "tenants.t.limits.defaultMaxTokens" }, "\(found)")
        #expect(found.contains { $0.path == "tenants.t.routes" && $0.message.contains("'nope'") }, "\(found)")
    }

    @Test func aTenantsPolicyIsItsPlanWithItsOverrides() throws {
        let snapshot = try ConfigLoader(environment: [:]).load(
            yaml: Self.head + """

                routes: [{ name: r, match: { model: m }, backends: [us, eu] }]
                plans:
                  p: { models: [m], features: [streaming], regions: [us-east], limits: { requestsPerMinute: 10, maxTokens: 100 } }
                tenants:
                  plain: { plan: p }
                  eu-vip: { plan: p, regions: [eu-west], limits: { maxTokens: 500 } }
                  solo: { features: [tools] }
                  none: {}
                """)
        let tenants = snapshot.tenants.tenants
        let plan = try #require(snapshot.tenants.plans["p"])
        #expect(tenants["plain"]?.policy === plan, "no overrides: the plan object itself")
        let vip = try #require(tenants["eu-vip"]?.policy)
        #expect(vip !== plan && vip.name == "p" && vip.tenant == "eu-vip")
        #expect(vip.regions == ["eu-west"])
        #expect(vip.limits.maxTokens == 500 && vip.limits.requestsPerMinute == 10, "limits key by key")
        #expect(vip.features == RequestFeature.Set([.streaming]) && vip.models?.count == 1)
        #expect(vip.limitsHeader == "rpm=10, max-tokens=500")
        let solo = try #require(tenants["solo"]?.policy)
        #expect(solo.features == RequestFeature.Set([.tools]) && solo.models == nil)
        #expect(tenants["none"]?.policy == nil)
        #expect(snapshot.backends.map(\.region) == ["eu-west", "us-east"], "a backend without a region is in the gateway's")
        #expect(snapshot.routes[0].backend(in: ["eu-west"])?.name == "eu")
        #expect(snapshot.routes[0].backend(in: ["ap-south"]) == nil)
        #expect(snapshot.routes[0].backend(in: nil)?.name == "us")
    }
}
