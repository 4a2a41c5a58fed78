import NIOHTTP1
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// The head check alone, over a table of heads.
@Suite struct RequestHeadCheckTests {
    static let yaml = """
        routes:
          - { match: { model: m }, backend: b }
          - { match: { pathPrefix: /v1/models/iris }, backend: b, maxRequestBytes: 100 }
        """

    static func check(
        _ method: HTTPMethod = .POST, _ uri: String = "/v1/chat/completions", version: HTTPVersion = .http1_1,
        _ headers: [(String, String)] = [("host", "gw")], http2: Bool = false
    ) throws -> RequestHeadCheck.Result {
        let snapshot = try ExchangeFixture.snapshot(Self.yaml)
        let head = HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
        return RequestHeadCheck.check(head, isHTTP2: http2, config: snapshot.config)
    }

    static func refusal(_ result: RequestHeadCheck.Result) -> GatewayError? {
        if case .refused(let error, _) = result { return error }
        return nil
    }

    @Test(arguments: [
        ([], GatewayError.badHost(.missing)),
        ([("host", "a"), ("Host", "b")], .badHost(.duplicated)),
        ([("host", "a b")], .badHost(.invalid)),
        ([("host", "a\u{7F}")], .badHost(.invalid)),
        ([("host", "[::1"), ], .badHost(.invalid)),
        ([("host", "gw:port")], .badHost(.invalid)),
        ([("host", "gw:123456")], .badHost(.invalid)),
    ])
    func http11NeedsExactlyOneValidHost(headers: [(String, String)], error: GatewayError) throws {
        #expect(Self.refusal(try Self.check(.POST, "/v1/chat/completions", headers)) == error)
    }

    @Test(arguments: ["gw", "gw.example.com:8443", "[::1]:80", "10.0.0.1", "xn--bcher-kva.example", "a%20b", ""])
    func validHostsPass(host: String) throws {
        #expect(Self.refusal(try Self.check(.POST, "/v1/chat/completions", [("host", host)])) == nil)
    }

    /// A JSON endpoint's body must be declared JSON, or not declared at all; other endpoints
    /// are not asked.
    @Test func openAIBodiesMustBeJSON() throws {
        let host = ("host", "gw")
        for type in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "multipart/form-data"] {
            #expect(Self.refusal(try Self.check(.POST, "/v1/chat/completions", [host, ("content-type", type)])) == .unsupportedMediaType)
            #expect(Self.refusal(try Self.check(.POST, "/v1/embeddings", [host, ("content-type", type)])) == .unsupportedMediaType)
        }
        for type in ["application/json", "Application/JSON; charset=utf-8", " application/json ", "application/vnd.api+json"] {
            #expect(Self.refusal(try Self.check(.POST, "/v1/completions", [host, ("content-type", type)])) == nil, "\(type)")
        }
        #expect(Self.refusal(try Self.check(.POST, "/v1/chat/completions", [host])) == nil, "none declared: taken as JSON")
        #expect(Self.refusal(try Self.check(.GET, "/v1/models", [host, ("content-type", "text/plain")])) == nil)
        #expect(GatewayError.unsupportedMediaType.status == 415)
        // Two copies: every one must say JSON (backends differ on which they read).
        #expect(
            Self.refusal(try Self.check(.POST, "/v1/chat/completions", [host, ("content-type", "text/plain"), ("content-type", "application/json")]))
                == .unsupportedMediaType)
    }

    @Test func http10NeedsNoHostButMustNotBeChunked() throws {
        #expect(Self.refusal(try Self.check(.GET, "/v1/models", version: .http1_0, [])) == nil)
        #expect(
            Self.refusal(try Self.check(.POST, "/v1/chat/completions", version: .http1_0, [("transfer-encoding", "chunked")]))
                == .ambiguousFraming)
    }

    @Test func endpointsMethodsAndLimits() throws {
        #expect(Self.refusal(try Self.check(.GET)) == .methodNotAllowed(.chatCompletions))
        #expect(Self.refusal(try Self.check(.POST, "/v1/models")) == .methodNotAllowed(.models))
        #expect(Self.refusal(try Self.check(.POST, "/v1/nowhere")) == .notFound)
        #expect(Self.refusal(try Self.check(.POST, "/v1/../v1/models")) == .badPath)
        #expect(
            Self.refusal(try Self.check(.POST, "/v1/models/iris:predict", [("host", "gw"), ("content-length", "101")]))
                == .bodyTooLarge(limit: 100, bodyRead: false))
        #expect(Self.refusal(try Self.check(.POST, "/v1/chat/completions", [("host", "gw"), ("content-length", "-1")])) == .protocolError)
        guard case .accepted(let facts) = try Self.check(.GET, "/v1/models/iris:x", [("host", "gw"), ("x-request-id", "ok-1")]) else {
            Issue.record("refused")
            return
        }
        #expect(facts.endpoint == .pathRoute)
        #expect(facts.bodyLimit == 100)
        #expect(facts.clientRequestID == "ok-1")
        guard case .accepted(let model) = try Self.check(.GET, "/v1/models/m") else {
            Issue.record("refused")
            return
        }
        #expect(model.endpoint == .model)
    }

    @Test func http2HeaderBlocksAreHeldToTheHeaderLimits() throws {
        let many = (0..<120).map { ("x-h\($0)", "v") }
        #expect(Self.refusal(try Self.check(.POST, "/v1/chat/completions", many, http2: true)) == .headersTooLarge)
        // An HTTP/2 request's :authority arrives as `host`; with neither it names no host: 400.
        #expect(Self.refusal(try Self.check(.POST, "/v1/chat/completions", [], http2: true)) == .badHost(.missing))
        #expect(Self.refusal(try Self.check(.POST, "/v1/chat/completions", [("host", "gw")], http2: true)) == nil)
    }
}
