import NIOCore
import PortcullisConfig

/// Forwarding over HTTP/2 (`http2: true` on the backend): the attempt takes a stream on this
/// loop's connection to the endpoint, waits for the connection being opened, or opens it.
/// Only opening one counts against `maxConnections` and `maxPendingRequests`; a request
/// waiting on it is bounded by its own connect timeout, and a failed connect fails (and may
/// retry) every attempt that waited on it.
extension ProxyHandler {
    func connectHTTP2(
        _ token: LifecycleStateMachine.AttemptToken, endpoint: UpstreamEndpoint, backend: Backend, runtime: BackendRuntime,
        now: NIODeadline
    ) {
        guard let exchange = self.exchange else { return }
        let pool = self.loop.pool
        let connectTimeout = exchange.route?.connectTimeout ?? backend.connectTimeout
        let session: EventLoopFuture<UpstreamHTTP2Session>
        var opens = false
        if let open = pool.session(for: endpoint) {
            session = pool.eventLoop.makeSucceededFuture(open)
        } else if let opening = pool.openingSession(for: endpoint) {
            session = opening
        } else {
            if runtime.state.beginConnect(backend.circuitBreaker) != nil {
                // Too many connections to the backend, or too many being opened: no queue.
                self.overloadedAtConnect(token, backend: backend, exchange: exchange, now: now)
                return
            }
            let slot = ConnectionSlot(runtime.state)
            opens = true
            session = pool.connectHTTP2(endpoint, backend: backend, timeout: connectTimeout, slot: slot)
            session.assumeIsolated().whenComplete { result in
                runtime.state.endConnect()
                if case .failure = result { slot.release() }
            }
        }
        self.machine.connectStarted(token, now: now, connectTimeout: connectTimeout)
        self.armTimer()
        let endpointIndex = exchange.upstreamEndpointIndex
        let counted = opens
        session.flatMap { $0.openStream(pool: pool) }.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let connection):
                self.send(token, on: connection)
            case .failure(let error):
                // The connection's failure counts once, for the attempt that opened it.
                self.connectFailed(token, error: error, exchange: exchange, endpointIndex: endpointIndex, counted: counted)
            }
        }
    }
}
