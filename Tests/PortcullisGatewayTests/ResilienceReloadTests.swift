import Foundation
import PortcullisTestSupport
import Testing

/// Runtime state toward backends lives outside the config snapshot, keyed by backend and
/// endpoint: a reload that keeps them keeps their ejections, counts and breaker state.
@Suite struct ResilienceReloadTests {
    @Test func anEjectionSurvivesAReloadThatKeepsTheBackend() async throws {
        let good = try await MockProcess.start()
        defer { good.stop() }
        let bad = try await MockProcess.start(["--status", "503"])
        defer { bad.stop() }
        try await withTemporaryDirectory { dir in
            let path = dir + "/gateway.yaml"
            func write(extraRoute: String) throws {
                try ResilienceTests.config(
                    backends: """
                          pair:
                            endpoints: [\(good.url), \(bad.url)]
                            retries: off
                            outlierDetection: { consecutiveFailures: 2, baseEjection: 60s, maxEjectedPercent: 50 }
                        """,
                    routes: "  - { match: { model: m }, backend: pair }\n\(extraRoute)"
                ).write(toFile: path, atomically: true, encoding: .utf8)
            }
            try write(extraRoute: "")
            let gateway = try await GatewayHarness.start(configPath: path)
            // Round-robin sends every other request to the failing endpoint: two in a row eject it.
            var before = ""
            for _ in 0..<40 {
                _ = try await TestHTTP.chat(gateway.baseURL, model: "m")
                before = try await ResilienceTests.admin(gateway, "/backends").body
                if before.contains(#""ejected":true"#) { break }
            }
            #expect(before.contains(#""ejected":true,"ejections":1"#), "\(before)")
            // A reload that changes something else keeps the backend's runtime state.
            try write(extraRoute: "  - { match: { model: m2 }, backend: pair }")
            #expect(await gateway.runtime.reload().succeeded)
            let after = try await ResilienceTests.admin(gateway, "/backends").body
            #expect(after.contains(#""ejected":true,"ejections":1"#), "not reset by the reload: \(after)")
            try await TestHTTP.clearRecorded(bad.url)
            for model in ["m", "m2", "m", "m2"] { #expect(try await TestHTTP.chat(gateway.baseURL, model: model).status == 200) }
            let reached = try await TestHTTP.recorded(bad.url).filter { ($0["uri"] as? String) == "/v1/chat/completions" }
            #expect(reached.isEmpty, "the ejected endpoint stays out of the rotation")
            await gateway.stop()
        }
    }
}
