import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL
import PortcullisConfig

/// HTTP/2 toward backends that set `http2: true`: one connection per endpoint on each event
/// loop, shared by every request of that loop as streams. Requests that need the connection
/// while it is being opened wait on that one connect (within their own connect timeout).
extension UpstreamPool {
    /// The usable HTTP/2 connection to `endpoint` on this loop, if there is one.
    func session(for endpoint: UpstreamEndpoint) -> UpstreamHTTP2Session? {
        guard let session = self.sessions[endpoint.poolKey] else { return nil }
        if session.isUsable { return session }
        self.sessions[endpoint.poolKey] = nil
        return nil
    }

    /// The HTTP/2 connection to `endpoint` being opened on this loop, if one is.
    func openingSession(for endpoint: UpstreamEndpoint) -> EventLoopFuture<UpstreamHTTP2Session>? {
        self.openingSessions[endpoint.poolKey]
    }

    /// Opens an HTTP/2 connection to `endpoint` within `timeout`: h2 by ALPN over TLS for
    /// https (a server that does not select h2 fails the connect), h2c with prior knowledge
    /// for http. `slot` is its place under `maxConnections`, given back when it closes (the
    /// caller gives it back if the connect fails).
    func connectHTTP2(
        _ endpoint: UpstreamEndpoint, backend: Backend, timeout: TimeAmount, slot: ConnectionSlot?
    ) -> EventLoopFuture<UpstreamHTTP2Session> {
        let sslContext: NIOSSLContext?
        if endpoint.scheme == .https {
            do {
                sslContext = try self.tls.context(caFile: backend.caFile, identity: backend.clientCertificate, http2: true)
            } catch {
                return self.eventLoop.makeFailedFuture(error)
            }
        } else {
            sslContext = nil
        }
        let key = endpoint.poolKey
        let scheme = endpoint.scheme == .https ? "https" : "http"
        let keepAlive = backend.keepAliveTimeout
        let serverHostname = backend.serverName ?? (Self.isIPAddress(endpoint.host) ? nil : endpoint.host)
        let pool = NIOLoopBound(self, eventLoop: self.eventLoop)
        // The whole open (TCP, TLS with ALPN, the server's first SETTINGS) is held to
        // `timeout`: the bootstrap's own timeout only covers TCP.
        let opening = UpstreamHTTP2Opening()
        let promise = self.eventLoop.makePromise(of: UpstreamHTTP2Session.self)
        let deadline = self.eventLoop.scheduleTask(in: timeout) {
            guard !opening.finished else { return }
            opening.finished = true
            opening.channel?.close(promise: nil)
            promise.fail(ChannelError.connectTimeout(timeout))
        }
        ClientBootstrap(group: self.eventLoop)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: GatewayServer.readBuffers)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                        try channel.pipeline.syncOperations.addHandler(UpstreamALPNCheck(eventLoop: channel.eventLoop))
                    }
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMap { channel -> EventLoopFuture<UpstreamHTTP2Session> in
                guard !opening.finished else {
                    // TCP connected after the deadline had answered: this connection is nobody's.
                    channel.close(promise: nil)
                    return channel.eventLoop.makeFailedFuture(ChannelError.connectTimeout(timeout))
                }
                opening.channel = channel
                // https: on once the handshake selected h2 (it failed otherwise).
                let negotiated = (try? channel.pipeline.syncOperations.handler(type: UpstreamALPNCheck.self))?.result
                    ?? channel.eventLoop.makeSucceededVoidFuture()
                return negotiated.flatMapThrowing { () -> (UpstreamHTTP2Session, EventLoopFuture<Void>) in
                    let sync = channel.pipeline.syncOperations
                    if let check = try? sync.handler(type: UpstreamALPNCheck.self) { _ = sync.removeHandler(check) }
                    var connection = NIOHTTP2Handler.ConnectionConfiguration()
                    connection.initialSettings = [
                        HTTP2Setting(parameter: .maxConcurrentStreams, value: 0),  // no pushed streams
                        HTTP2Setting(parameter: .enablePush, value: 0),
                        HTTP2Setting(parameter: .initialWindowSize, value: GatewayServer.streamWindow),
                    ]
                    // Every stream of the loop to this endpoint shares the connection's window:
                    // keep it topped up well past the 64 KiB default, as the listeners do.
                    connection.targetWindowSize = 4 * GatewayServer.streamWindow
                    var stream = NIOHTTP2Handler.StreamConfiguration()
                    stream.targetWindowSize = GatewayServer.streamWindow
                    let multiplexer = try sync.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: connection, streamConfiguration: stream
                    ) { stream in stream.close() }
                    let session = UpstreamHTTP2Session(
                        endpointKey: key, channel: channel, multiplexer: multiplexer, scheme: scheme, slot: slot,
                        keepAlive: keepAlive)
                    let watcher = UpstreamHTTP2Watcher(ready: channel.eventLoop.makePromise())
                    watcher.session = session
                    watcher.onClose = {
                        if pool.value.sessions[key] === session { pool.value.sessions[key] = nil }
                    }
                    try sync.addHandler(watcher)
                    return (session, watcher.ready.futureResult)
                }.flatMap { session, ready in
                    ready.map { session }
                }.flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw error
                }
            }
            .assumeIsolated().whenComplete { result in
                deadline.cancel()
                guard !opening.finished else {
                    // Too late: the deadline answered for it.
                    if case .success(let session) = result { session.close() }
                    return
                }
                opening.finished = true
                promise.completeWith(result)
            }
        let future = promise.futureResult
        self.openingSessions[key] = future
        future.assumeIsolated().whenComplete { result in
            let pool = pool.value
            if pool.openingSessions[key] === future { pool.openingSessions[key] = nil }
            if case .success(let session) = result, session.isUsable { pool.sessions[key] = session }
        }
        return future
    }
}
