import Foundation
import NIOCore
import NIOPosix
import PortcullisTestSupport
import Testing

/// Reaching backends safely, over real sockets with `portcullis mock` processes and their
/// fault injection: retries (after failed connects and listed statuses, never after the first
/// response byte, within the budget), the circuit breaker, outlier ejection, fallbacks and
/// active health checks, as `/backends` and `/metrics` report them.
@Suite(.serialized) struct ResilienceTests {
    static func config(backends: String, routes: String) -> String {
        """
        listeners: [{ address: 127.0.0.1:0 }]
        admin: { address: 127.0.0.1:0 }
        accessLog: { destination: "off" }
        backends:
        \(backends)
        routes:
        \(routes)
        """
    }

    static func admin(_ gateway: GatewayHarness, _ path: String) async throws -> TestHTTP.Reply {
        let port = try #require(gateway.runtime.admin?.port)
        return try await TestHTTP.request("http://127.0.0.1:\(port)\(path)", method: .GET, headers: [])
    }

    /// The value of the first `/metrics` sample whose line starts with `prefix`.
    static func metric(_ gateway: GatewayHarness, _ prefix: String) async throws -> Double? {
        let text = try await admin(gateway, "/metrics").body
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return line.split(separator: " ").last.flatMap { Double($0) }
    }

    @Test func listedStatusesAreRetriedWithinTheBudgetAndNeverAfterTheFirstByte() async throws {
        let mock = try await MockProcess.start()
        defer { mock.stop() }
        let yaml = Self.config(
            backends: """
                  eager: { endpoints: [\(mock.url)] }
                  never: { endpoints: [\(mock.url)], retries: off }
                  broke: { endpoints: [\(mock.url)], retries: { budget: 0%, minRetriesInFlight: 0 } }
                """,
            routes: """
                  - { match: { model: eager }, backend: eager }
                  - { match: { model: never }, backend: never }
                  - { match: { model: broke }, backend: broke }
                """)
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            func attempts(_ model: String, status: String) async throws -> (Int, TestHTTP.Reply) {
                try await TestHTTP.clearRecorded(mock.url)
                let reply = try await TestHTTP.chat(gateway.baseURL, model: model, extraHeaders: [("x-mock-status", status)])
                return (try await TestHTTP.recorded(mock.url).count, reply)
            }
            // Three retries after the first 503, then the last answer goes to the client as it is.
            let (eager, reply) = try await attempts("eager", status: "503")
            #expect(eager == 4)
            #expect(reply.status == 503 && reply.errorCode == "mock_status_503")
            #expect(try await attempts("eager", status: "500").0 == 1)  // not a listed status
            #expect(try await attempts("never", status: "503").0 == 1)  // retries: off
            #expect(try await attempts("broke", status: "503").0 == 1)  // no budget
            #expect(try await Self.metric(gateway, #"portcullis_upstream_retries_total{backend="eager",reason="status"}"#) == 3)
            // A stream that breaks after its first events is never retried: bytes reached the client.
            try await TestHTTP.clearRecorded(mock.url)
            let broken = try? await TestHTTP.chat(
                gateway.baseURL, model: "eager", stream: true, extraHeaders: [("x-mock-drop-after", "2")])
            #expect(broken.map { !$0.body.contains("[DONE]") } ?? true)
            #expect(try await TestHTTP.recorded(mock.url).count == 1)
        }
    }

    @Test func theTotalTimeoutCutsRetriesShortWith504() async throws {
        let mock = try await MockProcess.start()
        defer { mock.stop() }
        let yaml = Self.config(
            backends: "  slow: { endpoints: [\(mock.url)], retries: { attempts: 3, statuses: [503], backoff: 10ms }, outlierDetection: off }",
            routes: "  - { match: { model: demo-chat }, backend: slow, totalTimeout: 500ms }")
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            let started = Date()
            // Each attempt takes 300 ms to answer 503: without the deadline, four attempts and a 503.
            let reply = try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-mock-status", "503"), ("x-mock-delay-ms", "300")])
            let elapsed = Date().timeIntervalSince(started)
            #expect(reply.status == 504 && reply.body.contains("upstream_timeout"), "\(reply.status) \(reply.body)")
            #expect(elapsed >= 0.45 && elapsed < 3, "answered at the deadline, not after every attempt: \(elapsed) s")
            let attempts = try await TestHTTP.recorded(mock.url).filter { ($0["uri"] as? String) == "/v1/chat/completions" }.count
            #expect((1...2).contains(attempts), "\(attempts) attempts")
            let config = try await Self.admin(gateway, "/config").body
            #expect(config.contains(#""totalTimeoutMs":null"#), "the backend has none of its own")
        }
    }

    @Test func aFailedConnectMovesToTheHealthyEndpointWithExactlyOneGeneration() async throws {
        let mock = try await MockProcess.start()
        defer { mock.stop() }
        let yaml = Self.config(
            backends: "  pair: { endpoints: [\"http://127.0.0.1:1\", \(mock.url)], outlierDetection: off }",
            routes: "  - { match: { model: m }, backend: pair }")
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            for _ in 0..<6 { #expect(try await TestHTTP.chat(gateway.baseURL, model: "m").status == 200) }
            #expect(try await TestHTTP.recorded(mock.url).count == 6)
        }
    }

    @Test func theBreakerAnswersAtOnceWhileFullAndClosesAgain() async throws {
        let mock = try await MockProcess.start()
        defer { mock.stop() }
        let yaml = Self.config(
            backends: "  small: { endpoints: [\(mock.url)], circuitBreaker: { maxRequests: 2 } }",
            routes: "  - { match: { model: m }, backend: small }")
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            let slow = [("x-mock-delay-ms", "3000")]
            async let first = TestHTTP.chat(gateway.baseURL, model: "m", extraHeaders: slow)
            async let second = TestHTTP.chat(gateway.baseURL, model: "m", extraHeaders: slow)
            _ = try await eventually { try await TestHTTP.recorded(mock.url).count == 2 ? true : nil }
            let started = ContinuousClock.now
            let refused = try await TestHTTP.chat(gateway.baseURL, model: "m")
            let waited = ContinuousClock.now - started
            #expect(refused.status == 503)
            #expect(refused.errorCode == "upstream_overloaded")
            #expect(refused.headers["retry-after"] == ["1"])
            // Answered while both slow requests were still waiting on the backend.
            #expect(waited < .seconds(2))
            let backends = try await Self.admin(gateway, "/backends").body
            #expect(backends.contains(#""breaker":{"state":"open","requests":2,"maxRequests":2"#))
            #expect(try await first.status == 200)
            #expect(try await second.status == 200)
            #expect(try await TestHTTP.chat(gateway.baseURL, model: "m").status == 200)
            #expect(try await Self.metric(gateway, #"portcullis_upstream_overloaded_total{backend="small",limit="requests"}"#) == 1)
            _ = try await eventually { try await Self.metric(gateway, #"portcullis_upstream_requests_active{backend="small"}"#) == 0 ? true : nil }
        }
    }

    @Test func aBackendFullAtConnectHandsTheRequestToTheFallbackOnce() async throws {
        let mock = try await MockProcess.start()
        defer { mock.stop() }
        let spare = try await MockProcess.start()
        defer { spare.stop() }
        let yaml = Self.config(
            backends: """
                  one: { endpoints: [\(mock.url)], circuitBreaker: { maxConnections: 1 } }
                  spare: { endpoints: [\(spare.url)], circuitBreaker: { maxConnections: 1 } }
                """,
            routes: "  - { match: { model: m }, backend: one, fallbacks: [spare] }")
        try await withHarness(yaml: yaml, threads: 1) { (gateway: GatewayHarness) async throws in
            let slow = [("x-mock-delay-ms", "2000")]
            async let first = TestHTTP.chat(gateway.baseURL, model: "m", extraHeaders: slow)
            _ = try await eventually { try await TestHTTP.recorded(mock.url).count == 1 ? true : nil }
            // `one` has its one connection busy: the next request goes to the spare at once.
            async let second = TestHTTP.chat(gateway.baseURL, model: "m", extraHeaders: slow)
            _ = try await eventually { try await TestHTTP.recorded(spare.url).count == 1 ? true : nil }
            // Both full now: a third is refused, not bounced between them.
            let refused = try await TestHTTP.chat(gateway.baseURL, model: "m")
            #expect(refused.errorCode == "upstream_overloaded", "\(refused.body)")
            #expect(try await first.status == 200)
            #expect(try await second.status == 200)
            #expect(try await TestHTTP.recorded(mock.url).count == 1)
            #expect(try await TestHTTP.recorded(spare.url).count == 1)
            // Request slots went back to the backends that hold them.
            _ = try await eventually { () async throws -> Bool? in
                let body = try await Self.admin(gateway, "/backends").body
                return body.components(separatedBy: #""breaker":{"state":"closed","requests":0"#).count == 3 ? true : nil
            }
        }
    }

    @Test func maxConnectionsHoldsNewConnectsButNotPooledOnes() async throws {
        let mock = try await MockProcess.start()
        defer { mock.stop() }
        let yaml = Self.config(
            backends: "  one: { endpoints: [\(mock.url)], circuitBreaker: { maxConnections: 1 } }",
            routes: "  - { match: { model: m }, backend: one }")
        try await withHarness(yaml: yaml, threads: 1) { (gateway: GatewayHarness) async throws in
            async let slow = TestHTTP.chat(gateway.baseURL, model: "m", extraHeaders: [("x-mock-delay-ms", "2000")])
            _ = try await eventually { try await TestHTTP.recorded(mock.url).count == 1 ? true : nil }
            let refused = try await TestHTTP.chat(gateway.baseURL, model: "m")
            #expect(refused.errorCode == "upstream_overloaded")
            #expect(try await slow.status == 200)
            // The one connection is pooled now: the next request reuses it.
            #expect(try await TestHTTP.chat(gateway.baseURL, model: "m").status == 200)
            #expect(try await Self.metric(gateway, #"portcullis_upstream_overloaded_total{backend="one",limit="connections"}"#) == 1)
        }
    }

    @Test func anEndpointFailingInARowIsEjectedAndTheFallbackServesWhenNoneIsLeft() async throws {
        let failing = try await MockProcess.start(["--status", "500"])
        defer { failing.stop() }
        let good = try await MockProcess.start()
        defer { good.stop() }
        let yaml = Self.config(
            backends: """
                  pair: { endpoints: [\(failing.url), \(good.url)], retries: off, outlierDetection: { consecutiveFailures: 5 } }
                  lone:
                    endpoints: [\(failing.url)]
                    retries: off
                    outlierDetection: { consecutiveFailures: 2, maxEjectedPercent: 100 }
                  spare: { endpoints: [\(good.url)] }
                """,
            routes: """
                  - { match: { model: pair }, backend: pair }
                  - { match: { model: lone }, backend: lone, fallbacks: [spare] }
                  - { match: { model: alone }, backend: lone }
                """)
        try await withHarness(yaml: yaml, threads: 1) { (gateway: GatewayHarness) async throws in
            var statuses: [Int] = []
            for _ in 0..<20 { statuses.append(try await TestHTTP.chat(gateway.baseURL, model: "pair").status) }
            // Round-robin until the failing endpoint's fifth 500 in a row; the good one serves the rest.
            #expect(statuses.filter { $0 == 500 }.count == 5)
            #expect(statuses.suffix(10).allSatisfy { $0 == 200 })
            #expect(try await TestHTTP.recorded(failing.url).count == 5)
            let backends = try await Self.admin(gateway, "/backends").body
            #expect(backends.contains(#""url":"\#(failing.url)","health":"unchecked","ejected":true,"ejections":1"#))
            #expect(try await Self.metric(gateway, #"portcullis_upstream_ejections_total{backend="pair""#) == 1)

            // A one-endpoint backend allowed to eject it: two 500s, then its fallback serves.
            #expect(try await TestHTTP.chat(gateway.baseURL, model: "lone").status == 500)
            #expect(try await TestHTTP.chat(gateway.baseURL, model: "lone").status == 500)
            try await TestHTTP.clearRecorded(good.url)
            let fallback = try await TestHTTP.chat(gateway.baseURL, model: "lone")
            #expect(fallback.status == 200)
            #expect(try await TestHTTP.recorded(good.url).count == 1)
            // Without a fallback: 503 no_healthy_upstream, at once and with nothing sent.
            let none = try await TestHTTP.chat(gateway.baseURL, model: "alone")
            #expect(none.status == 503)
            #expect(none.errorCode == "no_healthy_upstream")
            #expect(try await TestHTTP.recorded(failing.url).count == 7)
        }
    }

    @Test func aBackendThatNeverAnswersIs504AndASlowSteadyStreamIsNotCut() async throws {
        // A listener that accepts connections and never says anything.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let silentPort = try #require(silent.localAddress?.port)
        let mock = try await MockProcess.start(["--chunks", "4", "--chunk-delay-ms", "600"])
        defer { mock.stop() }
        let yaml = Self.config(
            backends: """
                  silent: { endpoints: ["http://127.0.0.1:\(silentPort)"], responseTimeout: 500ms, retries: off }
                  slow: { endpoints: [\(mock.url)], responseTimeout: 1s, idleTimeout: 2s }
                """,
            routes: """
                  - { match: { model: silent }, backend: silent }
                  - { match: { model: slow }, backend: slow }
                """)
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            let timedOut = try await TestHTTP.chat(gateway.baseURL, model: "silent")
            #expect(timedOut.status == 504)
            #expect(timedOut.errorCode == "upstream_timeout")
            // Four events 600 ms apart (2.4 s in all, past the 1 s response timeout, each gap
            // within the 2 s idle timeout): delivered whole.
            let stream = try await TestHTTP.chat(gateway.baseURL, model: "slow", stream: true)
            #expect(stream.status == 200)
            #expect(stream.body.contains("[DONE]"))
        }
    }

    @Test func aKilledEndpointLeavesTheRotationByItsHealthChecksAndComesBack() async throws {
        var flaky = try await MockProcess.start()
        let port = flaky.port
        let steady = try await MockProcess.start()
        defer { steady.stop() }
        let yaml = Self.config(
            backends: """
                  pair:
                    endpoints: [\(flaky.url), \(steady.url)]
                    outlierDetection: off
                    healthCheck: { path: /health, interval: 100ms, timeout: 100ms, unhealthyThreshold: 2, healthyThreshold: 2 }
                """,
            routes: "  - { match: { model: m }, backend: pair }")
        try await withHarness(yaml: yaml, threads: 1) { (gateway: GatewayHarness) async throws in
            let flakyEntry = #""url":"http://127.0.0.1:\#(port)","health":"#
            _ = try await eventually { try await Self.admin(gateway, "/backends").body.contains(flakyEntry + #""healthy""#) ? true : nil }
            flaky.stop()
            _ = try await flaky.process.waitForExit()
            _ = try await eventually { try await Self.admin(gateway, "/backends").body.contains(flakyEntry + #""unhealthy""#) ? true : nil }
            // Out of the rotation: no request tries it (no failed connect, no retry).
            for _ in 0..<6 { #expect(try await TestHTTP.chat(gateway.baseURL, model: "m").status == 200) }
            #expect(try await Self.metric(gateway, #"portcullis_upstream_retries_total{backend="pair""#) == nil)
            #expect(try await Self.metric(gateway, #"portcullis_upstream_endpoint_healthy{backend="pair",endpoint="http://127.0.0.1:\#(port)"}"#) == 0)
            // It comes back on the same port, passes its checks, and gets traffic again.
            flaky = try await eventually { try? await MockProcess.start(["--port", "\(port)"]) }
            defer { flaky.stop() }
            _ = try await eventually { try await Self.admin(gateway, "/backends").body.contains(flakyEntry + #""healthy""#) ? true : nil }
            for _ in 0..<6 { #expect(try await TestHTTP.chat(gateway.baseURL, model: "m").status == 200) }
            let served = try await TestHTTP.recorded(flaky.url).filter { ($0["uri"] as? String) == "/v1/chat/completions" }
            #expect(served.count == 3)
        }
    }
}
