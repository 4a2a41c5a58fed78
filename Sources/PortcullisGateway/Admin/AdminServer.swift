import NIOCore
import NIOHTTP1
import PortcullisCore
import PortcullisHTTP

/// The admin listener (loopback by default): health, readiness, the loaded config, and reload.
/// Separate from the data listeners, so no data-plane path can reach it.
enum AdminServer {
    static func start(host: String, port: Int, group: any EventLoopGroup, runtime: RuntimeBox) async throws
        -> EmbeddedHTTPServer
    {
        try await EmbeddedHTTPServer.start(
            host: host, port: port, group: group, maxBody: 64 * 1024, idleTimeout: .seconds(30), maxConnections: 256
        ) { request, writer in
            guard let runtime = runtime.runtime else {
                writer.respondJSON(status: .serviceUnavailable, #"{"status":"starting","waitingFor":["startup"]}"#)
                return
            }
            switch (request.head.method, request.path) {
            case (.GET, "/healthz"):
                writer.respondJSON(#"{"status":"ok"}"#)
            case (.GET, "/readyz"):
                let report = runtime.readinessReport
                let waiting = report.waitingFor.map { JSONString.quoted($0) }.joined(separator: ",")
                writer.respondJSON(
                    status: report.ready ? .ok : .serviceUnavailable,
                    #"{"status":"\#(report.status)","waitingFor":[\#(waiting)]}"#)
            case (.GET, "/config"):
                writer.respondJSON(ConfigDescription.render(runtime))
            case (.GET, "/metrics"):
                writer.eventLoop.makeFutureWithTask { await Self.metrics(runtime) }.assumeIsolated().whenSuccess { body in
                    var headers = HTTPHeaders()
                    headers.add(name: "content-type", value: "text/plain; version=0.0.4; charset=utf-8")
                    writer.respond(status: .ok, headers: headers, body: body)
                }
            case (.GET, "/backends"):
                writer.eventLoop.makeFutureWithTask { await Self.backends(runtime) }.assumeIsolated().whenSuccess {
                    writer.respondJSON($0)
                }
            case (.POST, "/authz/report"):
                guard let leases = runtime.checkEngine?.leases else {
                    writer.respondJSON(
                        status: .notFound,
                        #"{"error":{"message":"authz: is not configured.","type":"invalid_request_error","param":null,"code":"not_found"}}"#)
                    return
                }
                switch CheckReport.parse(request.body) {
                case .success(let report):
                    let settled = leases.report(requestID: report.requestID, usage: report.usage)
                    writer.respondJSON(status: settled ? .ok : .notFound, #"{"settled":\#(settled)}"#)
                case .failure(let problem):
                    writer.respondJSON(
                        status: .badRequest,
                        #"{"error":{"message":"\#(problem.message)","type":"invalid_request_error","param":null,"code":"invalid_report"}}"#)
                }
            case (.POST, "/reload"):
                guard let reloader = runtime.reloader.withLockedValue({ $0 }) else {
                    writer.respondJSON(status: .serviceUnavailable, #"{"status":"refused","problems":["not running"]}"#)
                    return
                }
                // Queued behind any reload in progress, compiled off the data-plane loops.
                reloader.request(on: writer.eventLoop).assumeIsolated().whenSuccess { outcome in
                    switch outcome {
                    case .reloaded(let generation):
                        writer.respondJSON(#"{"status":"reloaded","generation":\#(generation)}"#)
                    case .refused(let problems):
                        let list = problems.map { JSONString.quoted($0.description) }.joined(separator: ",")
                        writer.respondJSON(status: .unprocessableEntity, #"{"status":"refused","problems":[\#(list)]}"#)
                    }
                }
            default:
                writer.respondJSON(
                    status: .notFound,
                    #"{"error":{"message":"No admin endpoint at this path.","type":"invalid_request_error","param":null,"code":"not_found"}}"#)
            }
        }
    }

    /// The Prometheus exposition: the loops' counts summed, and the process-wide counters.
    static func metrics(_ runtime: GatewayRuntime) async -> ByteBuffer {
        let counts = await runtime.server.requestMetrics()
        let reloads = runtime.reloadCounts
        var process = MetricsExposition.Process()
        process.limitSlotsInUse = runtime.services.limits.totalSlotsInUse()
        if let leases = runtime.checkEngine?.leases {
            let settled = leases.settledCounts
            process.authzLeases = MetricsExposition.AuthzLeaseStats(
                open: leases.count, reported: settled.reported, expired: settled.expired, overflowed: settled.overflowed)
        }
        if let store = runtime.services.sharedLimits.current {
            process.limitStore = MetricsExposition.LimitStoreStats(
                up: store.client.isUp, leases: store.leasesHeld,
                errors: store.counters.errorCounts.map { ($0.0.rawValue, $0.1) },
                fallbacks: store.counters.fallbackCounts.map { ($0.0.rawValue, $0.1) })
        }
        let snapshot = runtime.store.load().1
        let now = NIODeadline.now()
        process.backends = snapshot.config.backends.map {
            MetricsExposition.BackendStats($0, runtime: snapshot.runtime(of: $0), now: now)
        }
        process.reloadsSucceeded = reloads.succeeded
        process.reloadsFailed = reloads.failed
        process.jwks = runtime.providers.all.sorted { $0.name < $1.name }.map {
            ($0.name, $0.refreshesSucceeded.load(ordering: .relaxed), $0.refreshesFailed.load(ordering: .relaxed))
        }
        return MetricsExposition(counts: counts, names: runtime.series.names(), process: process).render()
    }

    /// Every backend of the current snapshot: its timeouts and pool size (`maxIdleConnections`
    /// is per event loop), its breaker's counts against its bounds (`breaker` is `open` while
    /// one is reached), and per endpoint its health (`unchecked` without a `healthCheck`),
    /// whether outlier detection has it out, the attempts in flight to it (`requests`), and the
    /// upstream connections idle in the pools and in use, summed over the event loops.
    static func backends(_ runtime: GatewayRuntime) async -> String {
        let (generation, snapshot) = runtime.store.load()
        let config = snapshot.config
        let (idle, inUse) = await runtime.server.upstreamConnections()
        let now = NIODeadline.now()
        let backends = config.backends.map { backend in
            let stats = MetricsExposition.BackendStats(backend, runtime: snapshot.runtime(of: backend), now: now)
            let endpoints = zip(backend.endpoints, stats.endpoints).map { endpoint, state in
                let health = backend.healthCheck == nil ? "unchecked" : state.healthy ? "healthy" : "unhealthy"
                return #"{"url":\#(JSONString.quoted(endpoint.description)),"health":"\#(health)","ejected":\#(state.ejected),"ejections":\#(state.ejections),"requests":\#(state.inFlight),"idleConnections":\#(idle[endpoint.poolKey] ?? 0),"inUseConnections":\#(inUse[endpoint.poolKey] ?? 0)}"#
            }.joined(separator: ",")
            let ms = { (t: TimeAmount) in t.nanoseconds / 1_000_000 }
            let b = backend.circuitBreaker
            let open = stats.requests >= b.maxRequests || stats.connections >= b.maxConnections || stats.pending >= b.maxPendingRequests
            let breaker = #"{"state":"\#(open ? "open" : "closed")","requests":\#(stats.requests),"maxRequests":\#(b.maxRequests),"pendingRequests":\#(stats.pending),"maxPendingRequests":\#(b.maxPendingRequests),"connections":\#(stats.connections),"maxConnections":\#(b.maxConnections)}"#
            return #"{"name":\#(JSONString.quoted(backend.name)),"connectTimeoutMs":\#(ms(backend.connectTimeout)),"responseTimeoutMs":\#(ms(backend.responseTimeout)),"idleTimeoutMs":\#(ms(backend.idleTimeout)),"maxIdleConnections":\#(backend.maxIdleConnections),"balance":"\#(backend.balance.rawValue)","http2":\#(backend.http2),"breaker":\#(breaker),"endpoints":[\#(endpoints)]}"#
        }.joined(separator: ",")
        return #"{"generation":\#(generation),"backends":[\#(backends)]}"#
    }
}
