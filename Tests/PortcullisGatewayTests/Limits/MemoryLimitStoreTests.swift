import PortcullisCore
import Testing

@testable import PortcullisGateway

/// The in-memory store is exact under real threads: no lost update, no slot counted twice.
@Suite struct MemoryLimitStoreTests {
    @Test func concurrentTakesAdmitExactlyTheLimit() async {
        let store = MemoryLimitStore()
        let gcra = GCRA(limit: 500, periodNanos: 3_600_000_000_000)
        let key = LimitKey(rule: 1, subject: "acme")
        let admitted = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var count = 0
                    for _ in 0..<250 where store.take(gcra, key: key, cost: 1, now: 1_000).allowed { count += 1 }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(admitted == 500)
    }

    @Test func slotsAreHeldUntilReleasedAndAnEmptyKeyIsDropped() async {
        let store = MemoryLimitStore()
        let key = LimitKey(rule: 2, subject: "acme")
        let taken = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<64 { group.addTask { store.acquire(slot: key, max: 10, now: 1).allowed } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(taken == 10 && store.slotsInUse(key) == 10)
        for _ in 0..<10 { store.release(slot: key) }
        #expect(store.slotsInUse(key) == 0 && store.totalSlotsInUse() == 0)
        #expect(store.acquire(slot: key, max: 10, now: 1) == (true, 1))
        store.release(slot: key)
    }

    @Test func keysWhoseTimeHasPassedAreSweptAsAShardGrows() {
        let store = MemoryLimitStore()
        let gcra = GCRA(limit: 10, periodNanos: 1_000_000_000)
        for i in 0..<100_000 {
            _ = store.take(gcra, key: LimitKey(rule: 3, subject: "tenant-\(i)"), cost: 1, now: Int64(i) * 1_000_000_000)
        }
        // Each key's TAT was 100 ms after its own request; all but the newest have passed.
        #expect(store.peek(gcra, key: LimitKey(rule: 3, subject: "tenant-99999"), now: 99_999_000_000_000).remaining == 9)
        // A shard sweeps when it reaches 1,024 keys: at most 64 × 1,024 remain of 100,000.
        #expect(store.storedKeys() <= 64 * 1024, "stale keys were dropped")
    }

    @Test func aPinnedCellIsExactWithoutTheLockAndAgreesWithItsKey() async {
        let store = MemoryLimitStore()
        let gcra = GCRA(limit: 500, periodNanos: 3_600_000_000_000)
        let key = LimitKey(rule: 4, subject: "acme")
        let cell = store.pinnedCell(key, isSlot: false)
        #expect(store.pinnedCell(key, isSlot: false) === cell, "a key has one cell")
        // Half the takers hold the cell (compare-and-swap), half go by key (the shard's lock).
        let admitted = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var count = 0
                    for _ in 0..<250 where store.take(gcra, key: key, cell: worker % 2 == 0 ? cell : nil, cost: 1, now: 1_000).allowed {
                        count += 1
                    }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(admitted == 500)
        store.adjust(gcra, key: key, cell: cell, units: 10, now: 1_000)
        #expect(store.peek(gcra, key: key, now: 1_000).remaining == 10, "the credit is seen by key")
        let slots = store.pinnedCell(LimitKey(rule: 5, subject: "acme"), isSlot: true)
        let taken = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<64 { group.addTask { slots.acquire(max: 10).allowed } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(taken == 10 && store.slotsInUse(LimitKey(rule: 5, subject: "acme")) == 10 && store.totalSlotsInUse() == 10)
        for _ in 0..<10 { store.release(slot: LimitKey(rule: 5, subject: "acme"), cell: slots) }
        #expect(store.totalSlotsInUse() == 0)
    }

    @Test func aPinnedCellIsNeverSwept() {
        let store = MemoryLimitStore()
        let gcra = GCRA(limit: 10, periodNanos: 1_000_000_000)
        let pinned = LimitKey(rule: 6, subject: "listed")
        let cell = store.pinnedCell(pinned, isSlot: false)
        _ = cell.take(gcra, cost: 1, now: 1)
        for i in 0..<100_000 {
            _ = store.take(gcra, key: LimitKey(rule: 6, subject: "tenant-\(i)"), cost: 1, now: Int64(i) * 1_000_000_000)
        }
        // Long refilled, yet still the key's cell: a take by key lands in it.
        _ = store.take(gcra, key: pinned, cost: 10, now: 200_000_000_000_000)
        #expect(cell.take(gcra, cost: 1, now: 200_000_000_000_000).allowed == false, "the key's take went to the pinned cell")
    }

    @Test func aCellNoSnapshotHoldsAnyMoreIsSweptAgain() {
        let store = MemoryLimitStore()
        let gcra = GCRA(limit: 10, periodNanos: 1_000_000_000)
        let key = LimitKey(rule: 7, subject: "gone")
        let cell = store.pinnedCell(key, isSlot: false)
        #expect(store.pinnedCell(key, isSlot: false) === cell, "two snapshots pin it")
        store.unpin([key])
        func grow(from start: Int) {
            for i in start..<(start + 100_000) {
                _ = store.take(gcra, key: LimitKey(rule: 7, subject: "tenant-\(i)"), cost: 1, now: Int64(i) * 1_000_000_000)
            }
        }
        grow(from: 0)
        #expect(store.pinnedCell(key, isSlot: false) === cell, "one snapshot still holds it")
        store.unpin([key])
        store.unpin([key])
        grow(from: 100_000)
        #expect(store.pinnedCell(key, isSlot: false) !== cell, "held by none, empty: swept")
    }
}
