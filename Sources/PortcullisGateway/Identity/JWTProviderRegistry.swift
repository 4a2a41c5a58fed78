import Logging
import NIOConcurrencyHelpers
import PortcullisConfig

/// The runtime JWT providers, reconciled by name across reloads: a provider whose key source
/// did not change is kept (with its keys and refresh schedule), a changed one is replaced, a
/// removed one is stopped. `run()` drives every provider's refresh loop.
final class JWTProviderRegistry: Sendable {
    private let providers = NIOLockedValueBox<[String: JWTProvider]>([:])
    private let started: AsyncStream<JWTProvider>
    private let startedContinuation: AsyncStream<JWTProvider>.Continuation
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
        (self.started, self.startedContinuation) = AsyncStream.makeStream(of: JWTProvider.self)
    }

    /// What a reconcile would do: providers kept, created (not yet running) and retired.
    struct Plan {
        let next: [String: JWTProvider]
        let created: [JWTProvider]
        let retired: [JWTProvider]
    }

    /// Works out the providers for `configs` without changing anything: a reload that is refused
    /// later must leave the running providers as they were (``discard(_:)``).
    func prepare(_ configs: [JWTProviderConfig]) async throws -> Plan {
        let current = self.providers.withLockedValue { $0 }
        var next: [String: JWTProvider] = [:]
        var created: [JWTProvider] = []
        do {
            for config in configs {
                if let existing = current[config.name], Self.sameKeySource(existing.config, config) {
                    next[config.name] = existing
                } else {
                    let provider = try JWTProvider(config: config, logger: self.logger)
                    next[config.name] = provider
                    created.append(provider)
                }
            }
        } catch {
            for provider in created { await provider.shutdown() }
            throw error
        }
        let retired = current.values.filter { provider in !next.values.contains { $0 === provider } }
        return Plan(next: next, created: created, retired: retired)
    }

    /// Makes `plan` current: new providers start refreshing, retired ones stop and release their
    /// HTTP clients (requests still on an old snapshot keep the key set they hold).
    func commit(_ plan: Plan) async {
        self.providers.withLockedValue { $0 = plan.next }
        for provider in plan.created { self.startedContinuation.yield(provider) }
        for provider in plan.retired { await provider.shutdown() }
    }

    /// Drops a plan that will not be committed.
    func discard(_ plan: Plan) async {
        for provider in plan.created { await provider.shutdown() }
    }

    /// Prepares and commits at once (start-up).
    func reconcile(_ configs: [JWTProviderConfig]) async throws -> [String: JWTProvider] {
        let plan = try await self.prepare(configs)
        await self.commit(plan)
        return plan.next
    }

    var all: [JWTProvider] { self.providers.withLockedValue { Array($0.values) } }

    /// Runs the refresh loop of every provider, including ones added by later reloads, until
    /// the task is cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for await provider in self.started {
                group.addTask { await provider.run() }
            }
            group.cancelAll()
        }
    }

    func shutdown() async {
        self.startedContinuation.finish()
        for provider in self.all { await provider.shutdown() }
    }

    /// Whether a running provider can be kept: same key source and same rules. Any change makes
    /// a new provider (with a new key-set version), so verifications cached under the old
    /// settings are never trusted again.
    static func sameKeySource(_ a: JWTProviderConfig, _ b: JWTProviderConfig) -> Bool {
        a.spec.issuer == b.spec.issuer && a.spec.audiences == b.spec.audiences && a.spec.claims == b.spec.claims
            && a.spec.requireExpiry == b.spec.requireExpiry && a.spec.clockSkewNanos == b.spec.clockSkewNanos
            && a.spec.maxTokenBytes == b.spec.maxTokenBytes
            && a.spec.jwksURI == b.spec.jwksURI && a.spec.jwksFile == b.spec.jwksFile && a.spec.jwksCA == b.spec.jwksCA
            && a.spec.secret == b.spec.secret && a.algorithms == b.algorithms
            && a.spec.refreshIntervalNanos == b.spec.refreshIntervalNanos
            && a.spec.minRefetchIntervalNanos == b.spec.minRefetchIntervalNanos
            && a.spec.fetchTimeoutNanos == b.spec.fetchTimeoutNanos && a.spec.maxJWKSBytes == b.spec.maxJWKSBytes
            && a.spec.refetchWaitNanos == b.spec.refetchWaitNanos
    }
}
