import Foundation
import PortcullisTestSupport
import Testing

/// Spreading requests, over real sockets with `portcullis mock` processes: a weighted split
/// between two backends holds its shares over a bounded run (and a weight of 0 gets nothing),
/// and least-request balancing steers away from a slow endpoint that round-robin keeps feeding.
@Suite(.serialized) struct BalancingTests {
    /// Sends `count` chat requests for `model` from `workers` concurrent clients; all must be 200.
    static func load(_ gateway: GatewayHarness, model: String, count: Int, workers: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    for _ in stride(from: worker, to: count, by: workers) {
                        let reply = try await TestHTTP.chat(gateway.baseURL, model: model)
                        #expect(reply.status == 200)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func aWeightedSplitHoldsItsSharesAndAWeightOfZeroGetsNothing() async throws {
        let stable = try await MockProcess.start()
        defer { stable.stop() }
        let canary = try await MockProcess.start()
        defer { canary.stop() }
        let yaml = ResilienceTests.config(
            backends: """
                  stable: { endpoints: [\(stable.url)] }
                  canary: { endpoints: [\(canary.url)] }
                  drained: { endpoints: ["http://127.0.0.1:1"], retries: off }
                """,
            routes: """
                  - match: { model: m }
                    backends: [{ backend: stable, weight: 80 }, { backend: canary, weight: 20 }, { backend: drained, weight: 0 }]
                """)
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            // Two rounds of 400, as a mock keeps only its last 512 requests.
            let total = 800
            var toStable = 0, toCanary = 0
            for _ in 0..<2 {
                try await Self.load(gateway, model: "m", count: total / 2, workers: 4)
                toStable += try await TestHTTP.recorded(stable.url).count
                toCanary += try await TestHTTP.recorded(canary.url).count
                try await TestHTTP.clearRecorded(stable.url)
                try await TestHTTP.clearRecorded(canary.url)
            }
            // Every request reached one of the two (none tried the drained backend, which refuses connections).
            #expect(toStable + toCanary == total)
            // 20% expected; over 800 draws the standard deviation is 1.4 points.
            let share = Double(toCanary) / Double(total)
            #expect(abs(share - 0.20) < 0.05, "canary share \(share)")
            let config = try await ResilienceTests.admin(gateway, "/config").body
            #expect(config.contains(#""weights":[80,20,0]"#))
        }
    }

    @Test func leastRequestSteersAwayFromASlowEndpointThatRoundRobinFeeds() async throws {
        let slow = try await MockProcess.start(["--delay-ms", "300"])
        defer { slow.stop() }
        let fast = try await MockProcess.start()
        defer { fast.stop() }
        let yaml = ResilienceTests.config(
            backends: """
                  least: { endpoints: [\(slow.url), \(fast.url)], balance: leastRequest, outlierDetection: off }
                  turns: { endpoints: [\(slow.url), \(fast.url)], outlierDetection: off }
                """,
            routes: """
                  - { match: { model: least }, backend: least }
                  - { match: { model: turns }, backend: turns }
                """)
        try await withHarness(yaml: yaml) { (gateway: GatewayHarness) async throws in
            try await Self.load(gateway, model: "least", count: 40, workers: 4)
            let slowUnderLeast = try await TestHTTP.recorded(slow.url).count
            #expect(try await TestHTTP.recorded(fast.url).count + slowUnderLeast == 40)
            // Four clients, one slow endpoint: it takes a request only when it has none in
            // flight and the fast one has as many (half the time or more under round-robin).
            #expect(slowUnderLeast <= 10, "slow endpoint took \(slowUnderLeast) of 40")
            try await TestHTTP.clearRecorded(slow.url)
            try await Self.load(gateway, model: "turns", count: 40, workers: 4)
            let slowUnderTurns = try await TestHTTP.recorded(slow.url).count
            #expect(slowUnderTurns >= 15, "round-robin gave the slow endpoint \(slowUnderTurns) of 40")
            // Every attempt's load went back when it ended.
            let backends = try await eventually { () async throws -> String? in
                let body = try await ResilienceTests.admin(gateway, "/backends").body
                return body.range(of: #""requests":[1-9][0-9]*,"idleConnections""#, options: .regularExpression) == nil ? body : nil
            }
            #expect(backends.contains(#""balance":"leastRequest""#))
            #expect(backends.contains(#""ejections":0,"requests":0,"idleConnections""#))
        }
    }
}
