import NIOCore
import PortcullisCore
import Testing

@testable import PortcullisGateway

@Suite struct ModelRoutingStageTests {
    static let yaml = """
        routes:
          - { name: exact, match: { model: gpt-4o }, backend: b }
          - { name: glob, match: { model: "llama-*" }, backend: b, maxRequestBytes: 64 }
          - { name: alias, match: { model: friendly }, backend: b, rewriteModel: "org/real-v2" }
        """

    func route(_ body: String) throws -> (StageResult, Exchange) {
        let snapshot = try ExchangeFixture.snapshot(Self.yaml)
        let exchange = try ExchangeFixture.exchange(snapshot, body: body)
        #expect(RequestInspectionStage().evaluate(exchange).proceeded)
        return (ModelRoutingStage().evaluate(exchange), exchange)
    }

    @Test(arguments: [
        (#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#, "exact"), (#"{"model":"llama-3-8b","messages":[{"role":"user"}]}"#, "glob"), (#"{"model":"friendly","messages":[{"role":"user","content":"hi"}]}"#, "alias"),
    ])
    func routesByModelExactBeforeGlob(body: String, route: String) throws {
        let (result, exchange) = try self.route(body)
        #expect(result.proceeded)
        #expect(exchange.route?.name == route)
    }

    @Test func unknownModelsAre404AndEchoedEscaped() throws {
        let (result, _) = try self.route(#"{"model":"nope\"x","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(result.refusal == .modelNotFound("nope\"x"))
        #expect(result.refusal?.status == 404)
    }

    @Test func aRoutesOwnBodyLimitIsCheckedOnceTheModelIsKnownAndKeepsTheConnection() throws {
        let (result, _) = try self.route(#"{"model":"llama-3","messages":[{"role":"user","content":"a long enough prompt"}]}"#)
        #expect(result.refusal == .bodyTooLarge(limit: 64, bodyRead: true))
        #expect(result.refusal?.closesConnection == false)
    }

    @Test func rewriteSplicesTheUpstreamModel() throws {
        let (result, exchange) = try self.route(#"{"model":"friendly","messages":[{"role":"user","content":"hi"}],"n":1}"#)
        #expect(result.proceeded)
        #expect(exchange.body.map { String(buffer: $0) } == #"{"model":"org/real-v2","messages":[{"role":"user","content":"hi"}],"n":1}"#)
    }
}
