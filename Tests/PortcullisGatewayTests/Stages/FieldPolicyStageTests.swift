import NIOCore
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// Features, forbidden fields and unknown fields, over a table of plans and bodies, through
/// the snapshot's whole pipeline (so the stage order is part of what is tested).
@Suite struct FieldPolicyStageTests {
    static let yaml = """
        authentication:
          apiKeys:
            - { name: basic-key, tenant: basic, sha256: \(AuthFixture.sha("pc-basic-0123456789abcdef")) }
            - { name: full-key, tenant: full, sha256: \(AuthFixture.sha("pc-full-0123456789abcdef")) }
            - { name: vip-key, tenant: vip, sha256: \(AuthFixture.sha("pc-vip-0123456789abcdef")) }
        tenants:
          basic: { plan: basic }
          full: {}
          vip: { plan: basic, features: [streaming, tools, images], forbiddenFields: [] }
        plans:
          basic: { features: [streaming], forbiddenFields: [logit_bias, seed] }
        routes:
          - { name: chat, match: { model: chat }, backend: b }
          - { name: strict, match: { model: strict }, backend: b, unknownFields: reject }
          - { name: embed, match: { model: embed }, backend: b }
        """

    static let basic = "pc-basic-0123456789abcdef"
    static let full = "pc-full-0123456789abcdef"
    static let vip = "pc-vip-0123456789abcdef"
    static let hi = #""messages":[{"role":"user","content":"hi"}]"#

    static func run(_ key: String, _ body: String, uri: String = "/v1/chat/completions") throws -> GatewayError? {
        let snapshot = try ExchangeFixture.snapshot(Self.yaml)
        let exchange = try ExchangeFixture.exchange(snapshot, uri: uri, headers: [("authorization", "Bearer \(key)")], body: body)
        if case .refused(let error) = ExchangeFixture.runPipeline(snapshot, on: exchange) { return error }
        return nil
    }

    @Test(arguments: [
        (#"{"model":"chat",\#(hi)}"#, nil),
        (#"{"model":"chat",\#(hi),"stream":true}"#, nil),
        (#"{"model":"chat",\#(hi),"stream":false,"tools":null,"logprobs":false,"n":1}"#, nil),
        (#"{"model":"chat",\#(hi),"tools":[{"type":"function","function":{"name":"f"}}]}"#, GatewayError.featureNotAllowed(.tools)),
        (#"{"model":"chat",\#(hi),"tool_choice":"auto"}"#, .featureNotAllowed(.tools)),
        (#"{"model":"chat",\#(hi),"functions":[]}"#, .featureNotAllowed(.tools)),
        (#"{"model":"chat","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}}]}]}"#, .featureNotAllowed(.images)),
        (#"{"model":"chat","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}"#, .featureNotAllowed(.audio)),
        (#"{"model":"chat",\#(hi),"modalities":["text","audio"]}"#, .featureNotAllowed(.audio)),
        (#"{"model":"chat",\#(hi),"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}"#, .featureNotAllowed(.jsonSchema)),
        (#"{"model":"chat",\#(hi),"response_format":{"type":"json_object"}}"#, .featureNotAllowed(.jsonMode)),
        (#"{"model":"chat",\#(hi),"response_format":{"type":"text"}}"#, nil),
        (#"{"model":"chat",\#(hi),"logprobs":true}"#, .featureNotAllowed(.logprobs)),
        (#"{"model":"chat",\#(hi),"top_logprobs":2}"#, .featureNotAllowed(.logprobs)),
        (#"{"model":"chat",\#(hi),"n":2}"#, .featureNotAllowed(.multipleChoices)),
        (#"{"model":"chat",\#(hi),"web_search_options":{}}"#, .featureNotAllowed(.webSearch)),
        (#"{"model":"chat",\#(hi),"guided_json":{"type":"object"}}"#, .featureNotAllowed(.jsonSchema)),
        (#"{"model":"chat",\#(hi),"prompt_logprobs":1}"#, .featureNotAllowed(.logprobs)),
        (#"{"model":"chat",\#(hi),"best_of":"4"}"#, .featureNotAllowed(.multipleChoices)),
        (#"{"model":"chat","messages":[{"role":"user","content":[{"type":"video_url","video_url":{"url":"u"}}]}]}"#, .featureNotAllowed(.video)),
        (#"{"model":"chat","messages":[{"role":"user","content":[{"type":"hologram"}]}]}"#, .featureNotAllowed(.otherContent)),
        (#"{"model":"chat","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}]}"#, nil),
        (#"{"model":"embed","input":"x"}"#, .featureNotAllowed(.embeddings)),
        (#"{"model":"chat",\#(hi),"logit_bias":{"50256":-100}}"#, .fieldNotAllowed("logit_bias")),
        (#"{"model":"chat",\#(hi),"seed":1}"#, .fieldNotAllowed("seed")),
        (#"{"model":"chat",\#(hi),"logit_bias":null}"#, nil),  // not set
        (#"{"model":"chat",\#(hi),"\u0074ools":[]}"#, .featureNotAllowed(.tools)),  // an escaped key is that key
    ] as [(String, GatewayError?)])
    func aPlanAllowsItsFeaturesAndFieldsOnly(body: String, refusal: GatewayError?) throws {
        let uri = body.contains(#""embed""#) ? "/v1/embeddings" : "/v1/chat/completions"
        #expect(try Self.run(Self.basic, body, uri: uri) == refusal)
        // No plan: nothing is refused here.
        #expect(try Self.run(Self.full, body, uri: uri) == nil)
    }

    @Test func refusalsNameTheFeatureOrField() {
        let feature = GatewayError.featureNotAllowed(.tools)
        #expect(feature.status == 403 && feature.code == "feature_not_allowed" && feature.param == "tools")
        #expect(feature.type == "permission_error" && feature.reason.category == .policy)
        let field = GatewayError.fieldNotAllowed("logit_bias")
        #expect(field.status == 400 && field.code == "field_not_allowed" && field.param == "logit_bias")
    }

    /// A tenant's own `features` and `forbiddenFields` replace its plan's.
    @Test func aTenantOverridesItsPlan() throws {
        #expect(try Self.run(Self.vip, #"{"model":"chat",\#(Self.hi),"tools":[]}"#) == nil)
        #expect(try Self.run(Self.vip, #"{"model":"chat",\#(Self.hi),"seed":1}"#) == nil)
        #expect(try Self.run(Self.vip, #"{"model":"chat",\#(Self.hi),"n":3}"#) == .featureNotAllowed(.multipleChoices))
    }

    @Test func aStrictRouteRefusesFieldsTheSpecDoesNotDefine() throws {
        #expect(try Self.run(Self.full, #"{"model":"strict",\#(Self.hi),"temperature":1,"seed":3}"#) == nil)
        #expect(try Self.run(Self.full, #"{"model":"strict",\#(Self.hi),"top_k":5}"#) == .unknownField("top_k"))
        // Keys are looked up on their bytes; an escaped spelling of a defined key is that key.
        #expect(try Self.run(Self.full, #"{"model":"strict",\#(Self.hi),"\u0074op_p":0.5}"#) == nil)
        #expect(try Self.run(Self.full, #"{"model":"strict",\#(Self.hi),"top_p ":0.5}"#) == .unknownField("(an unrecognized field)"))
        #expect(try Self.run(Self.full, #"{"model":"chat",\#(Self.hi),"top_k":5}"#) == nil, "passed through by default")
        // A key that cannot be shown safely is not echoed.
        let odd = try Self.run(Self.full, #"{"model":"strict",\#(Self.hi),"a\nb'c":5}"#)
        #expect(odd == .unknownField("(an unrecognized field)"))
        #expect(GatewayError.unknownField("top_k").code == "unknown_parameter")
    }

    /// Each endpoint's own fields: a field another endpoint's spec defines is unknown here.
    @Test(arguments: [
        (EndpointKind.completions, #"{"model":"m","prompt":"x","best_of":2,"suffix":"s"}"#, nil),
        (.completions, #"{"model":"m","prompt":"x","messages":[]}"#, GatewayError.unknownField("messages")),
        (.embeddings, #"{"model":"m","input":"x","dimensions":8,"encoding_format":"float"}"#, nil),
        (.embeddings, #"{"model":"m","input":"x","best_of":1}"#, .unknownField("best_of")),
        (.chatCompletions, #"{"model":"m","messages":[],"input":"x"}"#, .unknownField("input")),
        (.chatCompletions, #"{"model":"m","messages":[],"prompt":"x"}"#, .unknownField("prompt")),
    ] as [(EndpointKind, String, GatewayError?)])
    func unknownFieldsArePerEndpoint(endpoint: EndpointKind, body: String, refusal: GatewayError?) {
        let result = ByteBuffer(string: body).withUnsafeReadableBytes {
            FieldPolicyStage.scan($0, endpoint: endpoint, forbidden: [], rejectsUnknown: true)
        }
        switch result {
        case .success: #expect(refusal == nil, "\(body)")
        case .failure(let error): #expect(error == refusal, "\(body)")
        }
    }

    /// The members the inspection kept and a scan of the body give the same answer.
    @Test(arguments: [
        #"{"model":"chat","tools":[],"n":3,"seed":1,"response_format":{"type":"json_object"}}"#,
        #"{"model":"chat","logprobs":false,"top_k":2,"modalities":["audio"]}"#,
        #"{"model":"chat","messages":[],"seed":null}"#,
        #"{"model":"chat","\u0074ools":[],"n\u0000":1}"#,
    ])
    func keptMembersAnswerAsAScanDoes(body: String) throws {
        let buffer = ByteBuffer(string: body)
        let request = try InferenceRequest.inspect(buffer, keepingMembers: true).get()
        for (forbidden, rejectsUnknown) in [([], false), (["seed"], false), ([], true)] as [([String], Bool)] {
            let kept = buffer.withUnsafeReadableBytes {
                FieldPolicyStage.scan($0, members: request.members, endpoint: .chatCompletions, forbidden: forbidden, rejectsUnknown: rejectsUnknown)
            }
            let scanned = buffer.withUnsafeReadableBytes {
                FieldPolicyStage.scan($0, members: nil, endpoint: .chatCompletions, forbidden: forbidden, rejectsUnknown: rejectsUnknown)
            }
            #expect(kept == scanned)
        }
    }
}
