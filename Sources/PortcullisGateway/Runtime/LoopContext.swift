import Logging
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
    /// This loop's request metrics (and its in-flight count).
    let metrics = LoopMetrics()
    /// A test hook registered with every exchange's ledger (nil in production).
    let ledgerProbe: (any LedgerObligation & Sendable)?
    /// A graceful stop is under way: new connections close once idle.
    var isDraining = false
    /// The graceful stop's drain timeout passed: exchanges still open are ended by the gateway.
    var drainTimedOut = false
    /// Every request handler on this loop (one per HTTP/1 connection or HTTP/2 stream), so the
    /// drain timeout can end each exchange as the gateway's doing, not the client's.
    private(set) var handlers: [ObjectIdentifier: ProxyHandler] = [:]

    func register(_ handler: ProxyHandler) {
        self.handlers[ObjectIdentifier(handler)] = handler
    }

    func unregister(_ handler: ProxyHandler) {
        self.handlers[ObjectIdentifier(handler)] = nil
    }

    /// The drain timeout passed: every exchange still open on this loop ends now.
    func endForDrain() {
        self.drainTimedOut = true
        for handler in Array(self.handlers.values) { handler.endForDrain() }
    }

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
    /// Draws for weighted splits and least-request balancing.
    var random = LoopRandom()

    /// The clock the request path reads (nil: the system's monotonic clock). Tests of the IO
    /// shell give an `EmbeddedEventLoop`'s virtual clock, so timeouts run without waiting.
    private let clock: (() -> NIODeadline)?

    @inline(__always)
    func now() -> NIODeadline {
        if let clock { return clock() }
        return .now()
    }

    let logger: Logger
    private var lastWarning = NIODeadline.distantPast
    private var suppressedWarnings = 0

    /// Logs a warning about one request's path at most once a second per loop, counting the
    /// ones it held back (a broken dependency must not flood the log at request rate).
    func warnRateLimited(_ message: Logger.Message, metadata: Logger.Metadata) {
        let now = self.now()
        guard now - self.lastWarning >= .seconds(1) else {
            self.suppressedWarnings += 1
            return
        }
        var metadata = metadata
        if self.suppressedWarnings > 0 { metadata["suppressed"] = "\(self.suppressedWarnings)" }
        self.lastWarning = now
        self.suppressedWarnings = 0
        self.logger.warning(message, metadata: metadata)
    }

    init(
        eventLoop: any EventLoop, store: SnapshotStore, services: GatewayServices, accessLog: AccessLogWriter,
        clock: (() -> NIODeadline)? = nil, logger: Logger = Logger(label: "portcullis")
    ) {
        self.logger = logger
        self.clock = clock
        self.eventLoop = eventLoop
        self.store = store
        self.requestIDs = services.requestIDs
        self.ledgerProbe = services.ledgerProbe
        self.accessLog = accessLog
        self.pool = UpstreamPool(eventLoop: eventLoop, tls: services.upstreamTLS)
        // Idle connections past their keep-alive are closed even when no request comes to take them.
        // (Built off the loop, so `NIOLoopBound` cannot check it here; the task runs on the loop.)
        let pool = LoopOwned(self.pool)
        eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            pool.value.closeStale(now: .now())
        }
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

    /// Position of the next endpoint of `backend` that may take traffic (healthy, not ejected);
    /// nil when none may. The first attempt goes by the backend's `balance`: round-robin per
    /// loop, or the power of two choices by requests in flight. Later attempts of the same
    /// request (retries) move on from `first`, the endpoint its first attempt took (not from the
    /// loop's cursor, which other requests move meanwhile), so each goes to another endpoint
    /// while there is one.
    func nextEndpoint(
        of backend: Backend, runtime: BackendRuntime, attempt: Int, first: Int, slot: Int, now: NIODeadline
    ) -> Int? {
        let count = backend.endpoints.count
        let endpoints = runtime.endpoints
        if count == 1 { return endpoints[0].isAvailable(at: now) ? 0 : nil }
        let start: Int
        if attempt == 0 {
            if backend.balance == .leastRequest {
                return EndpointPicker.leastRequest(
                    count: count, roll: self.random.next(), isAvailable: { endpoints[$0].isAvailable(at: now) },
                    load: { endpoints[$0].inFlight.load(ordering: .relaxed) })
            }
            if slot >= self.roundRobin.count {
                self.roundRobin.append(contentsOf: repeatElement(0, count: slot + 1 - self.roundRobin.count))
            }
            self.roundRobin[slot] = (self.roundRobin[slot] &+ 1) % count
            start = self.roundRobin[slot]
        } else {
            start = first + attempt
        }
        return EndpointPicker.scan(from: start, count: count) { endpoints[$0].isAvailable(at: now) }
    }
}

/// A loop's object handed to a task scheduled on that same loop, from a thread that is not the
/// loop (where `NIOLoopBound` would trap): only ever touched by that task, on the loop.
private struct LoopOwned<Value>: @unchecked Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}
