import PortcullisCore
import Testing

@testable import PortcullisGateway

@Suite struct RequestInspectionStageTests {
    static let cases: [(String, String?, GatewayError?)] = [
        ("/v1/chat/completions", #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#, nil),
        ("/v1/chat/completions", #"{"model":"m","messages":[]}"#, .emptyField("messages")),
        ("/v1/chat/completions", nil, .emptyBody),
        ("/v1/chat/completions", "", .emptyBody),
        ("/v1/chat/completions", "[1]", .notAnObject),
        ("/v1/chat/completions", #"{"messages":[]}"#, .missingModel),
        ("/v1/chat/completions", #"{"model":""}"#, .modelNotString),
        ("/v1/chat/completions", #"{"model":"m","model":"n"}"#, .duplicateKey(.model)),
        ("/v1/embeddings", #"{"model":"m","stream":1}"#, .invalidType(param: .stream, expected: .boolean)),
        // Endpoints without a JSON body are not inspected.
        ("/v1/models", nil, nil),
    ]

    @Test(arguments: Self.cases)
    func inspectsOpenAIBodiesOnce(path: String, body: String?, refusal: GatewayError?) throws {
        let snapshot = try ExchangeFixture.snapshot("routes: [{ match: { model: m }, backend: b }]")
        let exchange = try ExchangeFixture.exchange(snapshot, method: path == "/v1/models" ? .GET : .POST, uri: path, body: body)
        let result = RequestInspectionStage().evaluate(exchange)
        #expect(result.refusal == refusal)
        if refusal == nil && path != "/v1/models" { #expect(exchange.request?.model == "m") }
    }

    @Test func malformedJSONNamesTheByte() throws {
        let snapshot = try ExchangeFixture.snapshot("routes: [{ match: { model: m }, backend: b }]")
        let exchange = try ExchangeFixture.exchange(snapshot, body: #"{"model":"m",}"#)
        guard case .malformedJSON(let problem)? = RequestInspectionStage().evaluate(exchange).refusal else {
            Issue.record("not refused as malformed")
            return
        }
        #expect(problem.offset == 13)  // the `}` where a key was due
        #expect(GatewayError.malformedJSON(problem).status == 400)
    }
}
