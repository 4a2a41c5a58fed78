import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOPosix

/// A bounded load loop for the `authz:` listener (`portcullis authz-load`, for the benchmark):
/// `calls` `Check`s of one request, `concurrency` at a time, over one HTTP/2 connection (one
/// grpc-swift client), stopped at `calls` or `maxSeconds`, whichever comes first.
public enum AuthzLoad {
    public struct Result: Sendable {
        public var calls: Int
        public var allowed: Int
        public var failed: Int
        public var seconds: Double
        /// Latency percentiles in microseconds (p50, p99).
        public var p50Micros: Int
        public var p99Micros: Int
    }

    public static func run(
        host: String, port: Int, apiKey: String, body: String, calls: Int, concurrency: Int, maxSeconds: Double
    ) async throws -> Result {
        var check = Envoy_Service_Auth_V3_CheckRequest()
        check.attributes.request.http = Self.http(apiKey: apiKey, body: body)
        let request = check
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: host, port: port), transportSecurity: .plaintext, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        let client = GRPCClient(transport: transport)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await client.runConnections() }
            let stub = Envoy_Service_Auth_V3_Authorization.Client(wrapping: client)
            _ = try await stub.check(request)  // connected before the clock starts
            let started = ContinuousClock.now
            let deadline = started + .milliseconds(Int(maxSeconds * 1000))
            let latencies = try await withThrowingTaskGroup(of: [Int64].self) { workers in
                let share = calls / concurrency
                for worker in 0..<concurrency {
                    let count = share + (worker < calls % concurrency ? 1 : 0)
                    workers.addTask {
                        var taken: [Int64] = []
                        taken.reserveCapacity(count)
                        for _ in 0..<count where ContinuousClock.now < deadline {
                            let sent = ContinuousClock.now
                            let response = try await stub.check(request)
                            let elapsed = ContinuousClock.now - sent
                            let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
                            taken.append(response.status.code == 0 ? micros : -micros - 1)
                        }
                        return taken
                    }
                }
                var all: [Int64] = []
                for try await taken in workers { all += taken }
                return all
            }
            let elapsed = ContinuousClock.now - started
            client.beginGracefulShutdown()
            try await tasks.waitForAll()
            let sorted = latencies.map { $0 < 0 ? -$0 - 1 : $0 }.sorted()
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return Result(
                calls: latencies.count, allowed: latencies.filter { $0 >= 0 }.count, failed: latencies.filter { $0 < 0 }.count,
                seconds: seconds, p50Micros: Int(sorted.isEmpty ? 0 : sorted[sorted.count / 2]),
                p99Micros: Int(sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, sorted.count * 99 / 100)]))
        }
    }

    private static func http(apiKey: String, body: String) -> Envoy_Service_Auth_V3_AttributeContext.HttpRequest {
        var http = Envoy_Service_Auth_V3_AttributeContext.HttpRequest()
        http.method = "POST"
        http.path = "/v1/chat/completions"
        http.host = "llm.bench"
        http.scheme = "https"
        http.protocol = "HTTP/1.1"
        http.headers = [
            ":authority": "llm.bench", ":method": "POST", ":path": "/v1/chat/completions", "authorization": "Bearer \(apiKey)",
            "content-type": "application/json", "user-agent": "authz-load",
        ]
        http.body = body
        http.size = Int64(body.utf8.count)
        return http
    }
}
