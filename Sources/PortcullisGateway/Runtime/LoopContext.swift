import NIOCore
import PortcullisConfig
import PortcullisCore

/// Everything one event loop owns: its view of the current snapshot, its upstream connection
/// pool, round-robin cursors, access-log buffer and in-flight count. Only ever touched on its
/// own loop, so none of it needs a lock; the request path never leaves the loop its connection
/// lives on.
final class LoopContext {
    let eventLoop: any EventLoop
    let store: SnapshotStore
    let pool: UpstreamPool
    let requestIDs: RequestIDGenerator
    let accessLog: AccessLogWriter
    let inFlight = InFlightCounter()
    /// A test hook registered with every exchange's ledger (nil in production).
    let ledgerProbe: (any LedgerObligation & Sendable)?
    /// A graceful stop is under way: new connections close once idle.
    var isDraining = false

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
    /// Round-robin cursors by backend slot (slots are stable across reloads, see ``BackendSlots``).
    private var roundRobin: [Int] = []

    /// The clock the request path reads (nil: the system's monotonic clock). Tests of the IO
    /// shell give an `EmbeddedEventLoop`'s virtual clock, so timeouts run without waiting.
    private let clock: (() -> NIODeadline)?

    @inline(__always)
    func now() -> NIODeadline {
        if let clock { return clock() }
        return .now()
    }

    init(
        eventLoop: any EventLoop, store: SnapshotStore, services: GatewayServices, accessLog: AccessLogWriter,
        clock: (() -> NIODeadline)? = nil
    ) {
        self.clock = clock
        self.eventLoop = eventLoop
        self.store = store
        self.requestIDs = services.requestIDs
        self.ledgerProbe = services.ledgerProbe
        self.accessLog = accessLog
        self.pool = UpstreamPool(eventLoop: eventLoop, tls: services.upstreamTLS)
        let (generation, snapshot) = store.load()
        self.cachedGeneration = generation
        self.cachedSnapshot = snapshot
    }

    /// The snapshot a new request pins.
    @inline(__always)
    func snapshot() -> GatewaySnapshot {
        if self.store.generation != self.cachedGeneration {
            self.adoptCurrentSnapshot()
        }
        return self.cachedSnapshot
    }

    private func adoptCurrentSnapshot() {
        let (generation, snapshot) = self.store.load()
        self.cachedGeneration = generation
        self.cachedSnapshot = snapshot
        // Verifications were made under the old config's rules: forget them.
        self.tokens = nil
        // Runtime state is reconciled, not reset: cursors stay (slots are stable), pooled
        // connections to endpoints that are still configured stay, the others close.
        self.pool.retainOnly(snapshot.poolKeys)
    }

    /// Next endpoint of `backend`, round-robin per loop. Later attempts of the same request
    /// (after connect failures) move on from the one the first attempt took.
    func nextEndpoint(of backend: Backend, attempt: Int, slot: Int) -> UpstreamEndpoint {
        let count = backend.endpoints.count
        if count == 1 { return backend.endpoints[0] }
        if slot >= self.roundRobin.count {
            self.roundRobin.append(contentsOf: repeatElement(0, count: slot + 1 - self.roundRobin.count))
        }
        if attempt == 0 {
            self.roundRobin[slot] = (self.roundRobin[slot] &+ 1) % count
        }
        return backend.endpoints[(self.roundRobin[slot] + attempt) % count]
    }
}

/// The number of exchanges in flight on one loop: counted up when an exchange starts,
/// down by its ledger. Summed over loops by the runtime (admin, tests).
final class InFlightCounter: LedgerObligation {
    private(set) var count = 0

    func started() {
        self.count += 1
    }

    func settle(_ exchange: Exchange, outcome: Outcome) {
        self.count -= 1
    }
}

/// Long-lived objects shared by every loop (all `Sendable`).
public struct GatewayServices: Sendable {
    public let requestIDs: RequestIDGenerator
    public let upstreamTLS: UpstreamTLS
    /// Registered with every exchange's ledger when set: a test hook that counts settlements.
    public let ledgerProbe: (any LedgerObligation & Sendable)?

    public init(
        requestIDs: RequestIDGenerator = RequestIDGenerator(), upstreamTLS: UpstreamTLS = UpstreamTLS(),
        ledgerProbe: (any LedgerObligation & Sendable)? = nil
    ) {
        self.requestIDs = requestIDs
        self.upstreamTLS = upstreamTLS
        self.ledgerProbe = ledgerProbe
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
                    accessLog: AccessLogWriter(sink: accessLog, eventLoop: loop)),
                eventLoop: loop)
        }
        self.contexts = contexts
    }

    /// The context of the loop the caller runs on.
    func current(_ eventLoop: any EventLoop) -> LoopContext {
        self.contexts[ObjectIdentifier(eventLoop)]!.value
    }

    func all() -> [NIOLoopBoundBox<LoopContext>] { Array(self.contexts.values) }

    /// Runs `body` on every loop with its context and collects the results.
    func onEveryLoop<T: Sendable>(_ body: @escaping @Sendable (LoopContext) -> T) async -> [T] {
        var results: [T] = []
        for box in self.all() {
            if let value = try? await box.eventLoop.submit({ body(box.value) }).get() { results.append(value) }
        }
        return results
    }
}
