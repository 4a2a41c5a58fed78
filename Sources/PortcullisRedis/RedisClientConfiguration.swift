import NIOCore

/// Where the Redis server is and how the client talks to it.
public struct RedisClientConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Connections kept open (commands are pipelined on each; a small pool is plenty).
    public var connections = 2
    public var connectTimeout: TimeAmount = .seconds(1)
    /// Time allowed for the handshake (AUTH, SELECT, SCRIPT LOAD) after connecting.
    public var handshakeTimeout: TimeAmount = .seconds(1)
    public var username: String?
    public var password: String?
    public var database: Int?
    /// Lua scripts loaded on every connection (``RedisClient/evaluate(script:keys:arguments:on:timeout:)`` runs them by SHA).
    public var scripts: [String] = []

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
