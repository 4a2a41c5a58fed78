import NIOCore
import PortcullisCore
import Testing

/// The per-endpoint shape: each refusal names the exact path at fault, and content parts are
/// read as features. Bodies are strict JSON already (``InferenceRequest``).
@Suite struct RequestShapeTests {
    static func check(_ body: String, _ endpoint: EndpointKind = .chatCompletions) -> (GatewayError?, RequestFeature.Set) {
        guard case .success = InferenceRequest.inspect(ByteBuffer(string: body)) else {
            Issue.record("not a valid body: \(body)")
            return (nil, .init())
        }
        switch InferenceRequest.inspect(ByteBuffer(string: body), endpoint: endpoint) {
        case .success(let request): return (nil, request.partFeatures)
        case .failure(let error): return (error, .init())
        }
    }

    static let chatCases: [(String, GatewayError?)] = [
        (#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#, nil),
        (#"{"model":"m","messages":[{"role":"system","content":null},{"role":"developer"},{"role":"assistant","content":null,"tool_calls":[]},{"role":"tool","content":"x","tool_call_id":"1"},{"role":"function","name":"f","content":"x"}]}"#, nil),
        (#"{"model":"m","messages":[{"role":"\u0075ser","content":[{"type":"text","text":"hi"}]}]}"#, nil),
        (#"{"model":"m"}"#, .missingField("messages")),
        (#"{"model":"m","messages":null}"#, .missingField("messages")),
        (#"{"model":"m","messages":{}}"#, .invalidField("messages", expected: .array)),
        (#"{"model":"m","messages":"hi"}"#, .invalidField("messages", expected: .array)),
        (#"{"model":"m","messages":[]}"#, .emptyField("messages")),
        (#"{"model":"m","messages":[{"role":"user"},7]}"#, .invalidField("messages[1]", expected: .object)),
        (#"{"model":"m","messages":[{"role":"user"},{"role":"user"},{"role":"robot"}]}"#, .invalidField("messages[2].role", expected: .role)),
        (#"{"model":"m","messages":[{"role":"User"}]}"#, .invalidField("messages[0].role", expected: .role)),
        (#"{"model":"m","messages":[{"role":1}]}"#, .invalidField("messages[0].role", expected: .role)),
        (#"{"model":"m","messages":[{"content":"hi"}]}"#, .missingField("messages[0].role")),
        (#"{"model":"m","messages":[{"role":"user","role":"system"}]}"#, .duplicateField("messages[0].role")),
        (#"{"model":"m","messages":[{"role":"user","content":"a","content":"b"}]}"#, .duplicateField("messages[0].content")),
        (#"{"model":"m","messages":[{"role":"user","content":5}]}"#, .invalidField("messages[0].content", expected: .content)),
        (#"{"model":"m","messages":[{"role":"user","content":{"type":"text"}}]}"#, .invalidField("messages[0].content", expected: .content)),
        (#"{"model":"m","messages":[{"role":"user","content":["hi"]}]}"#, .invalidField("messages[0].content[0]", expected: .object)),
        (#"{"model":"m","messages":[{"role":"user","content":[{"text":"hi"}]}]}"#, .invalidField("messages[0].content[0].type", expected: .string)),
        (#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","type":"image_url"}]}]}"#, .duplicateField("messages[0].content[0].type")),
    ]

    @Test(arguments: Self.chatCases)
    func chatMessagesAreCheckedToTheExactPath(body: String, error: GatewayError?) {
        #expect(Self.check(body).0 == error)
        #expect(error.map { $0.status == 400 && $0.param != nil } ?? true)
    }

    /// The shape is checked inside the one scan of the body; the grammar still comes first, and
    /// whitespace, depth and the inspection's own errors are as for a body read without it.
    @Test func theShapeIsCheckedInTheOneScanWithTheGrammarFirst() {
        let spaced = #"{ "model" : "m" , "messages" : [ { "role" : "user" , "content" : [ { "type" : "image_url" } , {"type":"text"} ] } ] }"#
        #expect(Self.check(spaced) == (nil, RequestFeature.Set([.images])))
        // A wrong role in the first message, then a syntax error later: the syntax error.
        let broken = #"{"model":"m","messages":[{"role":"robot"}],"temperature":}"#
        guard case .failure(.malformedJSON) = InferenceRequest.inspect(ByteBuffer(string: broken), endpoint: .chatCompletions) else {
            Issue.record("a syntax error after a shape problem must be the answer")
            return
        }
        // The inspection's own errors come before the shape's.
        let twice = #"{"model":"m","messages":[{"role":"robot"}],"messages":[]}"#
        #expect(InferenceRequest.inspect(ByteBuffer(string: twice), endpoint: .chatCompletions) == .failure(.duplicateKey(.messages)))
        let noModel = #"{"messages":[{"role":"robot"}]}"#
        #expect(InferenceRequest.inspect(ByteBuffer(string: noModel), endpoint: .chatCompletions) == .failure(.missingModel))
        // Nesting is counted from the top level, as without the shape check: 64 levels pass, 65 do not.
        func nested(_ levels: Int) -> String {
            // top object (1), messages (2), message (3), content (4), part (5), then arrays.
            let inner = String(repeating: "[", count: levels - 5) + String(repeating: "]", count: levels - 5)
            return #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","x":"# + inner + "}]}]}"
        }
        // And in each other place the chat check scans a value itself: a message member other than
        // `content` (values at depth 4), a message that is not an object (3), a part that is not
        // an object (5). A wrong message or part is a shape problem, so only the depth decides here.
        func brackets(_ n: Int) -> String { String(repeating: "[", count: n) + String(repeating: "]", count: n) }
        let places: [(Int) -> String] = [
            nested,
            { #"{"model":"m","messages":[{"role":"user","name":"# + brackets($0 - 3) + "}]}" },
            { #"{"model":"m","messages":["# + brackets($0 - 2) + "]}" },
            { #"{"model":"m","messages":[{"role":"user","content":["# + brackets($0 - 4) + "]}]}" },
        ]
        for (place, body) in places.enumerated() {
            for endpoint in [EndpointKind?.none, .chatCompletions] {
                let atLimit = InferenceRequest.inspect(ByteBuffer(string: body(64)), endpoint: endpoint)
                if case .failure(.malformedJSON) = atLimit { Issue.record("place \(place): 64 levels refused as malformed") }
                guard case .failure(.malformedJSON) = InferenceRequest.inspect(ByteBuffer(string: body(65)), endpoint: endpoint) else {
                    Issue.record("place \(place), \(String(describing: endpoint)): 65 levels not refused")
                    continue
                }
            }
        }
    }

    @Test func everyTopLevelKeyIsFoundByItsName() throws {
        // `model` itself: every body below needs one, and an escaped spelling is still it.
        #expect(try InferenceRequest.inspect(ByteBuffer(string: #"{"\u006dodel":"m"}"#)).get().model == "m")
        for key in RequestKey.topLevel where key != .model {
            let request = try InferenceRequest.inspect(ByteBuffer(string: #"{"model":"m","\#(key.name)":null}"#)).get()
            #expect(request.keys & key.rawValue != 0, "\(key)")
            let escaped = try InferenceRequest.inspect(ByteBuffer(string: #"{"model":"m","\u00\#(String(key.name.utf8Start.pointee, radix: 16))\#(String(String(describing: key.name).dropFirst()))":null}"#)).get()
            #expect(escaped.keys & key.rawValue != 0, "\(key), escaped")
        }
        #expect(try InferenceRequest.inspect(ByteBuffer(string: #"{"model":"m","modal":1,"top_k":1,"nn":1}"#)).get().keys == RequestKey.model.rawValue)
    }

    @Test func errorsNameThePathAndNeverEchoTheBody() {
        let error = Self.check(#"{"model":"m","messages":[{"role":"user"},{"role":"user"},{"role":"secret-prompt-text"}]}"#).0
        #expect(error?.param == "messages[2].role")
        #expect(error?.type == "invalid_request_error")
        #expect(error.map { !$0.message.contains("secret-prompt-text") } ?? false)
    }

    @Test(arguments: [
        (#"{"model":"m","prompt":"hi"}"#, EndpointKind.completions, nil),
        (#"{"model":"m","prompt":["a",[1,2]]}"#, .completions, nil),
        (#"{"model":"m","prompt":null}"#, .completions, nil),  // the spec allows null
        (#"{"model":"m"}"#, .completions, GatewayError.missingField("prompt")),
        (#"{"model":"m","prompt":{}}"#, .completions, .invalidField("prompt", expected: .stringOrArray)),
        (#"{"model":"m","prompt":1}"#, .completions, .invalidField("prompt", expected: .stringOrArray)),
        (#"{"model":"m","input":"hi"}"#, .embeddings, nil),
        (#"{"model":"m","input":[[1,2]]}"#, .embeddings, nil),
        (#"{"model":"m"}"#, .embeddings, .missingField("input")),
        (#"{"model":"m","input":null}"#, .embeddings, .missingField("input")),
        (#"{"model":"m","input":true}"#, .embeddings, .invalidField("input", expected: .stringOrArray)),
    ] as [(String, EndpointKind, GatewayError?)])
    func promptAndInputAreRequired(body: String, endpoint: EndpointKind, error: GatewayError?) {
        #expect(Self.check(body, endpoint).0 == error)
    }

    @Test func contentPartsAreReadAsFeatures() {
        let body = #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}}]},{"role":"user","content":[{"type":"input_audio","input_audio":{}},{"type":"file","file":{}}]}]}"#
        let (error, features) = Self.check(body)
        #expect(error == nil)
        #expect(features.features == [.images, .audio, .files])
        // The part types OpenAI-compatible servers (vLLM) accept for the same inputs.
        let aliases = #"{"model":"m","messages":[{"role":"user","content":[{"type":"input_image"},{"type":"audio_url"},{"type":"video_url"},{"type":"input_file"}]}]}"#
        #expect(Self.check(aliases).1.features == [.images, .audio, .files, .video])
        let unknown = #"{"model":"m","messages":[{"role":"user","content":[{"type":"text"},{"type":"refusal"},{"type":"hologram"}]}]}"#
        #expect(Self.check(unknown).1.features == [.otherContent])
        #expect(Self.check(#"{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}"#).1 == .init())
    }

    @Test func featureBitsFollowAllCases() {
        for (index, feature) in RequestFeature.allCases.enumerated() {
            #expect(feature.bit == 1 << UInt16(index), "\(feature)")
        }
        #expect(RequestFeature.Set([.tools, .images]).firstOutside(RequestFeature.Set([.tools])) == .images)
        #expect(RequestFeature.Set([.tools]).firstOutside(RequestFeature.Set.all) == nil)
    }
}

/// A model rewrite moves the request's offsets exactly as a second scan of the new body would
/// find them (the token cap relies on it instead of scanning again).
@Suite struct ModelRewriteOffsetTests {
    @Test(arguments: ["m", "a-much-longer-upstream-model-name", "\u{E9}\"x"])
    func offsetsAfterARewriteMatchAFreshScan(upstream: String) throws {
        let body = ByteBuffer(string: #"{"max_tokens":null,"model":"client-model","messages":[{"role":"user"}],"max_completion_tokens":null}"#)
        guard case .success(let request) = InferenceRequest.inspect(body, keepingMembers: true) else { throw CancellationError() }
        let rewritten = request.rewritingModel(in: body, to: upstream)
        let moved = request.afterModelRewrite(newLength: rewritten.readableBytes - body.readableBytes + request.modelTokenRange.count)
        guard case .success(let fresh) = InferenceRequest.inspect(rewritten, keepingMembers: true) else { throw CancellationError() }
        #expect(moved.members == fresh.members && fresh.members?.count == 4, "the kept members move with the rewrite")
        #expect(moved.nullTokenValues == fresh.nullTokenValues)
        #expect(moved.modelTokenRange == fresh.modelTokenRange)
        #expect(moved.messages == fresh.messages)
        #expect(moved.objectStart == fresh.objectStart)
        #expect(String(buffer: moved.fillingNullTokenCaps(with: 7, in: rewritten)).contains(#""max_completion_tokens":7}"#))
    }
}
