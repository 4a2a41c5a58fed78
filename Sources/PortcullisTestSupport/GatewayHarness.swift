import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PortcullisGateway

/// The gateway running in-process on port 0 with a YAML config, plus a shared HTTP client.
public final class GatewayHarness: Sendable {
    public let runtime: GatewayRuntime
    public let group: MultiThreadedEventLoopGroup
    /// The runtime's service group (listeners, reloader, JWKS refreshes, certificate checks…),
    /// stopped gracefully by `stop()`.
    private let background: Task<Void, Never>

    public var port: Int { self.runtime.listenerPorts[0] }
    public var baseURL: String { "http://127.0.0.1:\(self.port)" }

    private init(runtime: GatewayRuntime, group: MultiThreadedEventLoopGroup) {
        self.runtime = runtime
        self.group = group
        self.background = Task { try? await runtime.run() }
    }

    public static func start(
        yaml: String, environment: [String: String] = [:], threads: Int = 2,
        wallClock: (@Sendable () -> Double)? = nil, services: GatewayServices = GatewayServices()
    ) async throws -> GatewayHarness {
        try await self.start(source: .yaml(yaml), environment: environment, threads: threads, wallClock: wallClock, services: services)
    }

    /// A gateway reading its config from a file (so tests can change it and reload).
    public static func start(
        configPath: String, environment: [String: String] = [:], threads: Int = 2, services: GatewayServices = GatewayServices()
    ) async throws -> GatewayHarness {
        try await self.start(source: .file(configPath), environment: environment, threads: threads, wallClock: nil, services: services)
    }

    private static func start(
        source: ConfigSource, environment: [String: String], threads: Int, wallClock: (@Sendable () -> Double)?,
        services: GatewayServices
    ) async throws -> GatewayHarness {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var logger = Logger(label: "test-gateway")
        logger.logLevel = .critical
        let runtime: GatewayRuntime
        do {
            if let wallClock {
                runtime = try await GatewayRuntime.start(
                    source: source, group: group, logger: logger, environment: environment, services: services, wallClock: wallClock)
            } else {
                runtime = try await GatewayRuntime.start(
                    source: source, group: group, logger: logger, environment: environment, services: services)
            }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        return GatewayHarness(runtime: runtime, group: group)
    }

    /// Stops gracefully (a drain of at most two seconds) and waits until every service ended.
    public func stop() async {
        await self.runtime.shutdown(drainLimit: .seconds(2))
        await self.background.value
        try? await self.group.shutdownGracefully()
    }
}

/// A config for tests: one listener on port 0, access log off, one backend `mock` at `mockURL`
/// serving the given models, plus extra YAML appended.
public func testConfig(mockURL: String, models: [String] = ["demo-chat", "demo-embed", "gpt-*"], extra: String = "", http: String = "")
    -> String
{
    let routes = models.enumerated().map { index, model in
        "  - name: r\(index)\n    match: { model: \"\(model)\" }\n    backend: mock"
    }.joined(separator: "\n")
    return """
        listeners:
          - name: main
            address: 127.0.0.1:0
        accessLog: { destination: "off" }
        \(http)
        backends:
          mock:
            endpoints: [\(mockURL)]
            responseTimeout: 5s
        routes:
        \(routes)
        \(extra)
        """
}

/// Convenience around AsyncHTTPClient for tests.
public enum TestHTTP {
    public static let client = HTTPClient(eventLoopGroupProvider: .singleton)

    public struct Reply: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: String

        public var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(self.body.utf8))) as? [String: Any]
        }

        public var errorCode: String? {
            ((self.json?["error"] as? [String: Any])?["code"]) as? String
        }
    }

    public static func request(
        _ url: String, method: HTTPMethod = .POST, headers: [(String, String)] = [("content-type", "application/json")],
        body: String? = nil, timeout: TimeAmount = .seconds(20)
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: timeout)
        let collected = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: collected))
    }

    public static func chat(_ base: String, model: String = "demo-chat", stream: Bool = false, extraHeaders: [(String, String)] = [])
        async throws -> Reply
    {
        try await request(
            base + "/v1/chat/completions", headers: [("content-type", "application/json")] + extraHeaders,
            body: #"{"model":"\#(model)","stream":\#(stream),"messages":[{"role":"user","content":"Hello there"}]}"#)
    }

    /// Fetches what the mock recorded.
    public static func recorded(_ mockURL: String) async throws -> [[String: Any]] {
        let reply = try await request(mockURL + "/__mock/requests", method: .GET, headers: [])
        return (try JSONSerialization.jsonObject(with: Data(reply.body.utf8))) as? [[String: Any]] ?? []
    }

    public static func clearRecorded(_ mockURL: String) async throws {
        _ = try await request(mockURL + "/__mock/requests", method: .DELETE, headers: [])
    }
}

extension Dictionary where Key == String, Value == Any {
    /// Header values of a recorded request with `name` (case-insensitive).
    public func recordedHeader(_ name: String) -> [String] {
        let headers = self["headers"] as? [[String]] ?? []
        return headers.filter { $0[0].lowercased() == name.lowercased() }.map { $0[1] }
    }
}
