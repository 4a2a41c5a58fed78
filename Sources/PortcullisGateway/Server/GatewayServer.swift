import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PortcullisConfig
import PortcullisCore

/// The data-plane listeners: binds every listener of the snapshot on the shared event loop group
/// and builds each accepted connection's pipeline.
public final class GatewayServer: Sendable {
    public let group: any EventLoopGroup
    public let store: SnapshotStore
    let contexts: LoopContexts
    let logger: Logger

    public init(group: any EventLoopGroup, store: SnapshotStore, services: GatewayServices, logger: Logger) {
        self.group = group
        self.store = store
        self.logger = logger
        let sink = AccessLogSink(destination: store.current.config.accessLog.destination)
        self.contexts = LoopContexts(group: group, store: store, services: services, accessLog: sink)
    }

    /// A bound listener.
    public struct BoundListener: Sendable {
        public let name: String
        public let channel: any Channel
        public var port: Int { self.channel.localAddress?.port ?? 0 }
    }

    public func bind(_ listener: ListenerSpec) async throws -> BoundListener {
        let contexts = self.contexts
        let channel = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configureHTTP1(channel: channel, contexts: contexts)
                }
            }
            .bind(host: listener.host, port: listener.port)
            .get()
        return BoundListener(name: listener.name, channel: channel)
    }

    static func configureHTTP1(channel: any Channel, contexts: LoopContexts) throws {
        let loop = contexts.current(channel.eventLoop)
        let http = loop.snapshot().config.http
        let state = ConnectionState(
            clientAddress: channel.remoteAddress?.ipAddress, isTLS: false, isHTTP2: false)
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
