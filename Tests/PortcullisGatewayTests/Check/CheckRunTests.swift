import NIOCore
import NIOEmbedded
import PortcullisConfig
import PortcullisCore
import PortcullisTestSupport
import Testing

@testable import PortcullisGateway

/// ext_authz checks without the gRPC transport: a ``CheckInput`` through the snapshot's own
/// stages on an `EmbeddedEventLoop`, whose virtual clock drives the waits' deadlines and the
/// leases' expiry.
@Suite struct CheckRunTests {
    static let key = "sk-check-run-0001"
    static let yaml = """
        authz: { address: 127.0.0.1:0, leaseTimeout: 10s, maxLeases: 2 }
        authentication:
          apiKeys: [{ name: k, tenant: acme, sha256: "\(AuthFixture.sha(key))" }]
        tenants: { acme: { plan: p, org: o } }
        plans: { p: { models: [m], limits: { concurrency: 1, tokensPerHour: 10000, maxTokens: 100 } } }
        routes: [{ match: { model: m }, backend: b }]
        """

    struct Setup {
        let loop = EmbeddedEventLoop()
        let probe = LedgerProbe()
        let context: LoopContext
        let leases: CheckLeases

        init(_ yaml: String = CheckRunTests.yaml, stages: [any Stage]? = nil, maxLeases: Int = 2) throws {
            let snapshot = try ExchangeFixture.snapshot(yaml, stages: stages)
            self.context = try ExchangeFixture.loop(snapshot, eventLoop: self.loop, probe: self.probe)
            self.leases = CheckLeases(leaseNanos: 10_000_000_000, maxLeases: maxLeases)
        }

        func check(_ input: CheckInput) throws -> (CheckVerdict, CheckRun) {
            let run = CheckRun.start(input, context: self.context, leases: self.leases, listener: nil)
            self.loop.run()
            return (try run.future.wait(), run)
        }
    }

    static func input(
        key: String? = CheckRunTests.key, body: String? = #"{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"#,
        extra: [(String, String)] = [], partial: Bool = false
    ) -> CheckInput {
        var headers: [(String, String)] = [(":path", "/v1/chat/completions"), ("content-type", "application/json")] + extra
        if let key { headers.append(("authorization", "Bearer " + key)) }
        return CheckInput(
            method: "POST", path: "/v1/chat/completions", host: "llm.test", headers: headers, body: body.map { ByteBuffer(string: $0) },
            partialBody: partial, sourceAddress: "10.0.0.1")
    }

    @Test func anAllowedCheckSetsTheTrustedContextAndRemovesTheCredentialAndSpoofs() throws {
        let setup = try Setup()
        let (verdict, run) = try setup.check(Self.input(extra: [("x-tenant-id", "evil"), ("x-tenant-role", "admin"), ("x_tenant_id", "x")]))
        guard case .allow(let set, _, let remove, let response) = verdict else {
            Issue.record("not allowed: \(verdict)")
            return
        }
        #expect(set.first { $0.name == "x-tenant-id" }?.value == "acme")
        #expect(set.first { $0.name == "x-request-id" }?.value == run.exchange.requestID)
        #expect(Set(remove) == ["authorization", "x-tenant-role", "x_tenant_id"])
        #expect(response.contains { $0.name == "x-ratelimit-limit-tokens" })
        // The check's own obligations ran (logged and counted, mode authz); its slot is leased.
        #expect(setup.probe.outcomes == [.completed])
        #expect(run.exchange.mode == .authz && setup.leases.count == 1)
    }

    @Test func refusalsAreTheGatewaysOwnAnswers() throws {
        let setup = try Setup()
        let cases: [(CheckInput, Int, String)] = [
            (Self.input(key: "sk-wrong-key-000000"), 401, "invalid_api_key"),
            (Self.input(body: #"{"model":"other","messages":[{"role":"user","content":"hi"}]}"#), 404, "model_not_found"),
            (Self.input(body: #"{"model":"m","messages":[]}"#), 400, "invalid_value"),
            (Self.input(partial: true), 413, "request_too_large"),
            (Self.input(body: nil), 400, "invalid_request"),
        ]
        for (input, status, code) in cases {
            let (verdict, _) = try setup.check(input)
            guard case .answer(let answered, let headers, let body) = verdict else {
                Issue.record("allowed: \(input.headers)")
                continue
            }
            #expect(answered == status)
            #expect(body.contains(#""code":"\#(code)""#), "\(body)")
            #expect(headers.contains(.init("content-type", "application/json")))
            #expect(body.contains(#""error":"#))
        }
        #expect(setup.leases.count == 0, "a refused check holds nothing")
    }

    @Test func aLeaseIsSettledByAReportOnceAndTheSlotComesBack() throws {
        let setup = try Setup()
        let (first, run) = try setup.check(Self.input())
        guard case .allow = first, let before = Self.remainingTokens(first) else {
            Issue.record("not allowed")
            return
        }
        let (second, _) = try setup.check(Self.input())
        guard case .answer(429, _, _) = second else {
            Issue.record("the slot was not held: \(second)")
            return
        }
        #expect(setup.leases.report(requestID: run.exchange.requestID, usage: Usage(promptTokens: 3, completionTokens: 2, totalTokens: 5)))
        setup.loop.run()
        #expect(!setup.leases.report(requestID: run.exchange.requestID, usage: nil), "settled once")
        let (third, _) = try setup.check(Self.input())
        guard case .allow = third, let after = Self.remainingTokens(third) else {
            Issue.record("the slot did not come back: \(third)")
            return
        }
        // The first was charged the 5 tokens reported, not its reservation (the clock stood still).
        #expect(after == before - 5, "charged the reported usage")
        #expect(setup.leases.settledCounts.reported == 1)
    }

    @Test func aLeaseWithoutAReportExpiresChargedItsWholeReservation() throws {
        let setup = try Setup()
        let (first, run) = try setup.check(Self.input())
        let before = try #require(Self.remainingTokens(first))
        let reserved = run.exchange.estimatedPromptTokens + 50
        setup.loop.advanceTime(by: .seconds(9))
        #expect(setup.leases.count == 1)
        setup.loop.advanceTime(by: .seconds(2))
        #expect(setup.leases.count == 0 && setup.leases.settledCounts.expired == 1)
        let (again, _) = try setup.check(Self.input())
        guard case .allow = again, let after = Self.remainingTokens(again) else {
            Issue.record("the slot did not come back")
            return
        }
        // Charged the estimate plus max_tokens; 11 s refill at 10,000 an hour is at most 31.
        #expect(after >= before - reserved && after <= before - reserved + 31, "\(after) vs \(before) - \(reserved)")
    }

    static func remainingTokens(_ verdict: CheckVerdict) -> Int? {
        guard case .allow(_, _, _, let response) = verdict else { return nil }
        return response.first { $0.name == "x-ratelimit-remaining-tokens" }.flatMap { Int($0.value) }
    }

    @Test func aClientReusingAHeldRequestIDGetsAFreshOneAndDisplacesNothing() throws {
        let setup = try Setup(
            """
            authz: { address: 127.0.0.1:0 }
            authentication:
              apiKeys: [{ name: k, tenant: acme, sha256: "\(AuthFixture.sha(Self.key))" }]
            tenants: { acme: { plan: p } }
            plans: { p: { models: [m], limits: { concurrency: 2, maxTokens: 100 } } }
            routes: [{ match: { model: m }, backend: b }]
            """, maxLeases: 10)
        let fixed = [("x-request-id", "chosen-by-the-client-1")]
        let (_, first) = try setup.check(Self.input(extra: fixed))
        let (_, second) = try setup.check(Self.input(extra: fixed))
        #expect(first.exchange.requestID == "chosen-by-the-client-1")
        #expect(second.exchange.requestID != "chosen-by-the-client-1")
        // Both slots are held: the same id did not free the first one.
        let (third, _) = try setup.check(Self.input(extra: fixed))
        guard case .answer(429, _, _) = third else {
            Issue.record("a reused id freed a slot: \(third)")
            return
        }
        #expect(setup.leases.count == 2 && setup.leases.settledCounts.expired == 0)
    }

    @Test func aFullLeaseTableRefusesChecksThatNeedALeaseAndNotOthers() throws {
        let setup = try Setup(
            """
            authz: { address: 127.0.0.1:0 }
            authentication:
              apiKeys:
                - { name: k, tenant: acme, sha256: "\(AuthFixture.sha(Self.key))" }
                - { name: free, tenant: free, sha256: "\(AuthFixture.sha("sk-check-run-free-01"))" }
            tenants: { acme: { plan: p }, free: { plan: open } }
            plans:
              p: { models: [m], limits: { tokensPerHour: 10000, maxTokens: 100 } }
              open: { models: [m] }
            routes: [{ match: { model: m }, backend: b }]
            """, maxLeases: 2)
        for _ in 0..<2 { _ = try setup.check(Self.input()) }
        let (full, _) = try setup.check(Self.input())
        guard case .answer(503, let headers, let body) = full else {
            Issue.record("not refused: \(full)")
            return
        }
        #expect(headers.contains(.init("retry-after", "1")) && body.contains("leases_exhausted"))
        #expect(setup.leases.count == 2 && setup.leases.settledCounts.overflowed == 0)
        // A tenant whose limits hold nothing past the check needs no lease.
        let (other, _) = try setup.check(Self.input(key: "sk-check-run-free-01"))
        guard case .allow = other else {
            Issue.record("a check without a lease was refused: \(other)")
            return
        }
    }

    @Test func anAnonymousCallersSpoofedTenantIsRemoved() throws {
        let setup = try Setup(
            """
            listeners: [{ name: main, address: 127.0.0.1:0, authentication: { required: false } }]
            authz: { address: 127.0.0.1:0 }
            routes: [{ match: { model: m }, backend: b }]
            """)
        let (verdict, _) = try setup.check(
            Self.input(key: nil, extra: [("x-tenant-id", "acme"), ("X-Tenant-Plan", "gold"), ("x-portcullis-authz", "1"), ("x-real-ip", "1.2.3.4")]))
        guard case .allow(let set, _, let remove, _) = verdict else {
            Issue.record("not allowed: \(verdict)")
            return
        }
        #expect(!set.contains { $0.name.hasPrefix("x-tenant-") })
        #expect(Set(remove) == ["x-tenant-id", "x-tenant-plan", "x-portcullis-authz", "x-real-ip"])
    }

    @Test func aWaitPastItsDeadlineIsRefusedAndCancelled() throws {
        let loop = EmbeddedEventLoop()
        let stage = WaitingStage(wait: .milliseconds(200), clock: { loop.now })
        let snapshot = try ExchangeFixture.snapshot("routes: [{ match: { model: m }, backend: b }]", stages: [stage])
        let probe = LedgerProbe()
        let context = try ExchangeFixture.loop(snapshot, eventLoop: loop, probe: probe)
        let run = CheckRun.start(Self.input(key: nil), context: context, leases: CheckLeases(leaseNanos: 1, maxLeases: 1), listener: nil)
        loop.advanceTime(by: .milliseconds(199))
        #expect(probe.count == 0)
        loop.advanceTime(by: .milliseconds(2))
        guard case .answer(let status, _, _) = try run.future.wait() else {
            Issue.record("not refused")
            return
        }
        #expect(status == GatewayError.dependencyTimedOut(stage: "wait").status && stage.cancelled == 1)
        // The late answer changes nothing.
        stage.promise?.succeed(.proceed)
        loop.run()
        #expect(probe.count == 1)
    }

    @Test func envoyGivingUpCancelsTheWaitAndEndsTheExchange() throws {
        let loop = EmbeddedEventLoop()
        let stage = WaitingStage(wait: .seconds(5), clock: { loop.now })
        let snapshot = try ExchangeFixture.snapshot("routes: [{ match: { model: m }, backend: b }]", stages: [stage])
        let probe = LedgerProbe()
        let context = try ExchangeFixture.loop(snapshot, eventLoop: loop, probe: probe)
        let run = CheckRun.start(Self.input(key: nil), context: context, leases: CheckLeases(leaseNanos: 1, maxLeases: 1), listener: nil)
        run.cancel()
        run.cancel()
        loop.advanceTime(by: .seconds(6))
        #expect(stage.cancelled == 1 && probe.outcomes == [.clientAborted(.headStages)])
        guard case .answer(499, _, _) = try run.future.wait() else {
            Issue.record("not ended")
            return
        }
    }

    @Test(arguments: [
        (#"{"request_id":"abc-1","usage":{"prompt_tokens":3,"completion_tokens":4}}"#, "abc-1", Usage(promptTokens: 3, completionTokens: 4, totalTokens: 7)),
        (#"{"request_id":"abc-1","usage":{"prompt_tokens":-3,"total_tokens":2000000000000000}}"#, "abc-1", Usage(promptTokens: 0, completionTokens: 0, totalTokens: Usage.maxCount)),
        (#"{"request_id":"abc-1"}"#, "abc-1", nil),
    ])
    func reportsAreReadStrictlyAndClamped(body: String, id: String, usage: Usage?) {
        #expect(CheckReport.parse(ByteBuffer(string: body)) == .success(CheckReport(requestID: id, usage: usage)))
    }

    @Test(arguments: [#"{"usage":{}}"#, #"{"request_id":"a b"}"#, #"{"request_id":"x","usage":{"prompt_tokens":"3"}}"#, "[]", ""])
    func badReportsAreRefused(body: String) {
        guard case .failure = CheckReport.parse(ByteBuffer(string: body)) else {
            Issue.record("accepted \(body)")
            return
        }
    }
}
