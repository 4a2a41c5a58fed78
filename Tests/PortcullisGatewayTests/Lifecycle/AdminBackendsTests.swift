import Foundation
import PortcullisTestSupport
import Testing

/// The admin `/backends` endpoint over real sockets: each backend's endpoints, with the
/// upstream connections idle in the pools and in use by a request, summed over the loops.
@Suite("The admin /backends endpoint")
struct AdminBackendsTests {
    static func endpoint(_ admin: String) async throws -> [String: Any]? {
        let reply = try await TestHTTP.request(admin + "/backends", method: .GET, headers: [])
        guard reply.status == 200, let backends = reply.json?["backends"] as? [[String: Any]], let backend = backends.first,
            backend["name"] as? String == "mock", (backend["responseTimeoutMs"] as? Int ?? 0) > 0
        else { return nil }
        return (backend["endpoints"] as? [[String: Any]])?.first
    }

    @Test func endpointsShowTheirIdleAndInUseConnections() async throws {
        let mock = try await MockProcess.start(["--chunks", "40", "--chunk-delay-ms", "100"])
        defer { mock.stop() }
        // One event loop: each loop has its own pool, and both requests must meet the same one.
        let gateway = try await GatewayHarness.start(yaml: ReloadTests.yaml(mockURL: mock.url, models: ["demo-chat"]), threads: 1)
        do {
            let admin = "http://127.0.0.1:\(gateway.runtime.admin!.port)"
            #expect(try await TestHTTP.chat(gateway.baseURL).status == 200)
            // Answered: its connection went back to the pool.
            let idle = try await eventually { () -> [String: Any]? in
                guard let endpoint = try await Self.endpoint(admin), endpoint["idleConnections"] as? Int == 1 else { return nil }
                return endpoint
            }
            #expect(idle["inUseConnections"] as? Int == 0)
            #expect(idle["health"] as? String == "unchecked")
            #expect((idle["url"] as? String)?.hasPrefix("http://127.0.0.1:") == true)
            // A stream in flight holds its connection.
            let stream = try await RawConnection.connect(port: gateway.port)
            let body = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#
            try await stream.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            _ = try await stream.waitFor("data: {")
            let busy = try await eventually { () -> [String: Any]? in
                guard let endpoint = try await Self.endpoint(admin), endpoint["inUseConnections"] as? Int == 1 else { return nil }
                return endpoint
            }
            #expect(busy["idleConnections"] as? Int == 0)
            await stream.close()
            await gateway.stop()
        } catch {
            await gateway.stop()
            throw error
        }
    }
}
