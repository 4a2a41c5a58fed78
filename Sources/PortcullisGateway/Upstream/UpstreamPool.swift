import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PortcullisConfig

/// Keep-alive HTTP/1.1 connections to upstream endpoints, owned by one event loop. A request
/// borrows a connection on the loop its client connection lives on, so proxying never hops
/// threads. Idle connections are kept per endpoint, most recently used first.
final class UpstreamPool {
    let eventLoop: any EventLoop
    let tls: UpstreamTLS
    /// Idle connections per endpoint key. A class per endpoint so the array is mutated in place
    /// (no copy-on-write of a dictionary value on every borrow and return).
    private final class IdleList {
        var connections: [UpstreamConnection] = []
    }

    private var idle: [String: IdleList] = [:]
    /// HTTP/2 connections, one per endpoint key (see `UpstreamPool+HTTP2`).
    var sessions: [String: UpstreamHTTP2Session] = [:]
    /// HTTP/2 connections being opened: requests that need one meanwhile wait on it.
    var openingSessions: [String: EventLoopFuture<UpstreamHTTP2Session>] = [:]

    init(eventLoop: any EventLoop, tls: UpstreamTLS) {
        self.eventLoop = eventLoop
        self.tls = tls
    }

    /// An idle connection to `endpoint`, if one is pooled.
    /// An idle connection to `endpoint`, if one is pooled and was used within `keepAlive`
    /// (older ones are closed: the backend may be closing them). Most recently used first.
    func takeIdle(_ endpoint: UpstreamEndpoint, now: NIODeadline, keepAlive: TimeAmount) -> UpstreamConnection? {
        guard let list = self.idle[endpoint.poolKey] else { return nil }
        while let connection = list.connections.popLast() {
            if connection.isClosed { continue }
            if now - connection.releasedAt > keepAlive {
                // The most recent is too old, so all of them are.
                let stale = list.connections
                list.connections.removeAll()
                connection.close()
                for other in stale { other.close() }
                return nil
            }
            return connection
        }
        return nil
    }

    /// Opens a new connection to `endpoint` within `timeout`; `slot` is its place under the
    /// backend's `maxConnections`, given back when the connection's handler leaves its channel
    /// (the caller gives it back if the connect fails).
    func connect(
        _ endpoint: UpstreamEndpoint, backend: Backend, timeout: TimeAmount, slot: ConnectionSlot? = nil
    ) -> EventLoopFuture<UpstreamConnection> {
        let sslContext: NIOSSLContext?
        if endpoint.scheme == .https {
            do {
                sslContext = try self.tls.context(caFile: backend.caFile, identity: backend.clientCertificate)
            } catch {
                return self.eventLoop.makeFailedFuture(error)
            }
        } else {
            sslContext = nil
        }
        let key = endpoint.poolKey
        let maxIdle = backend.maxIdleConnections
        let keepAlive = backend.keepAliveTimeout
        let serverHostname = backend.serverName ?? (Self.isIPAddress(endpoint.host) ? nil : endpoint.host)
        let pool = NIOLoopBound(self, eventLoop: self.eventLoop)
        return ClientBootstrap(group: self.eventLoop)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: GatewayServer.readBuffers)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        try sync.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                    }
                    // No HTTP codec: UpstreamConnection writes requests and parses responses
                    // as bytes itself.
                    let connection = UpstreamConnection(endpointKey: key, pool: pool.value, slot: slot)
                    connection.maxIdle = maxIdle
                    connection.keepAlive = keepAlive
                    if sslContext != nil { connection.expectHandshake(on: channel.eventLoop) }
                    try sync.addHandler(connection)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMap { channel in
                do {
                    let connection = try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
                    // An https connection is ready once its handshake is done (or it failed it).
                    guard let handshake = connection.handshake else { return channel.eventLoop.makeSucceededFuture(connection) }
                    return handshake.futureResult.map { connection }.flatMapErrorThrowing { error in
                        connection.close()
                        throw error
                    }
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
    }

    /// Returns a connection whose response ended cleanly with keep-alive.
    func release(_ connection: UpstreamConnection, now: NIODeadline = .now()) {
        if connection.singleUse {
            connection.close()  // an HTTP/2 stream carries one request
            return
        }
        let list: IdleList
        if let existing = self.idle[connection.endpointKey] {
            list = existing
        } else {
            list = IdleList()
            self.idle[connection.endpointKey] = list
        }
        if list.connections.count >= connection.maxIdle {
            connection.close()
            return
        }
        connection.releasedAt = now
        list.connections.append(connection)
    }

    /// Closes idle connections unused for longer than their backend's keep-alive timeout.
    /// Run every second by the loop: an idle connection holds a place under its backend's
    /// `maxConnections`, so after a burst the pools must not keep those places for good.
    func closeStale(now: NIODeadline) {
        for list in self.idle.values where !list.connections.isEmpty {
            var kept: [UpstreamConnection] = []
            for connection in list.connections {
                if connection.isClosed { continue }
                if now - connection.releasedAt > connection.keepAlive { connection.close() } else { kept.append(connection) }
            }
            if kept.count != list.connections.count { list.connections = kept }
        }
        for (key, session) in self.sessions where session.isIdle(now: now) {
            self.sessions[key] = nil
            session.close()
        }
    }

    /// Forgets a connection that closed (idempotent).
    func remove(_ connection: UpstreamConnection) {
        guard let list = self.idle[connection.endpointKey],
            let index = list.connections.firstIndex(where: { $0 === connection })
        else { return }
        list.connections.remove(at: index)
    }

    /// Closes idle connections to endpoints that are no longer configured (after a reload).
    func retainOnly(_ keys: Set<String>) {
        for (key, list) in self.idle where !keys.contains(key) {
            self.idle[key] = nil
            for connection in list.connections { connection.close() }
        }
        for (key, session) in self.sessions where !keys.contains(key) {
            self.sessions[key] = nil
            session.retire()
        }
    }

    /// Idle pooled connections per endpoint (pool key), for `/backends`.
    func idleCounts() -> [String: Int] {
        self.idle.compactMapValues { $0.connections.isEmpty ? nil : $0.connections.count }
    }

    /// Closes every idle connection (shutdown).

    func closeAll() {
        let all = self.idle.values.flatMap { $0.connections }
        self.idle.removeAll()
        for connection in all { connection.close() }
        let sessions = self.sessions.values
        self.sessions.removeAll()
        for session in sessions { session.close() }
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
    }
}
