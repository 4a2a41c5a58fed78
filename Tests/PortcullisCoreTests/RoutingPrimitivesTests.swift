import Testing

@testable import PortcullisCore

@Suite struct GlobTests {
    @Test(arguments: [
        ("gpt-*", "gpt-4o", true), ("gpt-*", "gpt-", true), ("gpt-*", "gpt", false), ("*", "", true),
        ("llama-3*-instruct", "llama-3.1-8b-instruct", true), ("llama-3*-instruct", "llama-3.1-8b", false),
        ("a?c", "abc", true), ("a?c", "ac", false), ("exact", "exact", true), ("exact", "exactly", false),
        ("*a*a*a*a*b", String(repeating: "a", count: 200), false),
    ])
    func matches(pattern: String, value: String, expected: Bool) {
        #expect(Glob(pattern).matches(value) == expected)
    }
}

@Suite struct RequestTargetTests {
    @Test(arguments: [
        "/v1/chat/completions", "/v1/models/iris:predict", "/v2/models/x/infer?y=1", "/v1/models",
    ])
    func acceptsCleanPaths(uri: String) throws {
        let target = try RequestTarget.parse(uri).get()
        #expect(target.pathAndQuery == uri)
    }

    @Test func decodesUnreservedEscapes() throws {
        #expect(try RequestTarget.parse("/%76%31/chat/completions").get().path == "/v1/chat/completions")
        #expect(try RequestTarget.parse("/v1/a%20b").get().path == "/v1/a%20b")
    }

    @Test(arguments: [
        "http://evil/v1/models", "*", "v1/models", "/v1/../admin", "/v1/%2e%2e/admin", "/v1/%2E%2E/x", "/v1//models",
        "/v1/./models", "/v1/models/..", "/v1%2fmodels", "/v1\\models", "/v1/a%00b", "/v1/a b", "/v1/\u{e9}",
        "/v1/a%zz", "/v1/a#frag", "/.", "//", "/v2/models/iris/..;/admin", "/v1/a;b", "/v1/a%3bb",
    ])
    func refusesTricks(uri: String) {
        guard case .failure = RequestTarget.parse(uri) else {
            Issue.record("accepted \(uri)")
            return
        }
    }
}

@Suite struct RequestIDTests {
    @Test func saneTokens() {
        #expect(RequestID.isSane("abc-123_x.y:z"))
        #expect(!RequestID.isSane(""))
        #expect(!RequestID.isSane("a b"))
        #expect(!RequestID.isSane("a\r\nb"))
        #expect(!RequestID.isSane(Substring(String(repeating: "a", count: 129))))
    }

    @Test func generatedIDsAreUniqueAndSane() {
        let generator = RequestIDGenerator()
        let ids = (0..<1000).map { _ in generator.next() }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { RequestID.isSane(Substring($0)) && $0.count == 32 })
    }
}

@Suite struct GatewayErrorTests {
    @Test func rendersOpenAIShape() {
        let body = String(buffer: GatewayError.modelNotFound("x\"y").renderBody())
        #expect(
            body
                == #"{"error":{"message":"The model 'x\"y' does not exist or you do not have access to it.","type":"invalid_request_error","param":"model","code":"model_not_found"}}"#
        )
        #expect(String(buffer: GatewayError.notFound.renderBody()).contains(#""param":null"#))
    }
}
