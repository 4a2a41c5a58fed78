import NIOCore
import NIOEmbedded
import PortcullisConfig
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// Hard ceilings on exchanges built without a channel: a stream is judged by its prompt estimate
/// and its fragments, extended from the quota past its reservation, cut when the quota is out,
/// and settled to the text it delivered.
@Suite struct CeilingTests {
    static let yaml = """
        authentication:
          apiKeys:
            - { name: a-key, tenant: acme, sha256: \(AuthFixture.sha("pc-acme-0123456789abcdef")) }
            - { name: b-key, tenant: beta, sha256: \(AuthFixture.sha("pc-beta-0123456789abcdef")) }
        tenants:
          acme: { limits: { tokensPerMinute: 200, maxTokens: 10, ceiling: [tokensPerMinute] } }
          beta: { limits: { tokensPerMinute: 200, maxTokens: 10 } }
        routes:
          - { name: chat, match: { model: demo-chat }, backend: b }
        """
    static let body = #"{"model":"demo-chat","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#

    struct Harness {
        let snapshot: GatewaySnapshot
        let eventLoop = EmbeddedEventLoop()
        let loop: LoopContext

        init() throws {
            self.snapshot = try ExchangeFixture.snapshot(CeilingTests.yaml)
            self.loop = try ExchangeFixture.loop(self.snapshot, eventLoop: self.eventLoop)
        }

        /// An admitted, forwarded exchange of `tenant`.
        func forwarded(_ tenant: String) throws -> Exchange {
            let exchange = try ExchangeFixture.exchange(
                self.snapshot, headers: [("authorization", "Bearer pc-\(tenant)-0123456789abcdef")], body: CeilingTests.body,
                loop: self.loop)
            if case .refused(let error) = ExchangeFixture.runPipeline(self.snapshot, on: exchange) { Issue.record("\(error)") }
            exchange.forwardedAt = self.loop.now()
            return exchange
        }

        var remaining: Int? {
            get throws {
                let probe = try ExchangeFixture.exchange(
                    self.snapshot, headers: [("authorization", "Bearer pc-acme-0123456789abcdef")], body: CeilingTests.body,
                    loop: self.loop)
                _ = ExchangeFixture.runPipeline(self.snapshot, on: probe)
                defer { probe.settle(.refused(.internalError)) }
                return probe.rateLimitHeaders?.tokens?.remaining
            }
        }
    }

    @Test func aStreamWithinItsReservationIsNeverExtendedNorCut() throws {
        let h = try Harness()
        let exchange = try h.forwarded("acme")
        let ticket = try #require(exchange.ceilingTicket)
        let reserved = try #require(ticket.charges.first).cost
        #expect(reserved == exchange.estimatedPromptTokens + 10)
        for fragments in 0...10 { #expect(ticket.checkCeilings(exchange, fragments: fragments) == nil) }
        #expect(ticket.charges[0].cost == reserved)
        exchange.settle(.completed)
        // No other tenant's exchange has a ceiling to watch.
        let plain = try h.forwarded("beta")
        #expect(plain.ceilingTicket == nil)
        plain.settle(.completed)
    }

    @Test func aStreamPastItsReservationIsExtendedThenCutWhenTheQuotaRunsOut() throws {
        let h = try Harness()
        let exchange = try h.forwarded("acme")
        let ticket = try #require(exchange.ceilingTicket)
        let prompt = exchange.estimatedPromptTokens
        // One past the reservation: a step of 32 is taken.
        #expect(ticket.checkCeilings(exchange, fragments: 11) == nil)
        #expect(ticket.charges[0].cost == prompt + 10 + LimitTicket.step)
        // Up to the whole quota: the last extension is the exact excess, when a step does not fit.
        #expect(ticket.checkCeilings(exchange, fragments: 200 - prompt) == nil)
        #expect(ticket.charges[0].cost == 200)
        // One more fragment: the quota has nothing left, the ceiling is reached, and stays so.
        let reached = try #require(ticket.checkCeilings(exchange, fragments: 201 - prompt))
        #expect(reached.rule.name == .tokensPerMinute)
        #expect(ticket.checkCeilings(exchange, fragments: 202 - prompt) != nil)
        // Cut off: settled like a stream without usage, to the prompt estimate and the text the
        // client received as the conservative count had it (here more than the quota: in debt).
        exchange.generatedTokens = 230
        exchange.settle(.refused(.tokenQuotaExceeded))
        #expect(exchange.chargedTokens == prompt + 230)
        #expect(try h.remaining == 0, "the quota is spent: the next reservation does not fit")
    }

    @Test func anExtendedStreamThatEndsSettlesToItsUsage() throws {
        let h = try Harness()
        let exchange = try h.forwarded("acme")
        let ticket = try #require(exchange.ceilingTicket)
        #expect(ticket.checkCeilings(exchange, fragments: 40) == nil)
        exchange.usage = Usage(promptTokens: 5, completionTokens: 40, totalTokens: 45)
        exchange.settle(.completed)
        #expect(exchange.chargedTokens == 45)
        // The extension went back with the settlement: 200 − 45 are left (a hair refills meanwhile).
        let left = try #require(try h.remaining)
        let reservation = exchange.estimatedPromptTokens + 10
        #expect(left == 200 - 45 - reservation)
    }

    @Test func theOpenReservationsGaugeCountsTicketsUntilTheySettle() throws {
        let h = try Harness()
        let first = try h.forwarded("acme")
        let second = try h.forwarded("beta")
        #expect(h.loop.metrics.snapshot().openReservations == 2)
        first.settle(.completed)
        second.settle(.clientAborted(.streaming))
        #expect(h.loop.metrics.snapshot().openReservations == 0)
    }
}
