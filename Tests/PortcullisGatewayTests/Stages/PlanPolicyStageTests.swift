import NIOCore
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// The plan stage after authentication and routing, over a table of tenants, plans and
/// requests: a model outside the plan is indistinguishable from an unknown one, a route
/// outside it is 403, and a suspended tenant is refused with the operator's reason.
@Suite struct PlanPolicyStageTests {
    static let yaml = """
        authentication:
          apiKeys:
            - { name: free-key, tenant: freebie, sha256: \(AuthFixture.sha("pc-free-0123456789abcdef")) }
            - { name: pro-key, tenant: acme, sha256: \(AuthFixture.sha(AuthFixture.acmeKey)) }
            - { name: late-key, tenant: late, sha256: \(AuthFixture.sha(AuthFixture.betaKey)) }
            - { name: loose-key, tenant: loose, sha256: \(AuthFixture.sha("pc-loose-0123456789abcdef")) }
            - { name: ops-key, tenant: ops, sha256: \(AuthFixture.sha("pc-ops-0123456789abcdef")) }
        tenants:
          freebie: { plan: free }
          acme: { plan: pro }
          late: { plan: pro, status: suspended, reason: "Invoice 42 is overdue." }
          loose: {}
          ops: { plan: ops }
        plans:
          free: { models: [small-chat, "open-*"], routes: [chat, open] }
          pro: { models: ["*"], limits: { maxTokens: 1000, defaultMaxTokens: 256 } }
          ops: { routes: [kserve, chat] }
        routes:
          - { name: chat, match: { models: [small-chat, big-chat] }, backend: b }
          - { name: open, match: { model: "open-*" }, backend: b }
          - { name: embed, match: { model: embed-1 }, backend: b }
          - { name: kserve, match: { pathPrefix: /v1/models/iris }, backend: b }
        """

    /// Runs the snapshot's whole pipeline (head stages, then, if they passed, body stages).
    static func run(key: String, model: String? = nil, uri: String = "/v1/chat/completions") throws -> StageRunner.Result {
        let body = model.map { #"{"model":"\#($0)","messages":[{"role":"user","content":"hi"}]}"# }
        return try Self.exchange(key: key, uri: uri, body: body).0
    }

    static func refusal(_ result: StageRunner.Result) -> GatewayError? {
        if case .refused(let error) = result { return error }
        return nil
    }

    @Test(arguments: [
        ("pc-free-0123456789abcdef", "small-chat", nil),
        ("pc-free-0123456789abcdef", "open-7b", nil),
        ("pc-free-0123456789abcdef", "big-chat", GatewayError.modelNotFound("big-chat")),  // same answer as an unknown model
        ("pc-free-0123456789abcdef", "nope", .modelNotFound("nope")),
        ("pc-free-0123456789abcdef", "embed-1", .modelNotFound("embed-1")),
        (AuthFixture.acmeKey, "big-chat", nil),
        (AuthFixture.acmeKey, "embed-1", nil),
        ("pc-loose-0123456789abcdef", "big-chat", nil),  // no plan: not limited here
        (AuthFixture.betaKey, "small-chat", .tenantSuspended(reason: "Invoice 42 is overdue.")),
    ] as [(String, String, GatewayError?)])
    func modelsOutsideThePlanLookUnknown(key: String, model: String, refusal: GatewayError?) throws {
        #expect(Self.refusal(try Self.run(key: key, model: model)) == refusal)
    }

    @Test func aModelOutsideThePlanGetsTheUnknownModelAnswerByteForByte() throws {
        let outside = try #require(Self.refusal(try Self.run(key: "pc-free-0123456789abcdef", model: "big-chat")))
        let unknown = try #require(Self.refusal(try Self.run(key: "pc-free-0123456789abcdef", model: "zzz-chat")))
        #expect(outside.status == unknown.status && outside.code == unknown.code && outside.type == unknown.type)
        #expect(outside.message == unknown.message.replacingOccurrences(of: "zzz-chat", with: "big-chat"))
    }

    @Test func aRouteOutsideThePlanIs403BeforeTheBodyIsRead() throws {
        let result = try Self.run(key: "pc-free-0123456789abcdef", uri: "/v1/models/iris:predict")
        #expect(Self.refusal(result) == .routeNotAllowed)
        #expect(GatewayError.routeNotAllowed.status == 403)
        // A plan limiting models or caps cannot hold a path route to them (its body is not
        // read): it must list the path route to allow it.
        #expect(Self.refusal(try Self.run(key: AuthFixture.acmeKey, uri: "/v1/models/iris:predict")) == .routeNotAllowed)
        #expect(Self.refusal(try Self.run(key: "pc-ops-0123456789abcdef", uri: "/v1/models/iris:predict")) == nil)
        #expect(Self.refusal(try Self.run(key: "pc-loose-0123456789abcdef", uri: "/v1/models/iris:predict")) == nil)
    }

    /// A model whose route the plan excludes looks unknown too (not 403, which would say it exists).
    @Test func aModelOnARouteOutsideThePlanLooksUnknown() throws {
        #expect(Self.refusal(try Self.run(key: "pc-ops-0123456789abcdef", model: "embed-1")) == .modelNotFound("embed-1"))
        #expect(Self.refusal(try Self.run(key: "pc-ops-0123456789abcdef", model: "big-chat")) == nil)
    }

    @Test func aSuspendedTenantIsToldTheOperatorsReason() throws {
        let error = try #require(Self.refusal(try Self.run(key: AuthFixture.betaKey, model: "small-chat")))
        #expect(error.status == 403)
        #expect(error.code == "tenant_suspended")
        #expect(error.message.contains("Invoice 42 is overdue."))
        #expect(error.reason.category == .policy)
    }

    static func exchange(key: String, uri: String, body: String?) throws -> (StageRunner.Result, Exchange) {
        let snapshot = try ExchangeFixture.snapshot(Self.yaml)
        let exchange = try ExchangeFixture.exchange(snapshot, uri: uri, headers: [("authorization", "Bearer \(key)")], body: body)
        return (ExchangeFixture.runPipeline(snapshot, on: exchange), exchange)
    }

    /// A plan's `routes` naming the catch-all offers the models it serves (they have no route
    /// of their own); a plan that does not name it keeps them unknown.
    @Test func aPlanListingTheCatchAllOffersWhatItServes() throws {
        let snapshot = try ExchangeFixture.snapshot(
            """
            authentication:
              apiKeys:
                - { name: with, tenant: with, sha256: \(AuthFixture.sha("pc-with-0123456789abcdef")) }
                - { name: without, tenant: without, sha256: \(AuthFixture.sha("pc-without-0123456789abcdef")) }
            tenants: { with: { plan: mesh }, without: { plan: chat } }
            plans: { mesh: { routes: [chat, mesh] }, chat: { routes: [chat] } }
            routes:
              - { name: chat, match: { model: small-chat }, backend: b }
              - { name: mesh, match: { catchAll: true }, backend: b }
            """)
        func run(_ key: String, _ model: String) throws -> GatewayError? {
            let body = #"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}]}"#
            let exchange = try ExchangeFixture.exchange(snapshot, headers: [("authorization", "Bearer \(key)")], body: body)
            return Self.refusal(ExchangeFixture.runPipeline(snapshot, on: exchange))
        }
        #expect(try run("pc-with-0123456789abcdef", "anything-else") == nil)
        #expect(try run("pc-with-0123456789abcdef", "small-chat") == nil)
        #expect(try run("pc-without-0123456789abcdef", "anything-else") == .modelNotFound("anything-else"))
        #expect(try run("pc-without-0123456789abcdef", "small-chat") == nil)
    }

    /// An explicit `null` cap is "no cap": the plan's default is written over it, and no second
    /// copy of the key is added.
    @Test func aNullCapGetsThePlansDefaultInPlace() throws {
        let chat = try Self.exchange(
            key: AuthFixture.acmeKey, uri: "/v1/chat/completions", body: #"{"model":"big-chat","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":null}"#)
        #expect(chat.1.body.map { String(buffer: $0) } == #"{"model":"big-chat","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":256}"#)
        let both = try Self.exchange(
            key: AuthFixture.acmeKey, uri: "/v1/completions", body: #"{"max_tokens":null,"model":"big-chat","prompt":"x","max_completion_tokens":null}"#)
        #expect(both.1.body.map { String(buffer: $0) } == #"{"max_tokens":256,"model":"big-chat","prompt":"x","max_completion_tokens":256}"#)
    }

    @Test func tokenCapsAreHeldToThePlanAndADefaultIsInserted() throws {
        let over = try Self.exchange(
            key: AuthFixture.acmeKey, uri: "/v1/chat/completions", body: #"{"model":"big-chat","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":1001}"#)
        #expect(Self.refusal(over.0) == .valueTooLarge(param: .maxCompletionTokens, max: 1000))
        #expect(Self.refusal(over.0)?.param == "max_completion_tokens")
        let within = try Self.exchange(key: AuthFixture.acmeKey, uri: "/v1/chat/completions", body: #"{"model":"big-chat","messages":[{"role":"user","content":"hi"}],"max_tokens":1000}"#)
        #expect(Self.refusal(within.0) == nil)
        #expect(within.1.body.map { String(buffer: $0) } == #"{"model":"big-chat","messages":[{"role":"user","content":"hi"}],"max_tokens":1000}"#, "untouched")
        let chat = try Self.exchange(key: AuthFixture.acmeKey, uri: "/v1/chat/completions", body: #"{"model":"big-chat","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(chat.1.body.map { String(buffer: $0) } == #"{"max_completion_tokens":256,"model":"big-chat","messages":[{"role":"user","content":"hi"}]}"#)
        let completion = try Self.exchange(key: AuthFixture.acmeKey, uri: "/v1/completions", body: #"{"model":"big-chat","prompt":"x"}"#)
        #expect(completion.1.body.map { String(buffer: $0) } == #"{"max_tokens":256,"model":"big-chat","prompt":"x"}"#)
        let embedding = try Self.exchange(key: AuthFixture.acmeKey, uri: "/v1/embeddings", body: #"{"model":"embed-1","input":"x"}"#)
        #expect(embedding.1.body.map { String(buffer: $0) } == #"{"model":"embed-1","input":"x"}"#, "no token cap on embeddings")
        // No plan cap: nothing inserted.
        let loose = try Self.exchange(key: "pc-loose-0123456789abcdef", uri: "/v1/chat/completions", body: #"{"model":"big-chat","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(loose.1.body.map { String(buffer: $0) } == #"{"model":"big-chat","messages":[{"role":"user","content":"hi"}]}"#)
    }

    @Test func theModelListShowsOnlyThePlansModels() throws {
        let snapshot = try ExchangeFixture.snapshot(Self.yaml)
        let plans = snapshot.config.tenants.plans
        let free = String(buffer: snapshot.config.modelListBody(for: plans["free"]))
        #expect(free.contains("small-chat") && !free.contains("big-chat") && !free.contains("embed-1"))
        let pro = String(buffer: snapshot.config.modelListBody(for: plans["pro"]))
        #expect(pro.contains("small-chat") && pro.contains("big-chat") && pro.contains("embed-1"))
        #expect(snapshot.config.modelBody("big-chat", plan: plans["free"]) == nil)
        #expect(snapshot.config.modelBody("big-chat", plan: plans["pro"]) != nil)
    }
}
