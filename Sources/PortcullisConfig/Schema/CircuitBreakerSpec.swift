/// A backend's circuit breaker (`circuitBreaker:`): bounds on what the gateway keeps open
/// toward it, across all event loops. Over any of them the answer is 503
/// `upstream_overloaded` at once (or a fallback backend serves): there is no queue.
public struct CircuitBreakerSpec: Sendable, Equatable {
    /// Open connections to the backend, idle in the pools or in use, plus those being opened.
    public var maxConnections = 100
    /// Connections being opened at once (a request that needs a fresh connection waits on
    /// its connect: these are the requests pending a connection).
    public var maxPendingRequests = 50
    /// Requests in flight to the backend, from dispatch to the end of the response.
    public var maxRequests = 200

    public init() {}
}
