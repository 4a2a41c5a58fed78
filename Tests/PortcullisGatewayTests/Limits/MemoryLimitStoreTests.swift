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
            for _ in 0..<64 { group.addTask { store.acquire(slot: key, max: 10).allowed } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(taken == 10 && store.slotsInUse(key) == 10)
        for _ in 0..<10 { store.release(slot: key) }
        #expect(store.slotsInUse(key) == 0 && store.totalSlotsInUse() == 0)
        #expect(store.acquire(slot: key, max: 10) == (true, 1))
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
}
