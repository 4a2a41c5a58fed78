import PortcullisCore
import Testing

@testable import PortcullisGateway

/// A tenant limited to regions goes to the first of a route's backends in one of them, or is
/// refused with 403 `region_not_allowed` before any upstream work.
@Suite struct RegionPolicyStageTests {
    static let yaml = """
        region: us-east
        backends:
          eu: { endpoints: ["http://127.0.0.1:11"], region: eu-west }
          us: { endpoints: ["http://127.0.0.1:12"] }
        authentication:
          apiKeys:
            - { name: eu-key, tenant: eu-co, sha256: \(AuthFixture.sha("pc-eu-0123456789abcdef")) }
            - { name: us-key, tenant: us-co, sha256: \(AuthFixture.sha("pc-us-0123456789abcdef")) }
            - { name: any-key, tenant: any-co, sha256: \(AuthFixture.sha("pc-any-0123456789abcdef")) }
            - { name: apac-key, tenant: apac-co, sha256: \(AuthFixture.sha("pc-apac-0123456789abcdef")) }
        tenants:
          eu-co: { plan: eu }
          us-co: { regions: [us-east] }
          any-co: {}
          apac-co: { plan: eu, regions: [us-east] }
        plans:
          eu: { regions: [eu-west] }
        routes:
          - { name: both, match: { model: both }, backends: [us, eu] }
          - { name: us-only, match: { model: us-only }, backend: us }
          - { name: kserve, match: { pathPrefix: /v1/models/iris }, backends: [eu, us] }
        """

    static func run(_ key: String, model: String? = nil, uri: String = "/v1/chat/completions") throws -> (GatewayError?, String?) {
        let snapshot = try ExchangeFixture.snapshot(Self.yaml)
        let body = model.map { #"{"model":"\#($0)","messages":[{"role":"user"}]}"# }
        let exchange = try ExchangeFixture.exchange(snapshot, uri: uri, headers: [("authorization", "Bearer \(key)")], body: body)
        if case .refused(let error) = ExchangeFixture.runPipeline(snapshot, on: exchange) { return (error, exchange.backend?.name) }
        return (nil, exchange.backend?.name)
    }

    @Test(arguments: [
        ("pc-eu-0123456789abcdef", "both", nil, "eu"),
        ("pc-us-0123456789abcdef", "both", nil, "us"),  // the gateway's region, by default
        ("pc-any-0123456789abcdef", "both", nil, "us"),  // not limited: the preferred one
        ("pc-apac-0123456789abcdef", "both", nil, "us"),  // the tenant's regions replace its plan's
        ("pc-eu-0123456789abcdef", "us-only", GatewayError.regionNotAllowed, nil),
    ] as [(String, String, GatewayError?, String?)])
    func aTenantGoesOnlyToBackendsInItsRegions(key: String, model: String, refusal: GatewayError?, backend: String?) throws {
        let (error, chosen) = try Self.run(key, model: model)
        #expect(error == refusal)
        #expect(chosen == backend)
    }

    /// `GET /v1/models` does not list a model a tenant's regions can never reach.
    @Test func theModelListLeavesOutModelsOutsideTheRegions() throws {
        let snapshot = try ExchangeFixture.snapshot(Self.yaml)
        let eu = try #require(snapshot.config.tenants.plans["eu"])
        let list = String(buffer: snapshot.config.modelListBody(for: eu))
        #expect(list.contains(#""id":"both""#) && !list.contains(#""id":"us-only""#), "\(list)")
        #expect(snapshot.config.modelBody("us-only", plan: eu) == nil)
        #expect(String(buffer: snapshot.config.modelListBody(for: nil)).contains("us-only"))
    }

    @Test func pathRoutesAreHeldToRegionsBeforeTheBodyIsRead() throws {
        #expect(try Self.run("pc-us-0123456789abcdef", uri: "/v1/models/iris:predict").1 == "us")
        #expect(try Self.run("pc-eu-0123456789abcdef", uri: "/v1/models/iris:predict").1 == "eu")
        let error = GatewayError.regionNotAllowed
        #expect(error.status == 403 && error.code == "region_not_allowed" && error.type == "permission_error")
    }

    /// Each policy's backend per route is decided when the snapshot is compiled: it must be
    /// what the route itself decides for the policy's regions, and a route of another snapshot
    /// is decided on the spot.
    @Test func theCompiledBackendPerRouteIsTheRoutesOwnChoice() throws {
        let snapshot = try ExchangeFixture.snapshot(Self.yaml)
        let other = try ExchangeFixture.snapshot(Self.yaml)
        let policies = snapshot.config.tenants.policies.filter { $0.regions != nil }
        #expect(policies.count >= 3)
        for policy in policies {
            for (route, foreign) in zip(snapshot.config.routes, other.config.routes) {
                #expect(policy.regionBackend(for: route) === route.backend(in: policy.regions), "\(policy.name) \(route.name)")
                #expect(policy.regionBackend(for: foreign) === foreign.backend(in: policy.regions), "\(policy.name) \(route.name), another snapshot's")
            }
        }
    }

    /// Weighted routes too: the compiled choice skips a backend of weight 0 in the region, as
    /// the route does, and a tenant whose regions hold only a weight-0 backend is refused.
    @Test func weightedRoutesAreCompiledAsTheRouteDecides() throws {
        let snapshot = try ExchangeFixture.snapshot(
            """
            backends:
              drained: { endpoints: ["http://127.0.0.1:11"], region: eu-west }
              eu: { endpoints: ["http://127.0.0.1:12"], region: eu-west }
              us: { endpoints: ["http://127.0.0.1:13"], region: us-east }
            plans:
              eu: { regions: [eu-west] }
              us: { regions: [us-east] }
              both: { regions: [us-east, eu-west] }
            routes:
              - name: split
                match: { model: m }
                backends: [{ backend: drained, weight: 0 }, { backend: us, weight: 50 }, { backend: eu, weight: 50 }]
              - name: drained-only
                match: { model: d }
                backends: [{ backend: drained, weight: 0 }, { backend: us, weight: 1 }]
            """)
        let plans = snapshot.config.tenants.plans
        let split = snapshot.config.routes[0], drainedOnly = snapshot.config.routes[1]
        #expect(try #require(plans["eu"]).regionBackend(for: split)?.name == "eu")
        #expect(try #require(plans["us"]).regionBackend(for: split)?.name == "us")
        #expect(try #require(plans["both"]).regionBackend(for: split)?.name == "us")
        #expect(try #require(plans["eu"]).regionBackend(for: drainedOnly) == nil)
        for plan in plans.values {
            for route in snapshot.config.routes { #expect(plan.regionBackend(for: route) === route.backend(in: plan.regions)) }
        }
    }
}
