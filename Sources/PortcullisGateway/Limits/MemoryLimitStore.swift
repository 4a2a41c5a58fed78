import NIOConcurrencyHelpers
import PortcullisCore

/// The in-memory limit store, the default: exact for one process, shared by all its event
/// loops, and kept across reloads (the runtime owns one).
///
/// Counters (``LimitCell``) live in 64 shards chosen by the key's hash, each a small dictionary
/// behind its own lock, so loops contend only when they touch the same shard, and never on a
/// global lock. The counters a snapshot's requests use most (each listed tenant's plan limits,
/// each global rule) are resolved when the snapshot is built (``LimitCells``) and pinned: a
/// request updates those by compare-and-swap, with no hashing and no lock at all; the others
/// are found by key under their shard's lock. A rate or quota is one GCRA theoretical arrival
/// time per key; a concurrency limit is a count of slots in use. A shard that grows drops the
/// unpinned cells that hold nothing (a TAT that has passed, no slot in use), so a burst of
/// distinct unknown callers cannot grow memory without bound.
final class MemoryLimitStore: Sendable {
    private static let shardCount = 64

    private final class Shard: @unchecked Sendable {
        let lock = NIOLock()
        // Guarded by `lock` (which is also why the runtime's exclusivity checks are off for them:
        // the lock is the exclusivity).
        @exclusivity(unchecked) var cells: [LimitKey: LimitCell] = [:]
        @exclusivity(unchecked) var sweepAt = 1024

        /// Called under the lock after an insert: drops what holds nothing once the shard grows.
        func sweepIfGrown(now: Int64) {
            guard self.cells.count >= self.sweepAt else { return }
            self.cells = self.cells.filter { $0.value.pins > 0 || $0.value.holds(now: now) }
            self.sweepAt = max(1024, self.cells.count * 2)
        }
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

    /// The cell of `key`, created if need be and pinned (never swept until ``unpin(_:)``): for
    /// ``LimitCells``, when a snapshot is built.
    func pinnedCell(_ key: LimitKey, isSlot: Bool) -> LimitCell {
        let shard = self.shard(key)
        return shard.lock.withLock {
            let cell = shard.cells[key] ?? LimitCell(isSlot: isSlot)
            cell.pins += 1
            shard.cells[key] = cell
            return cell
        }
    }

    /// A snapshot's ``LimitCells`` went: its cells may be swept once no other snapshot holds them.
    func unpin(_ keys: [LimitKey]) {
        for key in keys {
            let shard = self.shard(key)
            shard.lock.withLock {
                if let cell = shard.cells[key], cell.pins > 0 { cell.pins -= 1 }
            }
        }
    }

    /// Spends `cost` units of `key` when they fit (`cell`: the key's pinned cell, if resolved).
    func take(_ gcra: GCRA, key: LimitKey, cell: LimitCell? = nil, cost: Int, now: Int64) -> GCRA.Decision {
        if let cell { return cell.take(gcra, cost: cost, now: now) }
        let shard = self.shard(key)
        return shard.lock.withLock {
            if let cell = shard.cells[key] { return cell.take(gcra, cost: cost, now: now) }
            let decision = gcra.decide(tat: now, now: now, cost: cost)
            if decision.allowed {
                shard.cells[key] = LimitCell(value: decision.tat, isSlot: false)
                shard.sweepIfGrown(now: now)
            }
            return decision
        }
    }

    /// Hands back `units` of `key` (negative: charges more), as a settlement or a rollback.
    func adjust(_ gcra: GCRA, key: LimitKey, cell: LimitCell? = nil, units: Int, now: Int64) {
        guard units != 0 else { return }
        if let cell { return cell.adjust(gcra, units: units, now: now) }
        let shard = self.shard(key)
        shard.lock.withLock {
            if let cell = shard.cells[key] {
                cell.adjust(gcra, units: units, now: now)
            } else {
                let cell = LimitCell(isSlot: false)
                cell.adjust(gcra, units: units, now: now)
                shard.cells[key] = cell
                shard.sweepIfGrown(now: now)
            }
        }
    }

    /// The key's state without spending (for `explain` and tests).
    func peek(_ gcra: GCRA, key: LimitKey, now: Int64) -> (remaining: Int, resetNanos: Int64) {
        let shard = self.shard(key)
        let tat = shard.lock.withLock { shard.cells[key]?.tat(now: now) } ?? now
        return gcra.peek(tat: tat, now: now)
    }

    /// Takes one slot of `key` when fewer than `max` are in use. Returns whether it fits and
    /// how many are in use with it.
    func acquire(slot key: LimitKey, cell: LimitCell? = nil, max: Int, now: Int64) -> (allowed: Bool, inUse: Int) {
        if let cell { return cell.acquire(max: max) }
        let shard = self.shard(key)
        return shard.lock.withLock {
            if let cell = shard.cells[key] { return cell.acquire(max: max) }
            guard max > 0 else { return (false, 0) }
            shard.cells[key] = LimitCell(value: 1, isSlot: true)
            shard.sweepIfGrown(now: now)
            return (true, 1)
        }
    }

    func release(slot key: LimitKey, cell: LimitCell? = nil) {
        if let cell { return cell.release() }
        let shard = self.shard(key)
        shard.lock.withLock {
            guard let cell = shard.cells[key] else {
                assertionFailure("a concurrency slot was released twice")
                return
            }
            cell.release()
        }
    }

    /// Slots in use under `key`.
    func slotsInUse(_ key: LimitKey) -> Int {
        let shard = self.shard(key)
        return shard.lock.withLock { shard.cells[key]?.slotsInUse ?? 0 }
    }

    /// Keys held for rates and quotas that still hold something at `now` (tests watch the sweep).
    func storedKeys() -> Int {
        self.shards.reduce(0) { sum, shard in sum + shard.lock.withLock { shard.cells.values.reduce(0) { $0 + ($1.isSlot ? 0 : 1) } } }
    }

    /// Every slot in use, over all keys (the slots gauge).
    func totalSlotsInUse() -> Int {
        self.shards.reduce(0) { sum, shard in
            sum + shard.lock.withLock { shard.cells.values.reduce(0) { $0 + ($1.isSlot ? $1.slotsInUse : 0) } }
        }
    }
}
