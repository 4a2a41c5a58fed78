import Testing

@testable import PortcullisCore

/// The pure arithmetic of limits: GCRA rates and quotas, the prompt estimate, and what a 429
/// says. No clock: time is a number the test chooses.
@Suite struct LimitArithmeticTests {
    static let second: Int64 = 1_000_000_000

    /// Spends one unit `count` times at `now`; the decisions.
    static func spend(_ gcra: GCRA, tat: inout Int64, now: Int64, count: Int, cost: Int = 1) -> [Bool] {
        (0..<count).map { _ in
            let decision = gcra.decide(tat: tat, now: now, cost: cost)
            tat = decision.tat
            return decision.allowed
        }
    }

    @Test func aBurstOf20On10PerSecondThenTenMoreASecondLater() {
        let gcra = GCRA(limit: 10, periodNanos: Self.second, burst: 20)
        var tat: Int64 = 0
        let start: Int64 = 1_000 * Self.second
        #expect(Self.spend(gcra, tat: &tat, now: start, count: 21) == Array(repeating: true, count: 20) + [false])
        let refused = gcra.decide(tat: tat, now: start, cost: 1)
        #expect(refused.retryAfterNanos == Self.second / 10 && refused.remaining == 0)
        #expect(refused.resetNanos == 2 * Self.second)
        let later = Self.spend(gcra, tat: &tat, now: start + Self.second, count: 11)
        #expect(later == Array(repeating: true, count: 10) + [false])
    }

    @Test func aWindowLimitWithoutABurstAdmitsItsWholeLimitAtOnce() {
        let gcra = GCRA(limit: 50, periodNanos: 3600 * Self.second)
        var tat: Int64 = 0
        let results = Self.spend(gcra, tat: &tat, now: 5 * Self.second, count: 200)
        #expect(results.filter { $0 }.count == 50 && results.prefix(50).allSatisfy { $0 })
        #expect(gcra.decide(tat: tat, now: 5 * Self.second, cost: 1).retryAfterNanos == 72 * Self.second)
    }

    @Test func aCostLargerThanTheLimitNeverFitsAndAZeroLimitRefusesEverything() {
        let quota = GCRA(limit: 1000, periodNanos: 60 * Self.second)
        let big = quota.decide(tat: 0, now: 0, cost: 1001)
        #expect(!big.allowed && big.retryAfterNanos == .max)
        #expect(quota.decide(tat: 0, now: 0, cost: 1000).allowed, "exactly at the limit is accepted")
        let closed = GCRA(limit: 0, periodNanos: Self.second)
        #expect(!closed.decide(tat: 0, now: 0, cost: 0).allowed)
        // A cost of 0 (a path route's reservation) fits until the quota is spent.
        #expect(quota.decide(tat: 60 * Self.second, now: 0, cost: 0).allowed)
        #expect(!quota.decide(tat: 61 * Self.second, now: 0, cost: 0).allowed)
    }

    @Test func settlingCreditsBackButNeverPastFull() {
        let quota = GCRA(limit: 1000, periodNanos: 1000 * Self.second)  // a token a second
        let reserved = quota.decide(tat: 0, now: 0, cost: 300)
        #expect(reserved.remaining == 700)
        // Used 100 of 300: 200 come back.
        let settled = quota.adjust(tat: reserved.tat, now: 0, units: 200)
        #expect(quota.peek(tat: settled, now: 0).remaining == 900)
        // A credit larger than what is spent stops at full.
        #expect(quota.adjust(tat: settled, now: 0, units: 5000) == 0)
        // Used more than reserved: charged the difference.
        let over = quota.adjust(tat: settled, now: 0, units: -400)
        #expect(quota.peek(tat: over, now: 0).remaining == 500)
        // An absurd overcharge empties the key for one window at most.
        let absurd = quota.adjust(tat: over, now: 0, units: -(1 << 40))
        #expect(absurd == over + quota.tolerance)
        #expect(quota.peek(tat: absurd, now: absurd).remaining == 1000)
    }

    @Test func hugeValuesSaturateInsteadOfTrapping() {
        let day = GCRA(limit: 1, periodNanos: 86_400 * Self.second)
        let decision = day.decide(tat: 0, now: 0, cost: Int.max)
        #expect(!decision.allowed)
        #expect(day.adjust(tat: .max - 1, now: 0, units: Int.min) == .max)
        #expect(LimitRefusal(name: .tokensPerDay, rule: nil, limit: 1, cost: 2, retryAfterNanos: .max - 1).retryAfterSeconds == Int((Int64.max - 1) / 1_000_000_000) + 1)
        #expect(day.adjust(tat: 5, now: 0, units: Int.max) == 0)
    }

    @Test func limitNamesAreNumberedByTheirPosition() {
        for (i, name) in LimitName.allCases.enumerated() { #expect(name.ordinal == i) }
        #expect(LimitName.allCases.filter(\.isCounted).count == 9)
        #expect(LimitName.allCases.filter(\.isReserved) == [.tokensPerMinute, .tokensPerHour, .tokensPerDay, .budgetPerDay, .budgetPerMonth])
    }

    @Test func thePromptEstimateIsABytesRuleWithAFixedAllowancePerMediaPart() {
        #expect(PromptEstimate.tokens(bodyBytes: 180, request: nil) == 60)
        #expect(PromptEstimate.tokens(bodyBytes: 181, request: nil) == 61)
        let body = #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}"#
        let request = try! InferenceRequest.inspect(ByteBuffer(string: body), endpoint: .chatCompletions).get()
        #expect(request.mediaParts == 1 && request.mediaBytes == 69)
        #expect(PromptEstimate.tokens(bodyBytes: body.utf8.count, request: request) == (body.utf8.count - 69 + 2) / 3 + 2048)
    }

    @Test func aRefusalNamesTheLimitAndWhenToRetry() {
        let rate = LimitRefusal(name: .requestsPerMinute, rule: nil, limit: 600, cost: 1, retryAfterNanos: 1_200_000_000)
        #expect(rate.retryAfterSeconds == 2)
        #expect(GatewayError.limitExceeded(rate).message == "Rate limit reached for requests per minute: limit 600. Try again in 2s.")
        #expect(GatewayError.limitExceeded(rate).status == 429 && GatewayError.limitExceeded(rate).code == "rate_limit_exceeded")
        #expect(GatewayError.limitExceeded(rate).headers.first { $0.0 == "retry-after" }?.1 == "2")
        let tokens = LimitRefusal(name: .tokensPerDay, rule: "shared", limit: 100, cost: 500, retryAfterNanos: .max)
        #expect(tokens.retryAfterSeconds == nil && GatewayError.limitExceeded(tokens).headers.isEmpty)
        #expect(GatewayError.limitExceeded(tokens).message.contains("more than the whole limit of 100 tokens per day (limit 'shared')"))
        #expect(GatewayError.limitExceeded(tokens).reason == .tokenQuotaExceeded && GatewayError.limitExceeded(tokens).type == "tokens")
        let slots = LimitRefusal(name: .concurrency, rule: nil, limit: 2, cost: 1, retryAfterNanos: Self.second)
        #expect(GatewayError.limitExceeded(slots).reason == .concurrencyLimited)
        #expect(GatewayError.promptTooLarge(estimate: 61, limit: 60).status == 413)
    }
}

import NIOCore
