import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import PortcullisConfig
import PortcullisCore
import Testing

@testable import PortcullisGateway

/// The limit stage with a Redis store that cannot be reached (nothing listens on its port):
/// each limit falls back as configured, at once, without waiting; no Redis is needed, so this
/// runs without IO beyond a refused connect. (Against a real redis-server:
/// Tests/python/test_redis_limits.py.)
@Suite struct SharedLimitFallbackTests {
    static let yaml = """
        authentication:
          apiKeys:
            - { name: a-key, tenant: local, sha256: \(AuthFixture.sha("pc-local-0123456789abcdef")) }
            - { name: b-key, tenant: open, sha256: \(AuthFixture.sha("pc-open-0123456789abcdef")) }
            - { name: c-key, tenant: closed, sha256: \(AuthFixture.sha("pc-closed-0123456789abcdef")) }
        limitStore:
          redis: { address: "127.0.0.1:1", replicas: 3, timeout: 20ms }
        tenants:
          local: { limits: { requestsPerMinute: 7, concurrency: 4 } }
          open: { limits: { requestsPerMinute: 1, onStoreFailure: open } }
          closed: { limits: { requestsPerMinute: 100, onStoreFailure: closed } }
        routes:
          - { name: chat, match: { model: demo-chat }, backend: b }
        """

    /// Runs `tenant`'s request through the pipeline, waiting out a suspension (it fails at
    /// once: no connection is up), and returns the refusal, if any, with the exchange (open).
    static func run(_ snapshot: GatewaySnapshot, _ loop: LoopContext, _ tenant: String) throws -> (GatewayError?, Exchange) {
        let exchange = try ExchangeFixture.exchange(
            snapshot, headers: [("authorization", "Bearer pc-\(tenant)-0123456789abcdef")],
            body: #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}]}"#, loop: loop)
        var stages = snapshot.pipeline.stages(.body)
        var result = StageRunner.run(snapshot.pipeline.stages(.head), from: 0, on: exchange)
        if case .passed = result { result = StageRunner.run(stages, from: 0, on: exchange) }
        while case .suspended(let index, let suspension) = result {
            var outcome: SuspensionResult?
            suspension.future.whenComplete { outcome = try? $0.get() }
            guard let outcome else {
                Issue.record("the wait did not end at once")
                return (nil, exchange)
            }
            if case .refuse(let error) = outcome { return (error, exchange) }
            result = StageRunner.run(stages, from: index + 1, on: exchange)
            stages = snapshot.pipeline.stages(.body)
        }
        if case .refused(let error) = result { return (error, exchange) }
        return (nil, exchange)
    }

    @Test func eachLimitFallsBackAsConfigured() throws {
        let config = try ExchangeFixture.config(ExchangeFixture.listeners + "\n" + ExchangeFixture.base + "\n" + Self.yaml)
        let redis = try #require(config.source.limitStore.redis)
        let store = SharedLimitStore(spec: redis, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        defer { Task { await store.shutdown() } }
        let snapshot = GatewaySnapshot.build(config, sharedLimits: store)
        let loop = try ExchangeFixture.loop(snapshot, eventLoop: EmbeddedEventLoop())

        // local: 7 a minute over 3 replicas is 3 here; concurrency 4 over 3 is 2.
        var open: [Exchange] = []
        for _ in 0..<2 {
            let (error, exchange) = try Self.run(snapshot, loop, "local")
            #expect(error == nil)
            open.append(exchange)
        }
        let (slotRefusal, third) = try Self.run(snapshot, loop, "local")
        guard case .limitExceeded(let slot)? = slotRefusal else {
            Issue.record("the local share of the concurrency cap is 2: \(String(describing: slotRefusal))")
            return
        }
        #expect(slot.name == .concurrency)
        third.settle(.refused(.concurrencyLimited))
        for exchange in open { exchange.settle(.completed) }
        let (lastFit, fits) = try Self.run(snapshot, loop, "local")
        #expect(lastFit == nil, "the third request of the rate's share of 3 (one was refused for its slot, handing its rate back)")
        fits.settle(.completed)
        let (rateRefusal, refused) = try Self.run(snapshot, loop, "local")
        guard case .limitExceeded(let rate)? = rateRefusal else {
            Issue.record("the local share of the rate is 3: \(String(describing: rateRefusal))")
            return
        }
        #expect(rate.name == .requestsPerMinute)
        refused.settle(.refused(.rateLimited))

        // open: admitted uncounted, however many.
        for _ in 0..<3 {
            let (error, exchange) = try Self.run(snapshot, loop, "open")
            #expect(error == nil)
            exchange.settle(.completed)
        }
        // closed: 503, before any upstream work.
        let (closedError, closed) = try Self.run(snapshot, loop, "closed")
        #expect(closedError?.status == 503 && closedError?.code == "dependency_failed")
        closed.settle(.refused(.dependencyFailed))
        let fallbacks = Dictionary(uniqueKeysWithValues: store.counters.fallbackCounts.map { ($0.0, $0.1) })
        #expect(fallbacks[.local]! >= 8 && fallbacks[.open] == 3 && fallbacks[.closed] == 1)
        #expect(store.counters.errorCounts.first { $0.0 == .unavailable }!.1 >= 9)
    }
}
