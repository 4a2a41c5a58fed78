import Foundation
import NIOCore
import NIOPosix

/// A real `redis-server` on a loopback port, started (and stopped, paused, restarted) by a
/// test. Nothing is persisted.
public final class RedisServer: Sendable {
    public let port: Int
    private let process: ChildProcess

    private init(port: Int, process: ChildProcess) {
        self.port = port
        self.process = process
    }

    /// Starts a server on `port` (nil: a free one) and waits until it accepts connections.
    public static func start(port: Int? = nil) async throws -> RedisServer {
        let port = try await { if let port { return port } else { return try await Self.freePort() } }()
        let executable = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let executable else { throw TestFailure("redis-server is not installed (scripts/test installs it)") }
        let process = try ChildProcess(
            executable: executable,
            arguments: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"])
        _ = try await process.waitForLine(containing: "Ready to accept connections", timeout: .seconds(20))
        return RedisServer(port: port, process: process)
    }

    public var pid: Int32 { self.process.pid }

    /// A new server on the same port (after ``kill()``), empty.
    public func restarted() async throws -> RedisServer {
        try await Self.start(port: self.port)
    }

    public func kill() { self.process.terminate() }
    public func pause() { self.process.signal(SIGSTOP) }
    public func resume() { self.process.signal(SIGCONT) }

    /// A loopback port nothing listens on right now.
    public static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }

    deinit {
        self.process.signal(SIGCONT)
    }
}
