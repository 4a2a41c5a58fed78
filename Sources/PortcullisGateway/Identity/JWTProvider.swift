import AsyncHTTPClient
import Atomics
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL
import PortcullisConfig

/// The keys of one JWT provider and the loop that keeps them fresh.
///
/// Keys come from a remote JWKS (fetched at start, refreshed on an interval, refetched when a
/// token names an unknown `kid`, retried with backoff), a local JWKS file (re-read on the same
/// interval), or a shared HMAC secret. A failed refresh never replaces the last good set.
/// Runs as a long-lived task under the runtime; `stop()` ends it.
final class JWTProvider: Sendable {
    let config: JWTProviderConfig
    private let logger: Logger
    private let client: HTTPClient?
    private let state: NIOLockedValueBox<State>
    /// The current key set's version, readable without the lock on the cache-hit path. Versions
    /// come from one process-wide counter, so no two key sets (of any provider, before or after
    /// a reload) ever share one: a cached verification is trusted only under the exact key set
    /// that made it.
    private let currentVersion: ManagedAtomic<UInt64>
    private static let versions = ManagedAtomic<UInt64>(0)
    private let stopped = ManagedAtomic<Bool>(false)
    /// Key-set fetches (remote JWKS or file re-reads) that succeeded and failed, for `/metrics`.
    let refreshesSucceeded = ManagedAtomic<Int>(0)
    let refreshesFailed = ManagedAtomic<Int>(0)

    private struct State {
        var keys: JWKSet?
        var version: UInt64
        var policy: JWKSRefreshPolicy
        /// Requests owed a fetch that starts after they arrived (a key published a moment ago
        /// is only in a response made after it).
        var waiters: [EventLoopPromise<Void>] = []
        /// Requests waiting on the fetch in flight (nil: none in flight).
        var inFlight: [EventLoopPromise<Void>]?
        var wakeUp = false
        /// The refresh loop has ended: nobody would complete a new waiter.
        var finished = false
    }

    init(config: JWTProviderConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        let spec = config.spec
        var initial: JWKSet?
        if let secret = spec.secret {
            let key = VerificationKey(kid: nil, algorithms: config.algorithms, material: .hmac(.init(data: Array(secret.utf8))))
            initial = JWKSet(keys: ["": key], skipped: [], fingerprint: "hmac")
        }
        let version = Self.versions.wrappingIncrementThenLoad(ordering: .relaxed)
        self.currentVersion = ManagedAtomic(version)
        self.state = NIOLockedValueBox(
            State(
                keys: initial, version: version,
                policy: JWKSRefreshPolicy(
                    refreshInterval: .nanoseconds(spec.refreshIntervalNanos),
                    minRefetchInterval: .nanoseconds(spec.minRefetchIntervalNanos))))
        if spec.jwksURI != nil {
            var configuration = HTTPClient.Configuration()
            var tls = TLSConfiguration.makeClientConfiguration()
            if let ca = spec.jwksCA { tls.trustRoots = .file(ca) }
            configuration.tlsConfiguration = tls
            configuration.redirectConfiguration = .disallow
            configuration.timeout = .init(connect: .nanoseconds(spec.fetchTimeoutNanos), read: .nanoseconds(spec.fetchTimeoutNanos))
            self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        } else {
            self.client = nil
        }
    }

    var name: String { self.config.name }

    /// The current key set (nil: never obtained).
    func currentKeys() -> JWKSet? {
        self.state.withLockedValue { $0.keys }
    }

    /// The current key set and its version, read together (what a verification is cached under).
    func currentKeysAndVersion() -> (keys: JWKSet?, version: UInt64) {
        self.state.withLockedValue { ($0.keys, $0.version) }
    }

    /// Changes whenever the usable key material changes; cached verifications from another
    /// version are not trusted.
    var version: UInt64 { self.currentVersion.load(ordering: .acquiring) }

    /// Asks for an early fetch because a token named an unknown `kid`. Returns a future that
    /// completes when that fetch has ended, and a hook that withdraws the wait (the future then
    /// fails with `CancellationError`); nil when the rate limit says no, or the keys do not
    /// come from a JWKS.
    func refetchForUnknownKid(on eventLoop: any EventLoop) -> (EventLoopFuture<Void>, @Sendable () -> Void)? {
        guard self.config.spec.secret == nil else { return nil }
        let promise: EventLoopPromise<Void>? = self.state.withLockedValue { state in
            // An ended provider fetches no more; and the waits are bounded in number (tokens
            // with made-up kids must not park requests without end).
            guard !state.finished,
                state.waiters.count + (state.inFlight?.count ?? 0) < Self.maxWaiting
            else { return nil }
            if !state.waiters.isEmpty || state.policy.allowUnknownKidFetch(at: .now()) {
                // A fetch is owed already (free to join), or the rate limit allows one.
                let promise = eventLoop.makePromise(of: Void.self)
                state.waiters.append(promise)
                return promise
            }
            guard state.inFlight != nil else { return nil }
            // No new fetch allowed yet: the one in flight is the best there is.
            let promise = eventLoop.makePromise(of: Void.self)
            state.inFlight!.append(promise)
            return promise
        }
        guard let promise else { return nil }
        let cancel: @Sendable () -> Void = { [self] in
            let removed = self.state.withLockedValue { state -> Bool in
                if let index = state.waiters.firstIndex(where: { $0.futureResult === promise.futureResult }) {
                    state.waiters.remove(at: index)
                    return true
                }
                if let index = state.inFlight?.firstIndex(where: { $0.futureResult === promise.futureResult }) {
                    state.inFlight!.remove(at: index)
                    return true
                }
                return false
            }
            if removed { promise.fail(CancellationError()) }
        }
        return (promise.futureResult, cancel)
    }

    /// The most requests that wait for a refetch at once; beyond it a token with an unknown
    /// `kid` is refused as if no refetch were allowed.
    static let maxWaiting = 256

    /// Wakes the refresh loop for a fetch now (a token arrived while no key set has been
    /// obtained yet); nobody waits for it.
    func requestEarlyFetch() {
        guard self.config.spec.secret == nil else { return }
        self.state.withLockedValue { state in
            if state.policy.allowUnknownKidFetch(at: .now()) { state.wakeUp = true }
        }
    }

    /// How long a request waits for an unknown-`kid` refetch (`jwks.refetchWait`): past it, the
    /// request is answered 503 `auth_unavailable` and the refetch goes on without it.
    var refetchWaitLimit: TimeAmount { .nanoseconds(self.config.spec.refetchWaitNanos) }

    /// Whether a key set was ever obtained (nil: never).
    var hasKeys: Bool { self.state.withLockedValue { $0.keys != nil } }

    /// Keeps the keys fresh until `stop()` or cancellation.
    func run() async {
        guard self.config.spec.secret == nil else { return }
        var next = NIODeadline.now()
        while !self.stopped.load(ordering: .relaxed) && !Task.isCancelled {
            // Wait for the next scheduled fetch or an unknown-kid request, checking every 50 ms:
            // a tick per provider costs nothing and cannot lose a wake-up.
            while NIODeadline.now() < next && !self.stopped.load(ordering: .relaxed) && !Task.isCancelled
                && self.state.withLockedValue({ $0.waiters.isEmpty && !$0.wakeUp })
            {
                try? await Task.sleep(nanoseconds: 50_000_000)
            }
            if self.stopped.load(ordering: .relaxed) || Task.isCancelled { break }
            // This fetch answers the requests already waiting; those arriving during it wait
            // for the next one, which starts as soon as this one ends.
            self.state.withLockedValue { state in
                state.wakeUp = false
                state.inFlight = state.waiters
                state.waiters.removeAll()
            }
            let success = await self.fetchOnce()
            (success ? self.refreshesSucceeded : self.refreshesFailed).wrappingIncrement(ordering: .relaxed)
            let waiters = self.state.withLockedValue { state -> [EventLoopPromise<Void>] in
                next = state.policy.fetchEnded(success: success, at: .now())
                defer { state.inFlight = nil }
                return state.inFlight ?? []
            }
            // A request waiting for a new key cannot be told the token is bad when the issuer
            // could not be asked: a failed refetch fails the wait (503 auth_unavailable).
            for waiter in waiters {
                if success { waiter.succeed() } else { waiter.fail(JWKSRefetchFailed(provider: self.name)) }
            }
        }
        let waiters = self.state.withLockedValue { state -> [EventLoopPromise<Void>] in
            defer {
                state.waiters.removeAll()
                state.inFlight = nil
                state.finished = true
            }
            return state.waiters + (state.inFlight ?? [])
        }
        for waiter in waiters { waiter.succeed() }
    }

    func stop() {
        self.stopped.store(true, ordering: .relaxed)
    }

    func shutdown() async {
        self.stop()
        try? await self.client?.shutdown()
    }

    /// A failed fetch's log message: what serves meanwhile depends on whether keys ever arrived.
    private func keepingMessage(_ what: String) -> String {
        self.hasKeys
            ? "\(what); keeping the last good key set"
            : "\(what); no key set has arrived yet, so tokens from this issuer are answered 503 auth_unavailable"
    }

    private func fetchOnce() async -> Bool {
        let spec = self.config.spec
        let bytes: [UInt8]
        do {
            if let uri = spec.jwksURI, let client = self.client {
                var request = HTTPClientRequest(url: uri)
                request.headers.add(name: "accept", value: "application/json")
                let response = try await client.execute(request, timeout: .nanoseconds(spec.fetchTimeoutNanos))
                guard response.status == .ok else {
                    self.logger.warning(
                        "\(self.keepingMessage("JWKS fetch failed"))",
                        metadata: ["provider": "\(spec.name)", "uri": "\(RedactedURL.of(uri))", "status": "\(response.status.code)"])
                    return false
                }
                let body = try await response.body.collect(upTo: spec.maxJWKSBytes)
                bytes = Array(body.readableBytesView)
            } else if let file = spec.jwksFile {
                let data = try Data(contentsOf: URL(fileURLWithPath: file))
                guard data.count <= spec.maxJWKSBytes else {
                    self.logger.warning("JWKS file too large", metadata: ["provider": "\(spec.name)"])
                    return false
                }
                bytes = Array(data)
            } else {
                return false
            }
        } catch {
            self.logger.warning(
                "\(self.keepingMessage("JWKS fetch failed"))",
                metadata: ["provider": "\(spec.name)", "source": "\(spec.jwksURI.map(RedactedURL.of) ?? spec.jwksFile ?? "")", "error": "\(error)"])
            return false
        }
        switch JWKSet.parse(bytes, allowed: self.config.algorithms) {
        case .success(let keys):
            if !keys.skipped.isEmpty {
                self.logger.warning("JWKS keys skipped", metadata: ["provider": "\(spec.name)", "skipped": "\(keys.skipped)"])
            }
            let changed = self.state.withLockedValue { state -> Bool in
                let changed = state.keys?.fingerprint != keys.fingerprint
                state.keys = keys
                if changed {
                    state.version = Self.versions.wrappingIncrementThenLoad(ordering: .relaxed)
                    self.currentVersion.store(state.version, ordering: .releasing)
                }
                return changed
            }
            if changed {
                self.logger.info("JWKS loaded", metadata: ["provider": "\(spec.name)", "keys": "\(keys.keys.keys.sorted())"])
            }
            return true
        case .failure(let problem):
            self.logger.warning(
                "\(self.keepingMessage("JWKS refused"))", metadata: ["provider": "\(spec.name)", "problem": "\(problem)"])
            return false
        }
    }
}

