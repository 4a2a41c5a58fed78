import NIOCore
import NIOEmbedded
import PortcullisConfig
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// Cost budgets: the most a request may cost is reserved at the model's price, a request that
/// does not fit is refused with 429 `insufficient_quota`, and settlement charges the usage.
@Suite struct BudgetTests {
    static let yaml = """
        authentication:
          apiKeys:
            - { name: a-key, tenant: acme, sha256: \(AuthFixture.sha("pc-acme-0123456789abcdef")) }
        prices:
          demo-chat: { input: 1, output: 2 }       # µUSD 1 and 2 a token
        tenants:
          acme: { limits: { budgetPerDay: 0.01, maxTokens: 1000 } }
        routes:
          - { name: chat, match: { model: "demo-*" }, backend: b }
        """

    static func passed(_ result: StageRunner.Result) -> Bool {
        if case .passed = result { return true }
        return false
    }

    @Test func pricesAreExactAndRoundUp() {
        let price = ModelPrice(inputPerMillion: 2_500_000, outputPerMillion: 10_000_000)  // $2.50 and $10 a million
        #expect(price.cost(prompt: 1000, completion: 100) == 3500)
        #expect(price.cost(prompt: 1, completion: 0) == 3, "2.5 µUSD rounds up")
        #expect(price.cost(prompt: Usage.maxCount, completion: Usage.maxCount) == Usage.maxCount, "saturates")
        #expect(Quantities.parseDollars("0.1") == 100_000 && Quantities.parseDollars("25") == 25_000_000)
        #expect(Quantities.parseDollars("1.0000001") == nil && Quantities.parseDollars("-1") == nil && Quantities.parseDollars("1e3") == nil)
        #expect(ModelPrice.dollars(25_000_000) == "$25.00" && ModelPrice.dollars(12_500) == "$0.0125" && ModelPrice.dollars(2_050_000) == "$2.05")
    }

    @Test func aBudgetReservesTheMostARequestMayCostAndSettlesToItsUsage() throws {
        let snapshot = try ExchangeFixture.snapshot(Self.yaml)
        let loop = try ExchangeFixture.loop(snapshot, eventLoop: EmbeddedEventLoop())
        func exchange(_ model: String = "demo-chat") throws -> Exchange {
            try ExchangeFixture.exchange(
                snapshot, headers: [("authorization", "Bearer pc-acme-0123456789abcdef")],
                body: #"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}],"max_tokens":1000}"#, loop: loop)
        }
        // Each reserves its prompt estimate plus 1,000 completion tokens at 2 µUSD: about
        // 2,020 µUSD of the 10,000 a day, so four fit while they are all in flight.
        var open: [Exchange] = []
        for _ in 0..<4 {
            let e = try exchange()
            #expect(Self.passed(ExchangeFixture.runPipeline(snapshot, on: e)))
            open.append(e)
        }
        let refused = try exchange()
        guard case .refused(let error) = ExchangeFixture.runPipeline(snapshot, on: refused) else {
            Issue.record("the fifth must not fit")
            return
        }
        refused.settle(.refused(error.reason))
        #expect(error.status == 429 && error.code == "insufficient_quota" && error.type == "insufficient_quota")
        #expect(error.reason == .budgetExceeded)
        #expect(error.message.contains("budget per day") && error.message.contains("$0.01"), "\(error.message)")
        #expect(error.headers.contains { $0.0 == "retry-after" })
        // Settled to their usage (10 in, 20 out: 50 µUSD each), they free room for more.
        for e in open {
            e.forwardedAt = loop.now()
            e.usage = Usage(promptTokens: 10, completionTokens: 20, totalTokens: 30)
            e.settle(.completed)
            #expect(e.chargedMicros == 50)
        }
        var admitted = 0
        for _ in 0..<5 {
            let e = try exchange()
            if Self.passed(ExchangeFixture.runPipeline(snapshot, on: e)) { admitted += 1 }
            e.settle(.completed)  // never forwarded: nothing charged
        }
        #expect(admitted == 5)
        // A model without a price costs nothing against the budget.
        let free = try exchange("demo-free")
        #expect(Self.passed(ExchangeFixture.runPipeline(snapshot, on: free)))
        free.settle(.completed)
    }
}
