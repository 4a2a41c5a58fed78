import NIOCore
import PortcullisConfig
import PortcullisCore

/// Everything one event loop owns: its view of the current snapshot, its upstream connection
/// pool, round-robin cursors and access-log buffer. Only ever touched on its own loop, so none
/// of it needs a lock; the request path never leaves the loop its connection lives on.
final class LoopContext {
    let eventLoop: any EventLoop
    let store: SnapshotStore
    let pool: UpstreamPool
    let requestIDs: RequestIDGenerator
    let accessLog: AccessLogWriter
    let services: GatewayServices

    private var tokens: TokenCache?

    /// This loop's verified-token cache.
    func tokenCache(capacity: Int) -> TokenCache {
        if let tokens, tokens.capacity == capacity { return tokens }
        let cache = TokenCache(capacity: capacity)
        self.tokens = cache
        return cache
    }

    private var cachedGeneration: UInt64
    private var cachedSnapshot: GatewaySnapshot
    private var roundRobin: [Int]

    init(eventLoop: any EventLoop, store: SnapshotStore, services: GatewayServices, accessLog: AccessLogWriter) {
        self.eventLoop = eventLoop
        self.store = store
        self.services = services
        self.requestIDs = services.requestIDs
        self.accessLog = accessLog
        self.pool = UpstreamPool(eventLoop: eventLoop, tls: services.upstreamTLS)
        let (generation, snapshot) = store.load()
        self.cachedGeneration = generation
        self.cachedSnapshot = snapshot
        self.roundRobin = Array(repeating: 0, count: snapshot.config.backends.count)
    }

    /// The snapshot a new request pins.
    @inline(__always)
    func snapshot() -> GatewaySnapshot {
        if self.store.generation != self.cachedGeneration {
            let (generation, snapshot) = self.store.load()
            self.cachedGeneration = generation
            self.cachedSnapshot = snapshot
            self.roundRobin = Array(repeating: 0, count: snapshot.config.backends.count)
            // Verifications were made under the old config's rules: forget them.
            self.tokens = nil
        }
        return self.cachedSnapshot
    }

    /// Next endpoint of `backend`, round-robin per loop. `skip` endpoints are passed over when a
    /// previous attempt of the same request failed to connect to them.
    func nextEndpoint(of backend: Backend, attempt: Int) -> UpstreamEndpoint {
        let count = backend.endpoints.count
        if count == 1 { return backend.endpoints[0] }
        if backend.index >= self.roundRobin.count {
            self.roundRobin = Array(repeating: 0, count: backend.index + 1)
        }
        if attempt == 0 {
            self.roundRobin[backend.index] = (self.roundRobin[backend.index] &+ 1) % count
        }
        return backend.endpoints[(self.roundRobin[backend.index] + attempt) % count]
    }
}

/// Long-lived objects shared by every loop (all `Sendable`).
public struct GatewayServices: Sendable {
    public let requestIDs: RequestIDGenerator
    public let upstreamTLS: UpstreamTLS

    public init(requestIDs: RequestIDGenerator = RequestIDGenerator(), upstreamTLS: UpstreamTLS = UpstreamTLS()) {
        self.requestIDs = requestIDs
        self.upstreamTLS = upstreamTLS
    }
}

/// One ``LoopContext`` per event loop of the group, looked up once per connection.
final class LoopContexts: Sendable {
    private let contexts: [ObjectIdentifier: NIOLoopBoundBox<LoopContext>]

    init(group: any EventLoopGroup, store: SnapshotStore, services: GatewayServices, accessLog: AccessLogSink) {
        var contexts: [ObjectIdentifier: NIOLoopBoundBox<LoopContext>] = [:]
        for loop in group.makeIterator() {
            contexts[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(
                LoopContext(
                    eventLoop: loop, store: store, services: services,
                    accessLog: AccessLogWriter(sink: accessLog)),
                eventLoop: loop)
        }
        self.contexts = contexts
    }

    /// The context of the loop the caller runs on.
    func current(_ eventLoop: any EventLoop) -> LoopContext {
        self.contexts[ObjectIdentifier(eventLoop)]!.value
    }

    func all() -> [NIOLoopBoundBox<LoopContext>] { Array(self.contexts.values) }
}
