import Foundation
import PortcullisConfig
import PortcullisCore
import Testing

/// What the gateway adds toward a backend, as the config states it: the backend's credential
/// (from the environment or a file, never shown), header edits merged per route and backend,
/// and the catch-all route; and the mistakes refused with their path.
@Suite struct UpstreamConfigTests {
    static let secret = "sk-test-abcdefghijklmnop"

    func load(_ yaml: String, environment: [String: String] = ["KEY": secret]) throws(ConfigError) -> ConfigSnapshot {
        try ConfigLoader(environment: environment).load(yaml: "listeners: [{ address: 127.0.0.1:0 }]\n" + yaml)
    }

    func problems(_ yaml: String, environment: [String: String] = ["KEY": secret]) -> [String] {
        do {
            _ = try self.load(yaml, environment: environment)
            return []
        } catch {
            return error.diagnostics.map { "\($0.path): \($0.message)" }
        }
    }

    @Test func aCredentialComesFromTheEnvironmentOrAFileAndGoesLast() throws {
        try withTemporaryFile(contents: "file-secret-0123456789\n") { path in
            let snapshot = try self.load(
                """
                backends:
                  a:
                    endpoints: [http://127.0.0.1:9]
                    credential: { prefix: "Bearer ", env: KEY }
                    headers: { set: { anthropic-version: "2023-06-01" }, add: { x-gateway: portcullis }, remove: [X-Debug] }
                  b:
                    endpoints: [http://127.0.0.1:9]
                    credential: { header: Api-Key, file: \(path) }
                routes:
                  - name: r
                    match: { model: m }
                    backends: [a, b]
                    headers: { set: { x-gateway: route }, remove: [anthropic-version] }
                """)
            let route = try #require(snapshot.routes.first)
            let a = route.edits(toward: route.backends[0])
            // The route's set and remove override the backend's edits of those names.
            // The credential goes last, and asks for answers the gateway can scrub (uncompressed).
            #expect(
                a.fields.map { "\($0.name)=\($0.value)" }
                    == ["x-gateway=route", "authorization=Bearer \(Self.secret)", "accept-encoding=identity"])
            #expect(Set(a.dropped) == ["anthropic-version", "x-debug", "x-gateway", "authorization", "accept-encoding"])
            let b = route.edits(toward: route.backends[1])
            #expect(b.fields.map { "\($0.name)=\($0.value)" }.contains("api-key=file-secret-0123456789"))
            #expect(route.backends[1].credential?.secret == Array("file-secret-0123456789".utf8))
        }
    }

    @Test func credentialMistakesNeverQuoteTheSecret() {
        let found = problems(
            """
            backends:
              a: { endpoints: [http://127.0.0.1:9], credential: { env: MISSING } }
              b: { endpoints: [http://127.0.0.1:9], credential: { env: SHORT } }
              c: { endpoints: [http://127.0.0.1:9], credential: { env: KEY, file: /nope } }
              d: { endpoints: [http://127.0.0.1:9], credential: { file: /nonexistent/secret } }
              e: { endpoints: [http://127.0.0.1:9], credential: { env: SPACED } }
              f: { endpoints: [http://127.0.0.1:9], credential: { header: x-tenant-id, env: KEY } }
              g:
                endpoints: [http://127.0.0.1:9]
                credential: { env: KEY }
                headers: { remove: [authorization] }
            routes:
              - { name: r, match: { model: m }, backend: g, headers: { set: { authorization: x } } }
            """,
            environment: ["KEY": Self.secret, "SHORT": "abc", "SPACED": "has a space 123"])
        #expect(found.contains("backends.a.credential.env: environment variable 'MISSING' is not set"))
        #expect(found.contains("backends.b.credential: the secret from env:SHORT is shorter than 8 bytes"))
        #expect(found.contains("backends.c.credential: a credential comes from 'env' or 'file', not both"))
        #expect(found.contains("backends.d.credential.file: cannot read '/nonexistent/secret'"))
        #expect(found.contains { $0.hasPrefix("backends.e.credential: the secret from env:SPACED may only hold letters, digits") })
        #expect(found.contains { $0.hasPrefix("backends.f.credential.header: 'x-tenant-id' is set by the gateway itself") })
        #expect(found.contains("backends.g.headers: header 'authorization' carries the backend's credential and cannot be edited"))
        #expect(found.contains { $0.contains("header 'authorization' carries backend 'g''s credential and cannot be edited by a route") })
        #expect(!found.joined().contains(Self.secret) && !found.joined().contains("has a space"))
    }

    @Test func editsCannotTouchNamesTheGatewayOwns() {
        let found = problems(
            """
            backends:
              a:
                endpoints: [http://127.0.0.1:9]
                headers:
                  set: { x-tenant-id: evil, host: other, "bad name": x, x_debug: "1", x-ok: "line\\nbreak" }
                  add: { content-length: "5", X-Forwarded-For: 1.2.3.4, x-portcullis-authz-failure-mode-allowed: "true" }
                  remove: [connection, x-tenant-plan, x-fine]
            routes:
              - { name: r, match: { model: m }, backend: a, headers: { set: { x-a: "1" }, add: { x-a: "2" } } }
            """)
        for name in ["x-tenant-id", "host", "content-length", "x-forwarded-for", "x-portcullis-authz-failure-mode-allowed"] {
            #expect(found.contains { $0.contains("'\(name)' is set by the gateway itself") }, "\(name)")
        }
        #expect(found.contains { $0.contains("'bad name' is not a valid header name") })
        #expect(found.contains { $0.contains("'x_debug' contains '_'") })
        #expect(found.contains("backends.a.headers.set.x-ok: must be printable ASCII without line breaks or edge spaces"))
        #expect(found.contains { $0.hasPrefix("backends.a.headers.remove: 'connection'") })
        #expect(found.contains { $0.hasPrefix("backends.a.headers.remove: 'x-tenant-plan'") })
        #expect(found.contains("routes[0].headers: header 'x-a' is edited twice (set, add and remove are exclusive)"))
        #expect(!found.contains { $0.contains("x-fine") })
    }

    @Test func oneCatchAllRouteMatchingNothingElse() throws {
        let found = problems(
            """
            backends: { a: { endpoints: [http://127.0.0.1:9] } }
            routes:
              - { name: one, match: { catchAll: true }, backend: a }
              - { name: two, match: { catchAll: true }, backend: a }
              - { name: three, match: { catchAll: true, model: m }, backend: a }
              - { name: four, match: { catchAll: false }, backend: a }
            """)
        #expect(found.contains("routes[1].match.catchAll: route 'one' is already the catch-all"))
        #expect(found.contains("routes[2].match: a catch-all route matches everything: it names no model or pathPrefix"))
        #expect(found.contains("routes[3].match: a route matches on model, models, pathPrefix or catchAll: true"))
        let snapshot = try self.load(
            """
            backends: { a: { endpoints: [http://127.0.0.1:9] }, mesh: { endpoints: [http://127.0.0.1:8] } }
            routes:
              - { name: chat, match: { model: m }, backend: a }
              - { name: rest, match: { catchAll: true }, backend: mesh }
            """)
        #expect(snapshot.router.catchAll?.name == "rest")
        #expect(snapshot.router.route(model: "other") == nil)  // the catch-all is applied by its callers
    }
}

extension UpstreamConfigTests {
    @Test func resilienceDefaultsFollowTheReferencePlatform() throws {
        let snapshot = try self.load(
            """
            backends:
              plain: { endpoints: [http://127.0.0.1:9] }
              tuned:
                endpoints: [http://127.0.0.1:9]
                circuitBreaker: { maxConnections: 7, maxPendingRequests: 3, maxRequests: 9 }
                retries: { attempts: 1, onConnectFailure: false, statuses: [503], backoff: 10ms, maxBackoff: 40ms, budget: 50%, minRetriesInFlight: 1 }
                outlierDetection: { consecutiveFailures: 2, baseEjection: 1s, maxEjection: 10s, maxEjectedPercent: 100 }
                healthCheck: { path: /ready, interval: 2s, timeout: 500ms, healthyThreshold: 1, unhealthyThreshold: 4 }
              quiet: { endpoints: [http://127.0.0.1:9], retries: off, outlierDetection: off }
            routes:
              - { name: r, match: { model: m }, backend: plain, fallbacks: [tuned, quiet], connectTimeout: 1s, responseTimeout: 2s, idleTimeout: 3s }
            """)
        let plain = snapshot.backends[0]
        #expect(plain.connectTimeout == .seconds(10) && plain.responseTimeout == .seconds(60) && plain.idleTimeout == .seconds(300))
        #expect(plain.circuitBreaker == CircuitBreakerSpec())
        #expect(plain.circuitBreaker.maxConnections == 100 && plain.circuitBreaker.maxPendingRequests == 50)
        #expect(plain.circuitBreaker.maxRequests == 200)
        #expect(plain.retries.attempts == 3 && plain.retries.statuses == [502, 503, 504] && plain.retries.onConnectFailure)
        #expect(plain.outlierDetection.enabled && plain.outlierDetection.consecutiveFailures == 5)
        #expect(plain.healthCheck == nil)
        let tuned = snapshot.backends[1]
        #expect(tuned.circuitBreaker.maxConnections == 7 && tuned.circuitBreaker.maxPendingRequests == 3)
        #expect(tuned.retries.budgetPercent == 50 && tuned.retries.backoffNanos == 10_000_000 && !tuned.retries.onConnectFailure)
        #expect(tuned.outlierDetection.maxEjectedPercent == 100 && tuned.outlierDetection.baseEjectionNanos == 1_000_000_000)
        #expect(tuned.healthCheck?.path == "/ready" && tuned.healthCheck?.unhealthyThreshold == 4)
        #expect(snapshot.backends[2].retries.attempts == 0 && !snapshot.backends[2].outlierDetection.enabled)
        let route = try #require(snapshot.routes.first)
        #expect(route.fallbacks.map(\.name) == ["tuned", "quiet"])
        #expect(route.edits.count == 3)
        #expect(route.connectTimeout == .seconds(1) && route.responseTimeout == .seconds(2) && route.idleTimeout == .seconds(3))
    }

    @Test func resilienceMistakesAreNamed() {
        let found = problems(
            """
            backends:
              a:
                endpoints: [http://127.0.0.1:9]
                retries: { budget: 150%, maxBackoff: 1ms, statuses: [404] }
                outlierDetection: { maxEjectedPercent: half }
                healthCheck: { path: health, interval: 1s, timeout: 2s }
                circuitBreaker: { maxRequests: 0 }
            routes:
              - { name: r, match: { model: m }, backend: a, fallbacks: [a, ghost] }
            """)
        #expect(found.contains("backends.a.retries.budget: expected a percentage from 0 to 100 such as 20%, got '150%'"))
        #expect(found.contains("backends.a.retries.maxBackoff: must be at least backoff"))
        #expect(found.contains { $0.hasPrefix("backends.a.retries.statuses[0]: must be between 500 and 599") })
        #expect(found.contains { $0.hasPrefix("backends.a.outlierDetection.maxEjectedPercent: expected a percentage") })
        #expect(found.contains("backends.a.healthCheck.path: expected an absolute path such as /health"))
        #expect(found.contains("backends.a.healthCheck.timeout: must not be longer than the interval"))
        #expect(found.contains { $0.hasPrefix("backends.a.circuitBreaker.maxRequests: must be between 1") })
        #expect(found.contains("routes[0].fallbacks: backend 'a' is already one of the route's backends"))
        #expect(found.contains("routes[0].fallbacks: unknown backend 'ghost'"))
    }

    @Test func aWeightedSplitDrawsByWeightAmongTheBackendsATenantMayUse() throws {
        let snapshot = try self.load(
            """
            backends:
              stable: { endpoints: [http://127.0.0.1:9], region: eu, balance: leastRequest }
              canary: { endpoints: [http://127.0.0.1:9], region: us }
              drained: { endpoints: [http://127.0.0.1:9], region: eu }
              spare: { endpoints: [http://127.0.0.1:9] }
            routes:
              - name: r
                match: { model: m }
                backends: [{ backend: stable, weight: 90 }, { backend: canary, weight: 10 }, { backend: drained, weight: 0 }]
                fallbacks: [spare]
              - { name: plain, match: { model: p }, backends: [spare, stable] }
            """)
        let route = try #require(snapshot.routes.first)
        #expect(route.weights == [90, 10, 0])
        #expect(snapshot.backends[0].balance == .leastRequest && snapshot.backends[1].balance == .roundRobin)
        // Every roll lands in one share: 0..<90 stable, 90..<100 canary, and never the drained one.
        var drawn: [String: Int] = [:]
        for roll in UInt64(0)..<1000 { drawn[route.backend(roll: roll, in: nil)!.name, default: 0] += 1 }
        #expect(drawn == ["stable": 900, "canary": 100])
        // A tenant limited to regions draws only among the backends there.
        #expect(route.backend(roll: 95, in: ["eu"])?.name == "stable")
        #expect(route.backend(roll: 5, in: ["us"])?.name == "canary")
        #expect(route.backend(roll: 5, in: ["ap"]) == nil && route.backend(in: ["ap"]) == nil)
        #expect(route.backend(in: ["eu"])?.name == "stable")
        // When the drawn one cannot serve: the split's others of weight above 0, then the fallbacks.
        #expect(route.alternatives(to: route.backends[1]).map(\.name) == ["stable", "spare"])
        // From a fallback: only the fallbacks after it (never itself again).
        let spare = try #require(route.fallbacks.first)
        #expect(route.alternatives(to: spare).isEmpty)
        let plain = try #require(snapshot.routes.last)
        #expect(plain.weights == nil && plain.backend(roll: 7, in: nil)?.name == "spare")
        #expect(plain.alternatives(to: plain.backends[0]).map(\.name) == ["stable"])
    }

    @Test func splitMistakesAreNamed() {
        let found = problems(
            """
            backends:
              a: { endpoints: [http://127.0.0.1:9], balance: fastest }
              b: { endpoints: [http://127.0.0.1:9] }
            routes:
              - { name: mixed, match: { model: m }, backends: [a, { backend: b, weight: 5 }] }
              - { name: zero, match: { model: z }, backends: [{ backend: a, weight: 0 }, { backend: b, weight: 0 }] }
              - { name: bad, match: { model: x }, backends: [{ backend: a, weight: -1 }, { backend: b }, { name: b, weight: 1 }] }
            """)
        #expect(found.contains { $0.hasPrefix("backends.a.balance: expected one of: roundRobin, leastRequest") })
        #expect(found.contains("routes[0].backends: a weighted split gives every backend a weight ({ backend: NAME, weight: N })"))
        #expect(found.contains("routes[1].backends: the weights of a split add up to 0: no backend would get traffic"))
        #expect(found.contains { $0.hasPrefix("routes[2].backends[0].weight: must be between 0") })
        #expect(found.contains { $0.hasPrefix("routes[2].backends[1]") && $0.contains("weight") })
        #expect(found.contains { $0.hasPrefix("routes[2].backends[2]") && $0.contains("'name'") })
    }
}

/// A file holding `contents`, removed after `body`.
func withTemporaryFile<T>(contents: String, _ body: (String) throws -> T) throws -> T {
    let path = NSTemporaryDirectory() + "portcullis-config-" + UUID().uuidString
    try contents.write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}
