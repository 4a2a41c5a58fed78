import NIOConcurrencyHelpers
import PortcullisCore

/// The in-memory limit store, the default: exact for one process, shared by all its event
/// loops, and kept across reloads (the runtime owns one).
///
/// Counters live in 64 shards chosen by the key's hash, each a small dictionary behind its own
/// lock, so loops contend only when they touch the same shard, and never on a global lock. A
/// rate or quota is one GCRA theoretical arrival time per key; a concurrency limit is a count
/// of slots in use. A key whose TAT has passed holds nothing, so a shard that grows drops
/// those (a burst of distinct unknown tenants cannot grow memory without bound), and a slot
/// count that returns to 0 is removed.
final class MemoryLimitStore: Sendable {
    private static let shardCount = 64

    private final class Shard: @unchecked Sendable {
        let lock = NIOLock()
        // Guarded by `lock` (which is also why the runtime's exclusivity checks are off for them:
        // the lock is the exclusivity).
        @exclusivity(unchecked) var tats: [LimitKey: Int64] = [:]
        @exclusivity(unchecked) var slots: [LimitKey: Int] = [:]
        @exclusivity(unchecked) var sweepAt = 1024
    }

    private let shards: [Shard]
    /// Rule keys (``LimitRule/key``) by number, for the life of the process: a reload keeps
    /// every counter of a rule whose key it keeps. Touched when a snapshot is built.
    private let ruleKeys = NIOLockedValueBox(Interned<String>())

    init() {
        self.shards = (0..<Self.shardCount).map { _ in Shard() }
    }

    /// The number of a rule key (the same for the same key, in every snapshot).
    func ruleID(_ key: String) -> Int {
        self.ruleKeys.withLockedValue { $0.id(key) }
    }

    @inline(__always)
    private func shard(_ key: LimitKey) -> Shard {
        self.shards[Int(key.shard % UInt(Self.shardCount))]
    }

    /// Spends `cost` units of `key` when they fit.
    func take(_ gcra: GCRA, key: LimitKey, cost: Int, now: Int64) -> GCRA.Decision {
        let shard = self.shard(key)
        return shard.lock.withLock {
            let decision = gcra.decide(tat: shard.tats[key] ?? now, now: now, cost: cost)
            if decision.allowed {
                if shard.tats.updateValue(decision.tat, forKey: key) == nil && shard.tats.count >= shard.sweepAt {
                    shard.tats = shard.tats.filter { $0.value > now }
                    shard.sweepAt = max(1024, shard.tats.count * 2)
                }
            }
            return decision
        }
    }

    /// Hands back `units` of `key` (negative: charges more), as a settlement or a rollback.
    func adjust(_ gcra: GCRA, key: LimitKey, units: Int, now: Int64) {
        guard units != 0 else { return }
        let shard = self.shard(key)
        shard.lock.withLock {
            let tat = shard.tats[key] ?? now
            shard.tats[key] = gcra.adjust(tat: tat, now: now, units: units)
        }
    }

    /// The key's state without spending (for `explain` and tests).
    func peek(_ gcra: GCRA, key: LimitKey, now: Int64) -> (remaining: Int, resetNanos: Int64) {
        let shard = self.shard(key)
        let tat = shard.lock.withLock { shard.tats[key] } ?? now
        return gcra.peek(tat: tat, now: now)
    }

    /// Takes one slot of `key` when fewer than `max` are in use. Returns whether it fits and
    /// how many are in use with it.
    func acquire(slot key: LimitKey, max: Int) -> (allowed: Bool, inUse: Int) {
        let shard = self.shard(key)
        return shard.lock.withLock {
            let inUse = shard.slots[key] ?? 0
            guard inUse < max else { return (false, inUse) }
            shard.slots[key] = inUse + 1
            return (true, inUse + 1)
        }
    }

    func release(slot key: LimitKey) {
        let shard = self.shard(key)
        shard.lock.withLock {
            guard let inUse = shard.slots[key] else {
                assertionFailure("a concurrency slot was released twice")
                return
            }
            if inUse <= 1 { shard.slots[key] = nil } else { shard.slots[key] = inUse - 1 }
        }
    }

    /// Slots in use under `key`.
    func slotsInUse(_ key: LimitKey) -> Int {
        let shard = self.shard(key)
        return shard.lock.withLock { shard.slots[key] ?? 0 }
    }

    /// Keys held for rates and quotas (tests watch the sweep).
    func storedKeys() -> Int {
        self.shards.reduce(0) { sum, shard in sum + shard.lock.withLock { shard.tats.count } }
    }

    /// Every slot in use, over all keys (the open-reservations gauge).
    func totalSlotsInUse() -> Int {
        self.shards.reduce(0) { sum, shard in sum + shard.lock.withLock { shard.slots.values.reduce(0, +) } }
    }
}
