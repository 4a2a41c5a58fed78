import Atomics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig
import PortcullisCore
import PortcullisRedis

/// The Redis limit store: counters shared by every replica that names the same server.
///
/// A request's limits are checked in one round trip (``RedisLimitScripts/take``, all or
/// nothing, on Redis's clock), and settled in one more when it ends (``LimitTicket``).
/// Concurrency slots are leases scored by expiry: this replica renews the ones it holds every
/// third of the lease TTL (``renewLeases()``, run by ``LimitStoreService``), so a replica that
/// dies frees its slots within one TTL.
///
/// When Redis cannot answer within the store `timeout` (down, or stalled), the stage falls
/// back per limit (``StoreFailureMode``). The store's health change is logged once each way,
/// not per request.
///
/// Decisions recorded here: a settlement or a release that cannot reach Redis is dropped (the
/// quota stays charged its reservation, conservative; the lease expires within its TTL). A
/// check whose answer comes after the timeout was counted by Redis as well as by the fallback
/// (an overcount, never an undercount), and a lease it took expires, unrenewed, within the TTL.
final class SharedLimitStore: Sendable {
    let spec: RedisStoreSpec
    let client: RedisClient
    let logger: Logger
    /// Names this process's leases (`<replica>:<n>`): random per process, so two replicas
    /// never share one.
    let replica: String
    private let leaseCounter = ManagedAtomic<UInt64>(0)
    /// Leases held now (member → key), renewed until released.
    private let leases = NIOLockedValueBox<[String: String]>([:])
    /// Leases whose fate is unknown or whose release failed (lease → key): a check that timed
    /// out or lost its connection may still have run in Redis and taken a slot, and a release
    /// may not have arrived. ``releaseOrphans(on:)`` releases them again (ZREM is idempotent)
    /// until Redis acknowledges, so they never hold a slot for a whole TTL after Redis returns.
    private let orphans = NIOLockedValueBox<[String: Orphan]>([:])
    /// Leases of a renewal that got no answer (lease → when to stop watching): Redis may still
    /// run it late and re-add a lease released meanwhile, so for one TTL every one of them no
    /// longer held is released again.
    private let suspects = NIOLockedValueBox<[String: (key: String, until: NIODeadline)]>([:])
    /// Requests that may still settle here (a check sent, or a ticket not yet settled): a
    /// retired store is closed only when none are left.
    private let pending = ManagedAtomic<Int>(0)

    struct Orphan {
        let key: String
        /// An orphan older than two TTLs is dropped: its lease has expired in Redis by then.
        let since: NIODeadline
    }
    let counters = SharedLimitStoreCounters()
    /// Set when the store is closed on purpose (the stop, a retired config): no outage to log.
    private let closing: ManagedAtomic<Bool>

    init(spec: RedisStoreSpec, group: any EventLoopGroup, logger: Logger) {
        self.spec = spec
        self.logger = logger
        self.replica = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        var configuration = RedisClientConfiguration(host: spec.host, port: spec.port)
        configuration.connections = spec.connections
        configuration.username = spec.username
        configuration.password = spec.password
        configuration.database = spec.database
        configuration.scripts = RedisLimitScripts.all
        let address = "\(spec.host):\(spec.port)"
        let mode = spec.onFailure.rawValue
        let closing = ManagedAtomic(false)
        self.closing = closing
        self.client = RedisClient(configuration: configuration, group: group) { up, cause in
            if closing.load(ordering: .relaxed) { return }
            if up {
                logger.notice("limit store reachable: limits are shared", metadata: ["redis": "\(address)"])
            } else {
                logger.error(
                    "limit store unreachable: limits fall back until it returns",
                    metadata: ["redis": "\(address)", "onFailure": "\(mode)", "cause": "\(cause ?? "unknown")"])
            }
        }
        self.client.start()
    }

    var timeout: TimeAmount { .nanoseconds(self.spec.timeoutNanos) }

    /// The Redis key of a counter.
    func key(_ rule: LimitRule, subject: String) -> String {
        self.spec.keyPrefix + ":" + rule.key + ":" + subject
    }

    /// What ``take(_:on:)`` came to: one verdict per limit, and the lease taken for each slot.
    struct Answer {
        let verdicts: [RedisLimitScripts.Verdict]
        let leases: [String?]
        let keys: [String]
    }

    /// Checks and takes every limit of one request, in one round trip.
    func take(_ planned: [PlannedLimit], affinity: Int, on loop: any EventLoop) -> EventLoopFuture<Answer> {
        var keys: [String] = []
        var arguments: [String] = [String(planned.count)]
        var leases: [String?] = []
        keys.reserveCapacity(planned.count)
        arguments.reserveCapacity(1 + planned.count * 5)
        for limit in planned {
            keys.append(self.key(limit.rule, subject: limit.key.subject))
            arguments.append(limit.rule.kind.isSlot ? "c" : "g")
            arguments.append(limit.rule.shadow ? "0" : "1")
            switch limit.rule.kind {
            case .rate(let gcra), .quota(let gcra):
                arguments.append(Self.micros(gcra.interval))
                arguments.append(Self.micros(gcra.tolerance))
                arguments.append(String(limit.cost))
                leases.append(nil)
            case .concurrency(let max):
                let lease = self.replica + ":" + String(self.leaseCounter.loadThenWrappingIncrement(ordering: .relaxed))
                arguments.append(String(max))
                arguments.append(String(self.spec.leaseTTLNanos / 1000))
                arguments.append(lease)
                leases.append(lease)
            }
        }
        let count = planned.count
        let (sentKeys, sentLeases) = (keys, leases)
        return self.client.evaluate(
            script: RedisLimitScripts.take, keys: sentKeys, arguments: arguments, on: loop, timeout: self.timeout,
            affinity: affinity)
            .flatMapThrowing { value in
                guard let (_, verdicts) = RedisLimitScripts.verdicts(value, count: count) else {
                    throw SharedLimitStoreError.unexpectedAnswer
                }
                return Answer(verdicts: verdicts, leases: sentLeases, keys: sentKeys)
            }
            .flatMapErrorThrowing { error in
                // Sent, but no answer: the script may have run (or may still run, when a paused
                // Redis resumes), so its leases are released later, whatever happened.
                if let error = error as? RedisError, error != .unavailable {
                    self.orphan(zip(sentKeys, sentLeases).compactMap { key, lease in lease.map { ($0, key) } })
                }
                throw error
            }
    }

    /// A connection per tenant: a request's release reaches Redis before the same tenant's next
    /// check from the same caller, as it does in memory.
    @inline(__always)
    static func affinity(tenant: String?) -> Int {
        Int(truncatingIfNeeded: LimitKey(rule: 0, subject: tenant ?? "").shard >> 8)
    }

    /// A lease now held by a request (renewed until ``finish(_:on:)`` releases it).
    func hold(lease: String, key: String) {
        self.leases.withLockedValue { $0[lease] = key }
    }

    /// One counter to settle when a request ends.
    enum Settlement {
        /// Hand back `units` (negative: charge more) of a rate or quota.
        case adjust(key: String, gcra: GCRA, units: Int)
        case release(key: String, lease: String)
    }

    /// Settles a finished request in one round trip; not awaited by anything (a failure is
    /// counted: the quota keeps its reservation and the lease expires within its TTL).
    func finish(_ settlements: [Settlement], affinity: Int? = nil, on loop: any EventLoop) {
        guard !settlements.isEmpty else { return }
        var keys: [String] = []
        var arguments: [String] = []
        for settlement in settlements {
            switch settlement {
            case .adjust(let key, let gcra, let units):
                keys.append(key)
                arguments += ["g", Self.micros(gcra.interval), String(units), Self.micros(gcra.tolerance)]
            case .release(let key, let lease):
                keys.append(key)
                arguments += ["c", lease, "", ""]
                self.leases.withLockedValue { _ = $0.removeValue(forKey: lease) }
            }
        }
        let counters = self.counters
        let releases: [(String, String)] = settlements.compactMap {
            if case .release(let key, let lease) = $0 { return (lease, key) }
            return nil
        }
        self.client.evaluate(
            script: RedisLimitScripts.finish, keys: keys, arguments: arguments, on: loop, timeout: .seconds(1), affinity: affinity
        )
            .whenComplete { result in
                switch result {
                case .success(.error):
                    counters.count(.reply)
                    self.orphan(releases)
                case .success: break
                case .failure(let error):
                    counters.count(error)
                    // The quota keeps its reservation (conservative); the slots are released again later.
                    self.orphan(releases)
                }
            }
    }

    func orphan(_ leases: [(lease: String, key: String)]) {
        guard !leases.isEmpty else { return }
        let now = NIODeadline.now()
        self.orphans.withLockedValue { orphans in
            for (lease, key) in leases { orphans[lease] = Orphan(key: key, since: now) }
        }
    }

    /// A request may settle here (counted until ``settled()``).
    func opened() { self.pending.wrappingIncrement(ordering: .relaxed) }
    func settled() { self.pending.wrappingDecrement(ordering: .relaxed) }

    /// Nothing held, owed or pending: a retired store may close.
    var isIdle: Bool {
        self.leasesHeld == 0 && self.orphanCount == 0 && self.pending.load(ordering: .relaxed) == 0
            && self.suspects.withLockedValue { $0.isEmpty }
    }

    var orphanCount: Int { self.orphans.withLockedValue { $0.count } }

    /// Releases the orphaned leases (at most 512 per call); those Redis does not acknowledge stay for the next round.
    func releaseOrphans(on loop: any EventLoop) async {
        let now = NIODeadline.now()
        let tooOld = now - .nanoseconds(2 * self.spec.leaseTTLNanos)
        // Suspects of a late renewal: those released meanwhile are released again, for one TTL.
        let released = self.suspects.withLockedValue { suspects -> [(String, String)] in
            suspects = suspects.filter { $0.value.until > now }
            return self.leases.withLockedValue { held in suspects.filter { held[$0.key] == nil }.map { ($0.key, $0.value.key) } }
        }
        self.orphan(released)
        let batch = self.orphans.withLockedValue { orphans -> [(String, Orphan)] in
            orphans = orphans.filter { $0.value.since > tooOld }
            return Array(orphans.prefix(512))
        }
        guard !batch.isEmpty, self.client.isUp else { return }
        var arguments: [String] = []
        arguments.reserveCapacity(batch.count * 4)
        for (lease, _) in batch { arguments += ["c", lease, "", ""] }
        do {
            let answer = try await self.client.evaluate(
                script: RedisLimitScripts.finish, keys: batch.map(\.1.key), arguments: arguments, on: loop, timeout: .seconds(1)
            ).get()
            if case .error = answer { return }
            self.orphans.withLockedValue { orphans in
                for (lease, _) in batch { orphans.removeValue(forKey: lease) }
            }
        } catch {
            self.counters.count(error)
        }
    }

    /// Renews every lease this replica holds (in batches of at most 512).
    func renewLeases(on loop: any EventLoop) async {
        let held = self.leases.withLockedValue { Array($0) }
        guard !held.isEmpty else { return }
        var start = 0
        while start < held.count {
            let batch = held[start..<min(start + 512, held.count)]
            start += 512
            let ttl = String(self.spec.leaseTTLNanos / 1000)
            let answer = self.client.evaluate(
                script: RedisLimitScripts.renew, keys: batch.map(\.value), arguments: [ttl] + batch.map(\.key), on: loop,
                timeout: .seconds(1))
            do {
                if case .error = try await answer.get() { self.counters.count(.reply) }
            } catch {
                self.counters.count(error)
                // No answer: Redis may still run this renewal later; watch its leases for a TTL.
                let until = NIODeadline.now() + .nanoseconds(self.spec.leaseTTLNanos)
                self.suspects.withLockedValue { suspects in
                    for (lease, key) in batch { suspects[lease] = (key, until) }
                }
            }
            // A renewal re-adds its leases (a Redis that restarted empty gets them back), so one
            // released while the renewal was on its way is released again.
            let released = self.leases.withLockedValue { held in batch.filter { held[$0.key] == nil } }
            self.orphan(released.map { ($0.key, $0.value) })
        }
    }

    /// Leases held now.
    var leasesHeld: Int { self.leases.withLockedValue { $0.count } }

    func shutdown() async {
        self.closing.store(true, ordering: .relaxed)
        await self.client.shutdown()
    }

    /// A duration in Redis's unit, microseconds (fractional: a short interval stays exact enough).
    static func micros(_ nanos: Int64) -> String {
        String(Double(nanos) / 1000)
    }
}

/// A Redis answer that is not what the script returns (an error reply: `BUSY`, `OOM`, a lost script).
enum SharedLimitStoreError: Error {
    case unexpectedAnswer
}

extension LimitRule.Kind {
    var isSlot: Bool {
        if case .concurrency = self { return true }
        return false
    }
}
