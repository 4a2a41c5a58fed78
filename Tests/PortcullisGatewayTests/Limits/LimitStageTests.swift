import NIOCore
import NIOEmbedded
import PortcullisConfig
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// The limit stage on exchanges built without a channel, on a manual clock: rates, slots,
/// reservations and their settlement, all-or-nothing, shadow limits, caps and top-level rules.
@Suite struct LimitStageTests {
    static let yaml = """
        authentication:
          apiKeys:
            - { name: a-key, tenant: acme, sha256: \(AuthFixture.sha("pc-acme-0123456789abcdef")) }
            - { name: b-key, tenant: beta, sha256: \(AuthFixture.sha("pc-beta-0123456789abcdef")) }
            - { name: c-key, tenant: gamma, sha256: \(AuthFixture.sha("pc-gamma-0123456789abcdef")) }
            - { name: d-key, tenant: delta, sha256: \(AuthFixture.sha("pc-delta-0123456789abcdef")) }
            - { name: e-key, tenant: eps, sha256: \(AuthFixture.sha("pc-eps-0123456789abcdef")) }
        tenants:
          acme: { plan: small }
          beta: { plan: small, limits: { concurrency: 1, requestsPerSecond: 100 } }
          delta: {}
          eps: { limits: { tokensPerMinute: 1000, tokenType: output, maxTokens: 100 } }
          gamma: { limits: { tokensPerMinute: 1000, maxTokens: 100, maxPromptTokens: 40, maxRequestBytes: 2KiB, concurrency: 1, shadow: [concurrency] } }
        plans:
          small: { limits: { requestsPerSecond: 2 } }
        routes:
          - { name: chat, match: { model: demo-chat }, backend: b }
          - { name: other, match: { model: demo-other }, backend: b }
        limits:
          - { name: b-only, per: credential, credentials: [b-key], requestsPerSecond: 1, burst: 3 }
          - { name: d-tokens, per: tenant, credentials: [d-key], tokensPerMinute: 5000 }
          - { name: per-model, per: model, credentials: [d-key, e-key], models: ["demo-*"], requestsPerSecond: 1000, burst: 4 }
        """

    struct Harness {
        let snapshot: GatewaySnapshot
        let eventLoop = EmbeddedEventLoop()
        let loop: LoopContext

        init() throws {
            self.snapshot = try ExchangeFixture.snapshot(LimitStageTests.yaml)
            self.loop = try ExchangeFixture.loop(self.snapshot, eventLoop: self.eventLoop)
        }

        func exchange(_ tenant: String, body: String = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#)
            throws -> Exchange
        {
            try ExchangeFixture.exchange(
                self.snapshot, headers: [("authorization", "Bearer pc-\(tenant)-0123456789abcdef")], body: body, loop: self.loop)
        }

        /// Runs the pipeline; the exchange stays open (its ledger holds what the limits took).
        func run(_ exchange: Exchange) -> GatewayError? {
            if case .refused(let error) = ExchangeFixture.runPipeline(self.snapshot, on: exchange) { return error }
            return nil
        }

        /// Runs and settles at once, as a request that was answered.
        func request(_ tenant: String) throws -> GatewayError? {
            let exchange = try self.exchange(tenant)
            let error = self.run(exchange)
            exchange.settle(error.map { .refused($0.reason) } ?? .completed)
            return error
        }

        func advance(_ amount: TimeAmount) { self.eventLoop.advanceTime(by: amount) }
    }

    @Test func aPlanRateRefusesWith429AndRefills() throws {
        let h = try Harness()
        #expect(try h.request("acme") == nil)
        #expect(try h.request("acme") == nil)
        let refusal = try #require(try h.request("acme"))
        guard case .limitExceeded(let limit) = refusal else { Issue.record("\(refusal)"); return }
        #expect(limit.name == .requestsPerSecond && limit.limit == 2 && limit.retryAfterSeconds == 1)
        h.advance(.milliseconds(500))
        #expect(try h.request("acme") == nil, "one more refilled after half a second")
        #expect(try h.request("acme") != nil)
    }

    @Test func whenOneLimitRefusesWhatTheOthersTookIsHandedBack() throws {
        let h = try Harness()
        // beta: its own concurrency 1 and 100/s (replacing the plan's 2/s), and the credential rule (1/s, burst 3).
        let holding = try h.exchange("beta")
        #expect(h.run(holding) == nil)
        #expect(holding.rateLimitHeaders?.requests?.remaining == 2, "the tighter of the two rates")
        for _ in 0..<5 {
            guard case .limitExceeded(let limit) = try h.request("beta") else { Issue.record("not refused"); return }
            #expect(limit.name == .concurrency)
        }
        holding.settle(.completed)
        // The refused ones gave back the tenant rate they had taken: 99 of 100 are left, not 94.
        let stage = try #require(h.snapshot.pipeline.bodyStages.compactMap { $0 as? LimitStage }.first)
        let policy = try #require(h.snapshot.config.tenants.tenants["beta"]?.policy)
        let rate = try #require(policy.limitRules.first)
        guard case .rate(let gcra) = rate.kind else { Issue.record("\(rate.kind)"); return }
        let identity = holding.identity
        #expect(stage.store.peek(gcra, key: try #require(stage.key(rate, identity: identity, model: "demo-chat")), now: LimitStage.clock(holding)).remaining == 99)
        #expect(stage.store.slotsInUse(try #require(stage.key(policy.limitRules[1], identity: identity, model: "demo-chat"))) == 0)
        // The credential rule was never reached by the refused ones: two of its three are left.
        #expect(try h.request("beta") == nil)
        #expect(try h.request("beta") == nil)
        guard case .limitExceeded(let limit) = try h.request("beta") else { Issue.record("not refused"); return }
        #expect(limit.rule == "b-only" && limit.name == .requestsPerSecond)
    }

    @Test func aModelRuleCountsEachModelApartAcrossTenants() throws {
        let h = try Harness()
        let chat = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#
        let other = #"{"model":"demo-other","messages":[{"role":"user","content":"hi"}]}"#
        func run(_ tenant: String, _ body: String) throws -> GatewayError? {
            let exchange = try h.exchange(tenant, body: body)
            let error = h.run(exchange)
            exchange.settle(error.map { .refused($0.reason) } ?? .completed)
            return error
        }
        // Two tenants share demo-chat's burst of 4 (delta's plan has no limits of its own).
        #expect(try run("delta", chat) == nil)
        #expect(try run("delta", chat) == nil)
        #expect(try run("eps", chat) == nil)
        #expect(try run("delta", chat) == nil)
        guard case .limitExceeded(let limit) = try run("eps", chat) else { Issue.record("not refused"); return }
        #expect(limit.rule == "per-model" && limit.name == .requestsPerSecond)
        // Another model matching the rule has a counter of its own.
        #expect(try run("delta", other) == nil)
    }

    @Test func aReservationSettlesToTheReportedUsageOrStaysWhenThereIsNone() throws {
        let h = try Harness()
        let body = #"{"model":"demo-chat","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#
        let first = try h.exchange("gamma", body: body)
        #expect(h.run(first) == nil)
        let estimate = PromptEstimate.tokens(bodyBytes: body.utf8.count, request: first.request)
        #expect(first.rateLimitHeaders?.tokens == .init(limit: 1000, remaining: 1000 - estimate - 100, resetNanos: first.rateLimitHeaders!.tokens!.resetNanos))
        first.forwardedAt = h.loop.now()
        first.usage = Usage(promptTokens: 7, completionTokens: 3, totalTokens: 10)
        first.settle(.completed)
        // Forwarded, no usage reported (a broken stream): the whole reservation stays spent.
        let second = try h.exchange("gamma", body: body)
        #expect(h.run(second) == nil)
        #expect(second.rateLimitHeaders?.tokens?.remaining == 1000 - 10 - estimate - 100)
        second.forwardedAt = h.loop.now()
        second.settle(.clientAborted(.streaming))
        // Never forwarded (refused after the limits): nothing spent.
        let third = try h.exchange("gamma", body: body)
        #expect(h.run(third) == nil)
        third.settle(.refused(.authorizationDenied))
        let fourth = try h.exchange("gamma", body: body)
        #expect(h.run(fourth) == nil)
        #expect(fourth.rateLimitHeaders?.tokens?.remaining == 1000 - 10 - (estimate + 100) - (estimate + 100))
        fourth.settle(.refused(.internalError))
    }

    @Test func aReservationCountsEveryChoiceAndCannotOverflow() throws {
        let h = try Harness()
        let three = try h.exchange("gamma", body: #"{"model":"demo-chat","n":3,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#)
        #expect(h.run(three) == nil)
        let estimate = PromptEstimate.tokens(bodyBytes: three.body!.readableBytes, request: three.request)
        #expect(three.rateLimitHeaders?.tokens?.remaining == 1000 - estimate - 300)
        three.settle(.refused(.internalError))
        // A legacy completion batch (3 prompts) with best_of 2: six completions of up to 100.
        let batch = try ExchangeFixture.exchange(
            h.snapshot, uri: "/v1/completions", headers: [("authorization", "Bearer pc-gamma-0123456789abcdef")],
            body: #"{"model":"demo-chat","max_tokens":100,"best_of":2,"prompt":["a","b","c"]}"#, loop: h.loop)
        #expect(LimitStage.reservation(batch).completion == 0, "not inspected yet")
        _ = h.run(batch)
        #expect(LimitStage.reservation(batch).completion == 600)
        batch.settle(.refused(.internalError))
        // No plan bounds delta's tokens: the largest max_tokens there is reserves (clamped) and never fits.
        let huge = try h.exchange("delta", body: #"{"model":"demo-chat","n":9223372036854775807,"max_tokens":9223372036854775807,"messages":[{"role":"user","content":"hi"}]}"#)
        guard case .limitExceeded(let refusal) = h.run(huge) else { Issue.record("not refused"); return }
        #expect(refusal.cost == Usage.maxCount && refusal.retryAfterSeconds == nil && refusal.rule == "d-tokens")
        huge.settle(.refused(.tokenQuotaExceeded))
        // Without max_tokens, a fixed completion allowance is reserved.
        let plain = try h.exchange("delta")
        #expect(h.run(plain) == nil)
        let prompt = PromptEstimate.tokens(bodyBytes: plain.body!.readableBytes, request: plain.request)
        #expect(plain.rateLimitHeaders?.tokens?.remaining == 5000 - prompt - LimitStage.unboundedCompletion)
        plain.settle(.refused(.internalError))
    }

    @Test func anOutputQuotaReservesTheCompletionAndSettlesToCompletionTokens() throws {
        let h = try Harness()
        let first = try h.exchange("eps")
        #expect(h.run(first) == nil)
        #expect(first.rateLimitHeaders?.tokens?.remaining == 900, "only the completion bound (the plan's cap) is reserved")
        first.forwardedAt = h.loop.now()
        first.usage = Usage(promptTokens: 500, completionTokens: 3, totalTokens: 503)
        first.settle(.completed)
        let second = try h.exchange("eps")
        #expect(h.run(second) == nil)
        #expect(second.rateLimitHeaders?.tokens?.remaining == 1000 - 3 - 100)
        second.settle(.refused(.internalError))
    }

    @Test func aBodyThatArrivedDuringAHeadWaitIsHeldToThePlansCap() throws {
        let h = try Harness()
        let exchange = try h.exchange("gamma")
        exchange.requestBytes = 4096
        #expect(h.run(exchange) == .bodyTooLarge(limit: 2048, bodyRead: false))
        exchange.settle(.refused(.bodyTooLarge))
    }

    @Test func aShadowLimitNeverRefusesAndCapsAreChecked() throws {
        let h = try Harness()
        var open: [Exchange] = []
        for _ in 0..<3 {
            let exchange = try h.exchange("gamma")
            #expect(h.run(exchange) == nil, "shadow concurrency")
            open.append(exchange)
        }
        for exchange in open { exchange.settle(.completed) }
        let big = #"{"model":"demo-chat","messages":[{"role":"user","content":"\#(String(repeating: "x", count: 100))"}]}"#
        let refused = try h.exchange("gamma", body: big)
        let error = h.run(refused)
        // Estimated on the body as it would be forwarded (the token-cap stage added `max_completion_tokens`).
        let forwarded = try #require(refused.body).readableBytes
        #expect(forwarded > big.utf8.count)
        #expect(error == .promptTooLarge(estimate: PromptEstimate.tokens(bodyBytes: forwarded, request: refused.request), limit: 40))
        #expect(refused.bodyLimit == 2048, "maxRequestBytes lowers the body limit once the caller is known")
        refused.settle(.refused(.promptTooLarge))
    }

    @Test func rateLimitHeadersAreWrittenAsOpenAISendsThem() {
        #expect(["0s", "20ms", "1ms", "59s", "6m0s", "1h2m3s"] == [0, 20_000_000, 1, 58_500_000_000, 360_000_000_000, 3_723_000_000_000].map { RateLimitHeaders.duration($0) })
        let headers = RateLimitHeaders(requests: .init(limit: 600, remaining: 12, resetNanos: 1_500_000_000), tokens: .init(limit: 9, remaining: 0, resetNanos: 61_000_000_000))
        var buffer = ByteBuffer()
        headers.write(into: &buffer)
        var lines = ""
        headers.forEach { lines += "\r\n\($0): \($1)" }
        #expect(String(buffer: buffer) == lines)
        #expect(lines.contains("x-ratelimit-reset-requests: 2s") && lines.contains("x-ratelimit-reset-tokens: 1m1s"))
    }

    @Test func everyPathTakesNoSlotTwiceAndLeavesNoneBehind() throws {
        let h = try Harness()
        for outcome in [Outcome.completed, .clientAborted(.streaming), .upstreamFailed(.upstreamResponse), .timedOut(.upstreamResponse)] {
            let exchange = try h.exchange("beta")
            #expect(h.run(exchange) == nil)
            #expect(h.snapshot.pipeline.bodyStages.contains { $0 is LimitStage })
            exchange.settle(outcome)
            h.advance(.seconds(1))
        }
        #expect(h.loop.metrics.snapshot().limits.flatMap { $0 }.reduce(0, +) > 0)
    }
}
