import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import PortcullisConfig
import PortcullisCore

/// The data-plane listeners: binds every listener of the snapshot on the shared event loop group
/// and builds each accepted connection's pipeline.
public final class GatewayServer: Sendable {
    public let group: any EventLoopGroup
    public let store: SnapshotStore
    let contexts: LoopContexts
    let logger: Logger

    public init(group: any EventLoopGroup, store: SnapshotStore, services: GatewayServices, accessLog: AccessLogSink, logger: Logger) {
        self.group = group
        self.store = store
        self.logger = logger
        self.contexts = LoopContexts(group: group, store: store, services: services, accessLog: accessLog)
    }

    /// A bound listener.
    public struct BoundListener: Sendable {
        public let name: String
        public let channel: any Channel
        /// The TLS context store of a TLS listener (reloaded when its files change).
        let tls: TLSContextStore?
        public var port: Int { self.channel.localAddress?.port ?? 0 }
    }

    public func bind(_ listener: ListenerSpec) async throws -> BoundListener {
        let contexts = self.contexts
        let name = listener.name
        var tlsStore: TLSContextStore?
        if let tls = listener.tls {
            tlsStore = try TLSContextStore(spec: tls, offersHTTP2: listener.http2.enabled, logger: self.logger)
        }
        let store = tlsStore
        let http2 = listener.http2
        let channel = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                if let store {
                    return Self.configureTLS(channel: channel, contexts: contexts, listener: name, store: store, http2: http2)
                }
                return channel.eventLoop.makeCompletedFuture {
                    let state = ConnectionState(
                        clientAddress: channel.remoteAddress?.ipAddress, isTLS: false, isHTTP2: false, listenerName: name)
                    try Self.configureHTTP1(channel: channel, contexts: contexts, state: state)
                }
            }
            .bind(host: listener.host, port: listener.port)
            .get()
        return BoundListener(name: listener.name, channel: channel, tls: tlsStore)
    }

    /// TLS, then ALPN: `h2` gets an HTTP/2 pipeline with one `ProxyHandler` per stream,
    /// `http/1.1` (or no ALPN) the HTTP/1 pipeline.
    static func configureTLS(
        channel: any Channel, contexts: LoopContexts, listener: String, store: TLSContextStore, http2: HTTP2Spec
    ) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            let loop = contexts.current(channel.eventLoop)
            let http = loop.snapshot().config.http
            let state = ConnectionState(
                clientAddress: channel.remoteAddress?.ipAddress, isTLS: true, isHTTP2: false, listenerName: listener)
            let tls = NIOSSLServerHandler(context: store.current)
            state.tlsHandler = tls
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(tls)
            try sync.addHandler(HandshakeTimeoutHandler(timeout: .nanoseconds(http.headerTimeoutNanos)))
            let alpn = ApplicationProtocolNegotiationHandler { result, channel in
                channel.eventLoop.makeCompletedFuture {
                    switch result {
                    case .negotiated("h2") where http2.enabled:
                        state.isHTTP2 = true
                        try Self.configureHTTP2(channel: channel, contexts: contexts, state: state, http2: http2)
                    default:
                        try Self.configureHTTP1(channel: channel, contexts: contexts, state: state)
                    }
                }
            }
            try sync.addHandler(alpn)
        }
    }

    static func configureHTTP2(channel: any Channel, contexts: LoopContexts, state: ConnectionState, http2: HTTP2Spec) throws {
        let loop = contexts.current(channel.eventLoop)
        let http = loop.snapshot().config.http
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: http2.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: http.maxHeaderBytes),
            HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
        ]
        var stream = NIOHTTP2Handler.StreamConfiguration()
        // Rapid reset (CVE-2023-44487): more stream resets than this per window closes the connection.
        stream.streamResetFrameRateLimit.maximumCount = http2.maxResetsPerWindow
        stream.streamResetFrameRateLimit.windowLength = .nanoseconds(http2.resetWindowNanos)
        let sync = channel.pipeline.syncOperations
        // Streams live on their connection's event loop, so the shared state stays loop-bound.
        let boundState = NIOLoopBound(state, eventLoop: channel.eventLoop)
        _ = try sync.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: stream
        ) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                let streamSync = streamChannel.pipeline.syncOperations
                try streamSync.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try streamSync.addHandler(
                    ProxyHandler(loop: contexts.current(streamChannel.eventLoop), connection: boundState.value))
            }
        }
        try sync.addHandler(HTTP2IdleHandler(idleTimeout: .nanoseconds(http.idleTimeoutNanos)))
    }

    static func configureHTTP1(channel: any Channel, contexts: LoopContexts, state: ConnectionState) throws {
        let loop = contexts.current(channel.eventLoop)
        let http = loop.snapshot().config.http
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = http.maxHeaderBytes
        limits.maxHeaderFieldSize = http.maxHeaderBytes
        limits.maxHeaderFieldCount = http.maxHeaderCount
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(ConnectionGuard(state: state))
        // Outbound header validation is off: response headers come from the upstream's parsed
        // response (llhttp already refused CR/LF/NUL in them) or from the gateway itself.
        // Pipelining assistance is off: ProxyHandler queues pipelined requests itself (see there).
        try sync.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
            withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
        try sync.addHandler(ProxyHandler(loop: loop, connection: state))
    }

    /// Flushes access logs and closes pooled upstream connections (on shutdown).
    public func drainLoops() async {
        for box in self.contexts.all() {
            try? await box.eventLoop.submit {
                let context = box.value
                context.accessLog.flush()
                context.pool.closeAll()
            }.get()
        }
    }
}
