import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// Both wire contracts of external authorization, decided on values: what allows, what denies
/// (and what goes back), what is a failure, and which answer headers may reach the upstream.
@Suite struct AuthorizationDecisionTests {
    static func authorizer(_ upstream: [String], mode: String = "closed") throws -> ExternalAuthorizer {
        let yaml = """
            listeners: [{ address: 127.0.0.1:0 }]
            externalAuthorization:
              p: { url: "http://127.0.0.1:1/check", upstreamHeaders: [\(upstream.map { "\"\($0)\"" }.joined(separator: ", "))], failureMode: \(mode) }
            backends: { b: { endpoints: [http://127.0.0.1:9] } }
            routes: [{ match: { model: m }, backend: b, externalAuthorization: p }]
            """
        return try #require(try ConfigLoader(environment: [:]).load(yaml: yaml).routes[0].authorizer)
    }

    @Test func envoyAllowsOn200AndSetsOnlyAllowListedHeaders() throws {
        let authorizer = try Self.authorizer(["x-policy-*", "x-tenant-plan"])
        let headers = HTTPHeaders([
            ("x-policy-a", "1"), ("X-Policy-B", "2"), ("x-tenant-id", "forged"), ("x-tenant-plan", "gold"),
            ("authorization", "Bearer x"), ("content-length", "0"), ("x-policy-bad", "a\u{7F}b"), ("x-other", "no"),
        ])
        let decision = AuthorizationDecision.envoy(status: 200, headers: headers, body: nil, authorizer: authorizer)
        #expect(decision == .allow(headers: [.init(name: "x-policy-a", value: "1"), .init(name: "x-policy-b", value: "2"), .init(name: "x-tenant-plan", value: "gold")]))
    }

    @Test(arguments: [(401, true), (403, true), (429, true), (500, false), (503, false), (204, false), (101, false)])
    func envoyDeniesOn3xxAnd4xxAndFailsOnTheRest(status: Int, denies: Bool) throws {
        let authorizer = try Self.authorizer([])
        let body = ByteBuffer(string: #"{"no":1}"#)
        let decision = AuthorizationDecision.envoy(
            status: status, headers: HTTPHeaders([("content-type", "application/json")]), body: body, authorizer: authorizer)
        if denies {
            #expect(decision == .deny(status: status, body: body, headers: [PassedHeader("content-type", "application/json")]))
            guard case .refuse(let error) = decision.outcome(failureMode: .closed, statusOnError: 403) else {
                Issue.record("not refused")
                return
            }
            #expect(error.status == status && error.renderBody() == body)
        } else {
            #expect(decision == .failed(.serverError))
            #expect(decision.outcome(failureMode: .closed, statusOnError: 403) == .refuse(.authorizationFailed(status: 403)))
            #expect(decision.outcome(failureMode: .open, statusOnError: 403) == .proceed)
        }
    }

    /// A redirect is never followed (the client is built with redirects off) nor passed on.
    @Test(arguments: [301, 302, 304, 307])
    func aRedirectDeniesWith403(status: Int) throws {
        let decision = AuthorizationDecision.envoy(
            status: status, headers: HTTPHeaders([("location", "https://sso.test/")]), body: ByteBuffer(string: "x"),
            authorizer: try Self.authorizer([]))
        #expect(decision == .deny(status: 403, body: nil))
    }

    /// Answer header names must be plain tokens: no CR/LF, no `_`, nothing framing.
    @Test func answerHeaderNamesThatAreNotPlainTokensAreDropped() throws {
        let authorizer = try Self.authorizer(["x-policy*"])
        let answer = #"{"result":{"allowed":true,"headers":{"x-policy-a: 1\r\nx-tenant-id: admin\r\n\r\nPOST /x HTTP/1.1\r\nx-b":"v","x_policy_c":"v","x-policy-ok":"v"}}}"#
        #expect(AuthorizationDecision.opa(status: 200, body: ByteBuffer(string: answer), authorizer: authorizer)
            == .allow(headers: [.init(name: "x-policy-ok", value: "v")]))
        #expect(AuthorizationDecision.failed(.oversized).outcome(failureMode: .open, statusOnError: 403) == .refuse(.authorizationFailed(status: 403)))
    }

    @Test func aDenialWithoutABodyIsOpenAIShaped() {
        let error = GatewayError.authorizationDenied(status: 403, body: nil, headers: [])
        #expect(String(buffer: error.renderBody()).contains(#""code":"authorization_denied""#))
        #expect(error.reason == .authorizationDenied && error.reason.category == .policy)
        #expect(GatewayError.authorizationFailed(status: 403).reason.category == .dependency)
    }

    @Test(arguments: [
        (#"{"result":true}"#, AuthorizationDecision.allow(headers: [])),
        (#"{"result":false}"#, .deny(status: 403, body: nil)),
        (#"{}"#, .deny(status: 403, body: nil)),  // undefined: deny
        (#"{"result":{"allowed":true,"headers":{"x-policy":"p","authorization":"no"}}}"#, .allow(headers: [.init(name: "x-policy", value: "p")])),
        (#"{"result":{"allowed":false,"http_status":429,"body":"slow down"}}"#, .deny(status: 429, body: ByteBuffer(string: "slow down"), headers: [PassedHeader("content-type", "application/json")])),
        (#"{"result":{"allowed":false,"http_status":200}}"#, .deny(status: 403, body: nil)),  // not a denial status
        (#"{"result":"yes"}"#, .failed(.badAnswer)),
        (#"{"result":1}"#, .failed(.badAnswer)),  // not a JSON boolean
        (#"{"result":{"allowed":1}}"#, .failed(.badAnswer)),
        (#"{"result":null}"#, .deny(status: 403, body: nil)),
        ("not json", .failed(.badAnswer)),
    ])
    func openPolicyAgentResultsDecide(answer: String, decision: AuthorizationDecision) throws {
        let authorizer = try Self.authorizer(["x-policy"])
        #expect(AuthorizationDecision.opa(status: 200, body: ByteBuffer(string: answer), authorizer: authorizer) == decision)
        #expect(AuthorizationDecision.opa(status: 500, body: ByteBuffer(string: answer), authorizer: authorizer) == .failed(.serverError))
    }

    @Test func framingHeadersCannotBeAllowListed() {
        let yaml = """
            listeners: [{ address: 127.0.0.1:0 }]
            externalAuthorization:
              p: { url: "http://127.0.0.1:1", upstreamHeaders: [host, "x-ok-*"], clientHeaders: ["bad header", authorization, x-tenant-id] }
              q: { url: "ftp://nowhere" }
            backends: { b: { endpoints: [http://127.0.0.1:9] } }
            routes: [{ match: { model: m }, backend: b, externalAuthorization: nope }]
            """
        var found: [Diagnostic] = []
        do { _ = try ConfigLoader(environment: [:]).load(yaml: yaml) } catch { found = error.diagnostics }
        #expect(found.contains { $0.path == "externalAuthorization.p.upstreamHeaders" && $0.message.contains("'host'") }, "\(found)")
        #expect(found.contains { $0.path == "externalAuthorization.p.clientHeaders" && $0.message.contains("'bad header'") }, "\(found)")
        #expect(found.contains { $0.path == "externalAuthorization.p.clientHeaders" && $0.message.contains("'authorization'") }, "\(found)")
        #expect(found.contains { $0.path == "externalAuthorization.p.clientHeaders" && $0.message.contains("'x-tenant-id'") }, "\(found)")
        #expect(found.contains { $0.path == "externalAuthorization.q.url" }, "\(found)")
        #expect(found.contains { $0.path == "routes[0].externalAuthorization" && $0.message.contains("'nope'") }, "\(found)")
    }
}

/// The gRPC contract's answers, decided on values like the HTTP ones.
@Suite struct AuthorizationDecisionGRPCTests {
    @Test func okEditsOnlyAllowListedHeadersAndKeepsAppendAndRemovals() throws {
        let authorizer = try AuthorizationDecisionTests.authorizer(["x-policy-*"])
        let answer = GRPCCheckAnswer.ok(
            headers: [
                .init(name: "X-Policy-A", value: "1", append: false), .init(name: "x-policy-b", value: "2", append: true),
                .init(name: "x-tenant-id", value: "forged", append: false), .init(name: "content-length", value: "9", append: false),
                .init(name: "x-policy-bad", value: "a\nb", append: false),
            ],
            remove: ["x-policy-c", "host", "x-tenant-id", "X-Policy-D", "content-length"])
        #expect(
            AuthorizationDecision.grpc(answer, authorizer: authorizer)
                == .allow(
                    headers: [.init(name: "x-policy-a", value: "1"), .init(name: "x-policy-b", value: "2", append: true)],
                    removed: ["x-policy-c", "x-policy-d"]))
    }

    @Test(arguments: [(402, 402), (0, 403), (200, 403), (302, 403), (503, 503), (700, 403)])
    func deniedPassesItsStatusWhenItIsAnError(given: Int, answered: Int) throws {
        let authorizer = try AuthorizationDecisionTests.authorizer([])
        let decision = AuthorizationDecision.grpc(
            .denied(status: given, headers: [.init(name: "Content-Type", value: "application/problem+json", append: false)], body: "{}"),
            authorizer: authorizer)
        #expect(decision == .deny(status: answered, body: ByteBuffer(string: "{}"), headers: [PassedHeader("content-type", "application/problem+json")]))
        #expect(
            AuthorizationDecision.grpc(.denied(status: given, headers: [], body: ""), authorizer: authorizer)
                == .deny(status: answered, body: nil))
    }

    @Test func aDenialPassesItsSafeHeadersAndNoneThatFrameTheAnswer() throws {
        let authorizer = try AuthorizationDecisionTests.authorizer([])
        let sent: [(String, String)] = [
            ("X-Policy-Reason", "quota"), ("WWW-Authenticate", "Bearer realm=\"opa\""), ("retry-after", "7"),
            ("content-length", "99"), ("transfer-encoding", "chunked"), ("connection", "close"), ("date", "x"),
            ("x-request-id", "forged"), ("x-portcullis-authz", "x"), ("x_bad", "1"), ("x-crlf", "a\r\nb"),
            ("x-policy-reason", "second"), ("content-type", "text/plain"), ("x-ratelimit-remaining-requests", "9"),
            ("content-encoding", "gzip"),
        ]
        let answer = GRPCCheckAnswer.denied(
            status: 429, headers: sent.map { .init(name: $0.0, value: $0.1, append: false) }, body: "")
        let expected = [PassedHeader("x-policy-reason", "quota"), PassedHeader("www-authenticate", "Bearer realm=\"opa\""), PassedHeader("retry-after", "7")]
        #expect(AuthorizationDecision.grpc(answer, authorizer: authorizer) == .deny(status: 429, body: nil, headers: expected))
        let many = (0..<100).map { GRPCCheckAnswer.HeaderEdit(name: "x-h\($0)", value: "v", append: false) }
        guard case .deny(_, _, let passed) = AuthorizationDecision.grpc(.denied(status: 403, headers: many, body: ""), authorizer: authorizer)
        else { Issue.record("not a denial"); return }
        #expect(passed.count == AuthorizationDecision.maxDeniedHeaders)
        let error = GatewayError.authorizationDenied(status: 429, body: nil, headers: expected)
        #expect(error.headers.map(\.0) == ["x-policy-reason", "www-authenticate", "retry-after"])
    }

    @Test func failuresFollowTheFailureMode() throws {
        let authorizer = try AuthorizationDecisionTests.authorizer([], mode: "open")
        let decision = AuthorizationDecision.grpc(.failed(.timeout), authorizer: authorizer)
        #expect(decision.outcome(failureMode: .open, statusOnError: 403) == .proceed)
        #expect(decision.outcome(failureMode: .closed, statusOnError: 403) == .refuse(.authorizationFailed(status: 403)))
    }
}
