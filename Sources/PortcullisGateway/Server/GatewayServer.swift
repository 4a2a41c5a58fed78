import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import PortcullisConfig
import PortcullisCore

/// The data plane: the per-loop contexts, binding listeners on the shared event loop group,
/// building each accepted connection's pipeline, and tracking open connections for the
/// graceful stop.
public final class GatewayServer: Sendable {
    public let group: any EventLoopGroup
    public let store: SnapshotStore
    let contexts: LoopContexts
    let connections = ConnectionTracker()
    let logger: Logger

    public init(group: any EventLoopGroup, store: SnapshotStore, services: GatewayServices, accessLog: AccessLogSink, logger: Logger) {
        self.group = group
        self.store = store
        self.logger = logger
        self.contexts = LoopContexts(group: group, store: store, services: services, accessLog: accessLog, logger: logger)
    }

    /// Binds `listener`. The error names the listener and its address.
    func bind(_ listener: ListenerSpec, binding: ListenerBinding) async throws(StartupError) -> BoundListener {
        let contexts = self.contexts
        let tracker = self.connections
        do {
            let channel = try await ServerBootstrap(group: self.group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelOption(.recvAllocator, value: Self.readBuffers)
                .childChannelInitializer { channel in
                    tracker.add(channel)
                    let settings = binding.settings
                    if let store = settings.tls {
                        return Self.configureTLS(
                            channel: channel, contexts: contexts, listener: settings.name, store: store, http2: settings.http2)
                    }
                    return channel.eventLoop.makeCompletedFuture {
                        let state = ConnectionState(
                            clientAddress: channel.remoteAddress?.ipAddress, isTLS: false, isHTTP2: false, listenerName: settings.name)
                        try Self.configureHTTP1(channel: channel, contexts: contexts, state: state)
                    }
                }
                .bind(host: listener.host, port: listener.port)
                .get()
            return BoundListener(spec: listener, channel: channel, binding: binding)
        } catch {
            throw StartupError.bind(listener: listener.name, path: listener.location.path, address: "\(listener.host):\(listener.port)", error)
        }
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
            HTTP2Setting(parameter: .initialWindowSize, value: Self.streamWindow),
        ]
        // Keep uploads flowing: without a larger target, windows are only topped up to 64 KiB.
        connection.targetWindowSize = 4 * Self.streamWindow
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = Self.streamWindow
        // Rapid reset (CVE-2023-44487): more stream resets than this per window closes the connection.
        stream.streamResetFrameRateLimit.maximumCount = http2.maxResetsPerWindow
        stream.streamResetFrameRateLimit.windowLength = .nanoseconds(http2.resetWindowNanos)
        let sync = channel.pipeline.syncOperations
        // Idle connections close after the idle timeout; a graceful stop (ChannelShouldQuiesceEvent)
        // sends GOAWAY, lets the open streams finish and then closes, within the drain timeout.
        let management = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(
                maxIdleTime: .nanoseconds(http.idleTimeoutNanos), maxAge: nil,
                maxGraceTime: .nanoseconds(http.drainTimeoutNanos), keepalive: nil))
        // Streams live on their connection's event loop, so the shared state stays loop-bound.
        let boundState = NIOLoopBound(state, eventLoop: channel.eventLoop)
        // Between TLS and HTTP/2: the streams' flushes become one write per read batch or tick.
        try sync.addHandler(FlushCoalescer())
        _ = try sync.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: stream,
            streamDelegate: StreamEventsGuard(management.http2StreamDelegate, eventLoop: channel.eventLoop)
        ) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                let streamSync = streamChannel.pipeline.syncOperations
                try streamSync.addHandler(HTTP2StreamCodec())
                try streamSync.addHandler(
                    ProxyHandler(loop: contexts.current(streamChannel.eventLoop), connection: boundState.value))
            }
        }
        try sync.addHandler(management)
        try sync.addHandler(HTTP2ConnectionErrorHandler())
    }

    /// How every client and upstream channel sizes its reads. Each channel keeps its receive
    /// buffer between reads, so the starting size is memory every open stream holds: 512 bytes
    /// instead of NIO's 2 KiB took about 3 KB off each idle HTTP/1 stream (client and upstream
    /// channel) in the open-streams run. Reads that fill the buffer grow it (up to 64 KiB), so
    /// large prompts and fast streams still get big reads after the first few.
    static let readBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    /// The per-stream flow-control window: also the most a stream's upload buffers in the gateway.
    static let streamWindow = 1 << 20

    static func configureHTTP1(channel: any Channel, contexts: LoopContexts, state: ConnectionState) throws {
        let loop = contexts.current(channel.eventLoop)
        let http = loop.snapshot().config.http
        try Self.addHTTP1Handlers(
            channel.pipeline.syncOperations, state: state,
            limits: ClientRequestParser.Limits(maxHeaderBytes: http.maxHeaderBytes, maxFields: http.maxHeaderCount))
        try channel.pipeline.syncOperations.addHandler(ProxyHandler(loop: loop, connection: state))
    }

    /// The gateway's own request decoder and response encoder, not NIO's
    /// `configureHTTPServerPipeline`: its pipelining handler is replaced by ProxyHandler's own
    /// queue, its error handler by ProxyHandler's refusals, its decoder by
    /// ``ClientRequestDecoder`` (which holds nothing between requests) and its encoder by
    /// ``ClientResponseEncoder``, which takes forwarded heads as bytes. No outbound header
    /// validation: response headers come from the upstream's parsed response (the parser
    /// refused CR, LF and NUL in them) or from the gateway itself.
    static func addHTTP1Handlers(
        _ sync: ChannelPipeline.SynchronousOperations, state: ConnectionState, limits: ClientRequestParser.Limits
    ) throws {
        try sync.addHandler(ClientRequestDecoder(state: state, limits: limits))
        try sync.addHandler(ClientResponseEncoder())
    }

    // MARK: Runtime views

    /// Exchanges in flight, summed over every loop.
    public func inFlight() async -> Int {
        await self.contexts.onEveryLoop { $0.metrics.inFlight }.reduce(0, +)
    }

    /// Request metrics, summed over every loop (each loop's arrays copied on that loop).
    func requestMetrics() async -> LoopMetrics.Counts {
        var sum = LoopMetrics.Counts()
        for counts in await self.contexts.onEveryLoop({ $0.metrics.snapshot() }) { sum.add(counts) }
        return sum
    }

    /// Upstream connections per endpoint (pool key), summed over every loop: idle in the pools,
    /// and in use by an exchange.
    func upstreamConnections() async -> (idle: [String: Int], inUse: [String: Int]) {
        let perLoop = await self.contexts.onEveryLoop { context -> ([String: Int], [String: Int]) in
            var inUse: [String: Int] = [:]
            var idle = context.pool.idleCounts()
            for handler in context.handlers.values {
                // An HTTP/2 stream is not a connection: its connection is counted below.
                if let upstream = handler.upstream, !upstream.singleUse { inUse[upstream.endpointKey, default: 0] += 1 }
            }
            for (key, session) in context.pool.sessions {
                if session.activeStreams > 0 { inUse[key, default: 0] += 1 } else { idle[key, default: 0] += 1 }
            }
            return (idle, inUse)
        }
        var idle: [String: Int] = [:]
        var inUse: [String: Int] = [:]
        for (loopIdle, loopInUse) in perLoop {
            idle.merge(loopIdle, uniquingKeysWith: +)
            inUse.merge(loopInUse, uniquingKeysWith: +)
        }
        return (idle, inUse)
    }

    /// Marks every loop as draining (connections accepted from now on close once idle).
    func markDraining() async {
        _ = await self.contexts.onEveryLoop { $0.isDraining = true }
    }

    /// The drain timeout passed: every exchange still open, on every loop, ends now.
    func endForDrain() async {
        _ = await self.contexts.onEveryLoop { $0.endForDrain() }
    }

    /// Flushes access logs and closes pooled upstream connections (on shutdown).
    func flushAndClosePools() async {
        _ = await self.contexts.onEveryLoop { context in
            context.accessLog.flush()
            context.pool.closeAll()
        }
    }

    /// Flushes every loop's access-log buffer (before the destination changes, and at the end).
    func flushAccessLogs() async {
        _ = await self.contexts.onEveryLoop { $0.accessLog.flush() }
    }
}
