import Atomics
import NIOCore
import PortcullisConfig
import PortcullisCore

/// Choosing a backend that can take the request (its breaker has room, an endpoint is in the
/// rotation), falling back when it cannot, and retrying failed attempts within the backend's
/// retry budget. The decisions about time and attempts are the lifecycle machine's; this is
/// where the shared runtime state (``BackendState``) is read and taken.
extension ProxyHandler {
    /// The backend this exchange is forwarded to, with a request slot taken from its breaker:
    /// `preferred`, else its ``Route/alternatives(to:)`` (the route's other backends, then its
    /// `fallbacks`; those in the tenant's regions, when it has some): the first with an
    /// endpoint in the rotation and room under `maxRequests`. None: 503 `upstream_overloaded` if one was full, else
    /// `no_healthy_upstream`. The slot goes back when the exchange settles (see `settle`).
    func admit(_ exchange: Exchange, preferred: Backend, now: NIODeadline) -> Result<Backend, GatewayError> {
        if !self.holdsUpstreamObligation {
            // Whatever happens next, the slot and the upstream connection are released when the exchange ends.
            self.holdsUpstreamObligation = true
            exchange.register(self)
        }
        let snapshot = exchange.snapshot
        var overloaded = false
        if self.tryAdmit(preferred, snapshot: snapshot, now: now, overloaded: &overloaded) { return .success(preferred) }
        if let route = exchange.route {
            let regions = exchange.plan?.regions
            for candidate in route.alternatives(to: preferred) where candidate.isIn(regions) {
                if self.tryAdmit(candidate, snapshot: snapshot, now: now, overloaded: &overloaded) { return .success(candidate) }
            }
        }
        if !overloaded { snapshot.runtime(of: preferred).state.unavailable.wrappingIncrement(ordering: .relaxed) }
        return .failure(overloaded ? .upstreamOverloaded : .noHealthyUpstream)
    }

    /// The first attempt found `backend`'s `maxConnections` or `maxPendingRequests` full: the
    /// exchange moves, once, to the route's next backend that can take it (as ``admit`` would
    /// have chosen had it known), its request slot moving with it; none can: 503 at once.
    /// Retries never move (they stay with the backend whose budget they took).
    func overloadedAtConnect(_ token: LifecycleStateMachine.AttemptToken, backend: Backend, exchange: Exchange, now: NIODeadline) {
        if token.attempt == 0, self.machine.mayChangeBackend, !exchange.movedOnOverload, let route = exchange.route {
            exchange.movedOnOverload = true
            let regions = exchange.plan?.regions
            let held = self.admitted
            var overloaded = false
            for candidate in route.alternatives(to: backend) where candidate !== backend && candidate.isIn(regions) {
                guard self.tryAdmit(candidate, snapshot: exchange.snapshot, now: now, overloaded: &overloaded) else { continue }
                held?.releaseRequest()
                exchange.backend = candidate
                exchange.upstreamAttempts -= 1  // a move before any connect, not a retry
                self.machine.changeBackend(endpointCount: candidate.endpoints.count, retries: .init(candidate.retries))
                self.connect(token, fresh: false)
                return
            }
        }
        self.perform(self.machine.respond(.upstreamOverloaded, now: now))
    }

    private func tryAdmit(_ backend: Backend, snapshot: GatewaySnapshot, now: NIODeadline, overloaded: inout Bool) -> Bool {
        let runtime = snapshot.runtime(of: backend)
        guard runtime.hasAvailableEndpoint(at: now) else { return false }
        guard runtime.state.admitRequest(max: backend.circuitBreaker.maxRequests) else {
            overloaded = true
            return false
        }
        self.admitted = runtime.state
        return true
    }

    /// Retries the current attempt after `trigger` when the machine would (attempts left,
    /// nothing sent to the client) and the backend's retry budget has room. False: no retry,
    /// and the caller answers as it would have.
    func retryIfAllowed(after trigger: LifecycleStateMachine.RetryTrigger, exchange: Exchange, backend: Backend) -> Bool {
        guard self.machine.retryPossible(after: trigger) else { return false }
        let state = exchange.snapshot.runtime(of: backend).state
        if let retrying = self.retrying {
            retrying.countRetry(trigger.reason)
        } else {
            guard state.takeRetry(backend.retries, reason: trigger.reason) else { return false }
            self.retrying = state
        }
        let backoff = Self.backoff(backend.retries, retry: exchange.upstreamAttempts)
        self.perform(self.machine.retry(after: trigger, now: self.now(), backoff: backoff))
        return true
    }

    /// The wait before retry number `retry` (1 for the first): full jitter over a window that
    /// doubles from `backoff` up to `maxBackoff`.
    static func backoff(_ spec: RetrySpec, retry: Int) -> TimeAmount {
        let shift = Int64(min(max(retry - 1, 0), 30))
        let window = min(spec.backoffNanos << shift, spec.maxBackoffNanos)
        guard window > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...window))
    }
}
