import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import PortcullisConfig
import ServiceLifecycle

/// Active health checks: every `interval`, each endpoint of a backend with `healthCheck:` gets
/// `GET path` over the shared HTTP client; its ``EndpointState`` judges the run of results
/// against the thresholds. It reads the current snapshot each round, so a reload's backends
/// are checked from the next round on, and an endpoint keeps its verdict across reloads.
/// A verdict that changes is logged once; individual checks are not.
struct HealthCheckService: Service {
    let store: SnapshotStore
    let client: HTTPClient
    let logger: Logger

    func run() async {
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
    }

    /// What finished in the task group: a check (its endpoint's key) or the wait for the next one.
    private enum Finished: Sendable {
        case check(String)
        case wakeUp
    }

    /// One long-lived task group: a check runs on its own, so a slow endpoint (up to its
    /// timeout) never holds back the others' intervals, and an endpoint has at most one check
    /// in flight.
    private func loop() async {
        await withTaskGroup(of: Finished.self) { group in
            var due: [String: NIODeadline] = [:]
            var inFlight: Set<String> = []
            var sleeping = false
            while !Task.isCancelled {
                let snapshot = self.store.current
                let now = NIODeadline.now()
                var next = now + .seconds(1)
                for backend in snapshot.config.backends {
                    guard let spec = backend.healthCheck else { continue }
                    let runtime = snapshot.runtime(of: backend)
                    for (index, endpoint) in backend.endpoints.enumerated() {
                        let key = backend.name + "\u{0}" + endpoint.key
                        var at = due[key] ?? now
                        if at <= now && !inFlight.contains(key) {
                            at = now + .nanoseconds(spec.intervalNanos)
                            inFlight.insert(key)
                            let state = runtime.endpoints[index]
                            group.addTask {
                                let passed = await self.check(endpoint, backend: backend, spec: spec)
                                if let verdict = state.recordCheck(passed: passed, spec) {
                                    self.logger.warning(
                                        verdict ? "endpoint passes its health checks again" : "endpoint fails its health checks",
                                        metadata: ["backend": "\(backend.name)", "endpoint": "\(endpoint.description)"])
                                }
                                return .check(key)
                            }
                        }
                        due[key] = at
                        next = min(next, at)
                    }
                }
                if !sleeping {
                    sleeping = true
                    let wait = max(next - NIODeadline.now(), .milliseconds(1))
                    group.addTask {
                        try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds))
                        return .wakeUp
                    }
                }
                switch await group.next() {
                case .check(let key): inFlight.remove(key)
                case .wakeUp: sleeping = false
                case nil: return
                }
            }
            group.cancelAll()
        }
    }

    /// One check: a 2xx within the timeout passes; anything else (another status, a refused
    /// connect, a timeout, a TLS failure) fails.
    private func check(_ endpoint: UpstreamEndpoint, backend: Backend, spec: HealthCheckSpec) async -> Bool {
        var request = HTTPClientRequest(url: endpoint.key + endpoint.basePath + spec.path)
        request.method = .GET
        request.headers.add(name: "user-agent", value: "portcullis-health-check")
        // The backend's own credential goes along: a health path behind it would fail without.
        if let credential = backend.credential { request.headers.add(name: credential.header, value: credential.value) }
        if endpoint.scheme == .https {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            if let ca = backend.caFile { tls.trustRoots = .file(ca) }
            if let identity = backend.clientCertificate,
                let chain = try? NIOSSLCertificate.fromPEMFile(identity.certificate),
                let key = try? NIOSSLPrivateKey(file: identity.key, format: .pem)
            {
                tls.certificateChain = chain.map { .certificate($0) }
                tls.privateKey = .privateKey(key)
            }
            request.tlsConfiguration = tls
        }
        do {
            // One deadline for the whole check, the body included.
            let deadline = NIODeadline.now() + .nanoseconds(spec.timeoutNanos)
            let response = try await self.client.execute(request, deadline: deadline)
            // The body is read and dropped (bounded), so the connection can be reused.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return (200..<300).contains(Int(response.status.code))
        } catch {
            return false
        }
    }
}
