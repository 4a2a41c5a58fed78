import Foundation
import PortcullisTestSupport

/// A mock process and an in-process gateway in front of it, torn down after `body`.
func withGateway<T>(
    mockArguments: [String] = [],
    models: [String] = ["demo-chat", "demo-embed", "gpt-*"],
    http: String = "",
    extra: String = "",
    _ body: (GatewayHarness, MockProcess) async throws -> T
) async throws -> T {
    let mock = try await MockProcess.start(mockArguments)
    defer { mock.stop() }
    let gateway = try await GatewayHarness.start(yaml: testConfig(mockURL: mock.url, models: models, extra: extra, http: http))
    do {
        let result = try await body(gateway, mock)
        await gateway.stop()
        return result
    } catch {
        await gateway.stop()
        throw error
    }
}

/// A temporary directory removed at the end of `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = NSTemporaryDirectory() + "portcullis-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Polls (bounded) until `condition` returns a value.
func eventually<T>(timeout: Duration = .seconds(10), _ condition: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await condition() { return value }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TestFailure("condition not met within \(timeout)")
}

/// An in-process gateway with `yaml`, stopped after `body` on every path.
func withHarness<T>(yaml: String, threads: Int = 2, _ body: (GatewayHarness) async throws -> T) async throws -> T {
    let gateway = try await GatewayHarness.start(yaml: yaml, threads: threads)
    do {
        let result = try await body(gateway)
        await gateway.stop()
        return result
    } catch {
        await gateway.stop()
        throw error
    }
}
