import NIOCore
import PortcullisConfig

/// The resilience families of `/metrics`: read at the scrape from the backends' shared
/// runtime state (``BackendState``, ``EndpointState``), not from the per-loop arrays (they
/// count rare events, and their gauges are process-wide).
extension MetricsExposition {
    /// One backend's state at the scrape.
    struct BackendStats {
        var name: String
        var requests: Int
        var pending: Int
        var connections: Int
        var overflows: [(limit: String, count: Int)]
        var retries: [(reason: String, count: Int)]
        var unavailable: Int
        var endpoints: [EndpointStats]

        init(_ backend: Backend, runtime: BackendRuntime, now: NIODeadline) {
            let state = runtime.state
            self.name = backend.name
            self.requests = state.requests.load(ordering: .relaxed)
            self.pending = state.pending.load(ordering: .relaxed)
            self.connections = state.connections.load(ordering: .relaxed)
            self.overflows = BreakerLimit.allCases.map { ($0.label, state.overflowCount($0)) }
            self.retries = RetryReason.allCases.map { ($0.label, state.retryCount($0)) }
            self.unavailable = state.unavailable.load(ordering: .relaxed)
            self.endpoints = zip(backend.endpoints, runtime.endpoints).map { endpoint, state in
                EndpointStats(
                    url: endpoint.description, healthy: state.healthy.load(ordering: .relaxed), ejected: state.isEjected(at: now),
                    ejections: state.ejectionsTotal.load(ordering: .relaxed), inFlight: state.inFlight.load(ordering: .relaxed),
                    checksPassed: state.checksPassed.load(ordering: .relaxed), checksFailed: state.checksFailed.load(ordering: .relaxed))
            }
        }
    }

    struct EndpointStats {
        var url: String
        var healthy: Bool
        var ejected: Bool
        var ejections: Int
        /// Attempts sent to it and not yet over.
        var inFlight: Int
        var checksPassed: Int
        var checksFailed: Int
    }

    func writeResilience(into out: inout ByteBuffer) {
        let backends = self.process.backends
        func label(_ backend: BackendStats) -> String { "backend=\"\(Self.escaped(backend.name))\"" }
        func labels(_ backend: BackendStats, _ endpoint: EndpointStats) -> String {
            "backend=\"\(Self.escaped(backend.name))\",endpoint=\"\(Self.escaped(endpoint.url))\""
        }
        Self.header("portcullis_upstream_requests_active", "gauge", "Requests in flight to each backend (its breaker's maxRequests count).", into: &out)
        for b in backends { out.writeString("portcullis_upstream_requests_active{\(label(b))} \(b.requests)\n") }
        Self.header("portcullis_upstream_connections_open", "gauge", "Open connections to each backend, being opened included (maxConnections).", into: &out)
        for b in backends { out.writeString("portcullis_upstream_connections_open{\(label(b))} \(b.connections)\n") }
        Self.header("portcullis_upstream_overloaded_total", "counter", "Requests a backend's circuit breaker refused, by the bound that was full.", into: &out)
        for b in backends {
            for (limit, count) in b.overflows where count > 0 {
                out.writeString("portcullis_upstream_overloaded_total{\(label(b)),limit=\"\(limit)\"} \(count)\n")
            }
        }
        Self.header("portcullis_upstream_retries_total", "counter", "Attempts retried, by backend and what failed.", into: &out)
        for b in backends {
            for (reason, count) in b.retries where count > 0 {
                out.writeString("portcullis_upstream_retries_total{\(label(b)),reason=\"\(reason)\"} \(count)\n")
            }
        }
        Self.header("portcullis_upstream_unavailable_total", "counter", "Requests that found no endpoint in the rotation (503 no_healthy_upstream unless a fallback served).", into: &out)
        for b in backends where b.unavailable > 0 {
            out.writeString("portcullis_upstream_unavailable_total{\(label(b))} \(b.unavailable)\n")
        }
        // Each family's samples stay together after its TYPE line, as the text format requires.
        Self.header("portcullis_upstream_endpoint_healthy", "gauge", "1 while an endpoint passes its health checks (or has none).", into: &out)
        for b in backends {
            for e in b.endpoints { out.writeString("portcullis_upstream_endpoint_healthy{\(labels(b, e))} \(e.healthy ? 1 : 0)\n") }
        }
        Self.header("portcullis_upstream_endpoint_requests_active", "gauge", "Attempts in flight to an endpoint (least-request balancing compares these).", into: &out)
        for b in backends {
            for e in b.endpoints { out.writeString("portcullis_upstream_endpoint_requests_active{\(labels(b, e))} \(e.inFlight)\n") }
        }
        Self.header("portcullis_upstream_endpoint_ejected", "gauge", "1 while outlier detection keeps an endpoint out of the rotation.", into: &out)
        for b in backends {
            for e in b.endpoints { out.writeString("portcullis_upstream_endpoint_ejected{\(labels(b, e))} \(e.ejected ? 1 : 0)\n") }
        }
        Self.header("portcullis_upstream_ejections_total", "counter", "Times outlier detection ejected an endpoint.", into: &out)
        for b in backends {
            for e in b.endpoints where e.ejections > 0 {
                out.writeString("portcullis_upstream_ejections_total{\(labels(b, e))} \(e.ejections)\n")
            }
        }
        Self.header("portcullis_upstream_health_checks_total", "counter", "Active health checks by endpoint and result.", into: &out)
        for b in backends {
            for e in b.endpoints {
                if e.checksPassed > 0 { out.writeString("portcullis_upstream_health_checks_total{\(labels(b, e)),result=\"pass\"} \(e.checksPassed)\n") }
                if e.checksFailed > 0 { out.writeString("portcullis_upstream_health_checks_total{\(labels(b, e)),result=\"fail\"} \(e.checksFailed)\n") }
            }
        }
    }
}
