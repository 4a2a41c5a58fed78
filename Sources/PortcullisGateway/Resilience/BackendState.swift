import Atomics
import NIOConcurrencyHelpers
import PortcullisConfig

/// One backend's runtime state, shared by every event loop and kept across reloads (by name,
/// see ``UpstreamStates``): what its circuit breaker counts, its retry budget, and its
/// endpoints' states. The request path only uses relaxed atomics here; nothing takes a lock
/// except ``endpoint(_:)``, which runs when a snapshot is built.
///
/// The counters are exact: each increment is undone exactly once, by the ledger obligation of
/// the exchange that made it (requests, retries) or by the connection's ``ConnectionSlot``.
final class BackendState: Sendable {
    let name: String
    /// Requests in flight: dispatched to this backend and not yet settled.
    let requests = ManagedAtomic<Int>(0)
    /// Connections being opened.
    let pending = ManagedAtomic<Int>(0)
    /// Open connections: idle in a pool, in use, or being opened.
    let connections = ManagedAtomic<Int>(0)
    /// Requests in flight that have been retried at least once (held to the retry budget).
    let retriesInFlight = ManagedAtomic<Int>(0)
    /// Requests refused at once, by ``BreakerLimit``.
    private let overflows = (0..<BreakerLimit.allCases.count).map { _ in ManagedAtomic<Int>(0) }
    /// Retries, by ``RetryReason``.
    private let retries = (0..<RetryReason.allCases.count).map { _ in ManagedAtomic<Int>(0) }
    /// Requests refused because no endpoint (and no fallback) was available.
    let unavailable = ManagedAtomic<Int>(0)
    /// Endpoint states by key, so an endpoint keeps its health across reloads.
    private let endpoints = NIOLockedValueBox<[String: EndpointState]>([:])

    init(name: String) {
        self.name = name
    }

    /// The state of the endpoint `key`, created on first use.
    func endpoint(_ key: String) -> EndpointState {
        self.endpoints.withLockedValue { endpoints in
            if let existing = endpoints[key] { return existing }
            let state = EndpointState(key: key)
            endpoints[key] = state
            return state
        }
    }

    /// Takes a request slot unless `max` are in flight.
    @inline(__always)
    func admitRequest(max: Int) -> Bool {
        if self.requests.loadThenWrappingIncrement(ordering: .relaxed) >= max {
            self.requests.wrappingDecrement(ordering: .relaxed)
            self.overflowed(.requests)
            return false
        }
        return true
    }

    @inline(__always)
    func releaseRequest() {
        self.requests.wrappingDecrement(ordering: .relaxed)
    }

    /// Takes a connection and a pending slot for a connect about to start (nil), or names the
    /// bound that is full (nothing taken).
    func beginConnect(_ breaker: CircuitBreakerSpec) -> BreakerLimit? {
        if self.connections.loadThenWrappingIncrement(ordering: .relaxed) >= breaker.maxConnections {
            self.connections.wrappingDecrement(ordering: .relaxed)
            self.overflowed(.connections)
            return .connections
        }
        if self.pending.loadThenWrappingIncrement(ordering: .relaxed) >= breaker.maxPendingRequests {
            self.pending.wrappingDecrement(ordering: .relaxed)
            self.connections.wrappingDecrement(ordering: .relaxed)
            self.overflowed(.pendingRequests)
            return .pendingRequests
        }
        return nil
    }

    /// A connect begun with ``beginConnect(_:)`` ended, well or not (the connection itself is
    /// released by its ``ConnectionSlot``).
    func endConnect() {
        self.pending.wrappingDecrement(ordering: .relaxed)
    }

    /// Takes a retry slot if the budget allows one: retries in flight may be `percent` of the
    /// requests in flight, or `minimum`, whichever is more (Envoy's retry budget).
    func takeRetry(_ spec: RetrySpec, reason: RetryReason) -> Bool {
        let allowed = max(spec.minRetriesInFlight, self.requests.load(ordering: .relaxed) * spec.budgetPercent / 100)
        if self.retriesInFlight.loadThenWrappingIncrement(ordering: .relaxed) >= allowed {
            self.retriesInFlight.wrappingDecrement(ordering: .relaxed)
            return false
        }
        self.retries[reason.rawValue].wrappingIncrement(ordering: .relaxed)
        return true
    }

    func releaseRetry() {
        self.retriesInFlight.wrappingDecrement(ordering: .relaxed)
    }

    /// Counts one more retry of a request that already holds a retry slot.
    func countRetry(_ reason: RetryReason) {
        self.retries[reason.rawValue].wrappingIncrement(ordering: .relaxed)
    }

    private func overflowed(_ limit: BreakerLimit) {
        self.overflows[limit.rawValue].wrappingIncrement(ordering: .relaxed)
    }

    func overflowCount(_ limit: BreakerLimit) -> Int { self.overflows[limit.rawValue].load(ordering: .relaxed) }
    func retryCount(_ reason: RetryReason) -> Int { self.retries[reason.rawValue].load(ordering: .relaxed) }
}
