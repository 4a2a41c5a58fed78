import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PortcullisHTTP

/// A JWKS endpoint served over HTTP inside the tests. Its document, status and availability can
/// be changed at any time; it counts the fetches it answered.
public final class JWKSServer: Sendable {
    public enum Mode: Sendable {
        case keys([[String: String]])
        case raw(status: Int, body: String)
        /// Down: connections (also kept-alive ones) are dropped without an answer.
        case down
        /// Accepts requests and never answers them.
        case hang
    }

    private let mode: NIOLockedValueBox<Mode>
    private let fetches: NIOLockedValueBox<Int>
    private let server: NIOLockedValueBox<EmbeddedHTTPServer?>
    public let port: Int

    public var url: String { "http://127.0.0.1:\(self.port)/.well-known/jwks.json" }
    public var fetchCount: Int { self.fetches.withLockedValue { $0 } }

    private init(mode: NIOLockedValueBox<Mode>, fetches: NIOLockedValueBox<Int>, server: EmbeddedHTTPServer) {
        self.mode = mode
        self.fetches = fetches
        self.server = NIOLockedValueBox(server)
        self.port = server.port
    }

    public static func start(keys: [[String: Any]]) async throws -> JWKSServer {
        let mode = NIOLockedValueBox<Mode>(.keys(keys.map(Self.stringify)))
        let fetches = NIOLockedValueBox(0)
        let server = try await EmbeddedHTTPServer.start(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton) {
            _, writer in
            let current = mode.withLockedValue { $0 }
            if case .down = current {
                writer.abort()
                return
            }
            fetches.withLockedValue { $0 += 1 }
            switch current {
            case .down, .hang:
                break
            case .keys(let keys):
                let data = try! JSONSerialization.data(withJSONObject: ["keys": keys])
                writer.respondJSON(String(decoding: data, as: UTF8.self))
            case .raw(let status, let body):
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: "text/html")
                writer.respond(status: HTTPResponseStatus(statusCode: status), headers: headers, body: ByteBuffer(string: body))
            }
        }
        return JWKSServer(mode: mode, fetches: fetches, server: server)
    }

    public func setKeys(_ keys: [[String: Any]]) {
        self.mode.withLockedValue { $0 = .keys(keys.map(Self.stringify)) }
    }

    /// Keeps accepting requests but never answers them.
    public func hang() {
        self.mode.withLockedValue { $0 = .hang }
    }

    public func setRaw(status: Int, body: String) {
        self.mode.withLockedValue { $0 = .raw(status: status, body: body) }
    }

    /// Stops answering: open connections are dropped and new ones refused.
    public func stop() async {
        self.mode.withLockedValue { $0 = .down }
        let server = self.server.withLockedValue { value -> EmbeddedHTTPServer? in
            defer { value = nil }
            return value
        }
        await server?.close()
    }

    private static func stringify(_ jwk: [String: Any]) -> [String: String] {
        jwk.compactMapValues { $0 as? String }
    }
}
