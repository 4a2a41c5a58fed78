import Atomics
import PortcullisCore

/// One counter of the in-memory store: a GCRA theoretical arrival time (nanoseconds of the
/// loops' monotonic clock; 0: empty) or a count of concurrency slots in use, updated by
/// compare-and-swap, so a request that holds the cell itself (``LimitCells``) takes no lock.
///
/// A cell a snapshot holds is pinned (``pins``): its shard never sweeps it, so the request path
/// and the store's dictionary always agree on one cell per key. When the last snapshot holding
/// it goes, it is unpinned and may be swept like any other. Unpinned cells are only touched
/// under their shard's lock.
final class LimitCell: @unchecked Sendable {
    private let value: ManagedAtomic<Int64>
    /// Counts slots (else a TAT).
    let isSlot: Bool
    /// How many snapshots' ``LimitCells`` hold the cell: while any does, it is never swept.
    /// Guarded by the shard's lock (hence `@unchecked Sendable`).
    var pins = 0

    init(value: Int64 = 0, isSlot: Bool) {
        self.value = ManagedAtomic(value)
        self.isSlot = isSlot
    }

    /// Spends `cost` units when they fit.
    @inline(__always)
    func take(_ gcra: GCRA, cost: Int, now: Int64) -> GCRA.Decision {
        var tat = self.value.load(ordering: .relaxed)
        while true {
            // An empty cell (0) is as full as one whose TAT has passed (`decide` starts from now).
            let decision = gcra.decide(tat: tat, now: now, cost: cost)
            guard decision.allowed else { return decision }
            let (exchanged, current) = self.value.compareExchange(expected: tat, desired: decision.tat, ordering: .relaxed)
            if exchanged { return decision }
            tat = current
        }
    }

    /// Hands back `units` (negative: charges more), as a settlement or a rollback.
    @inline(__always)
    func adjust(_ gcra: GCRA, units: Int, now: Int64) {
        var tat = self.value.load(ordering: .relaxed)
        while true {
            let moved = gcra.adjust(tat: tat == 0 ? now : tat, now: now, units: units)
            let (exchanged, current) = self.value.compareExchange(expected: tat, desired: moved, ordering: .relaxed)
            if exchanged { return }
            tat = current
        }
    }

    /// The TAT, or now when empty (a read: `explain`, tests).
    func tat(now: Int64) -> Int64 {
        let tat = self.value.load(ordering: .relaxed)
        return tat == 0 ? now : tat
    }

    /// Takes one slot when fewer than `max` are in use: whether it fit, and the count with it.
    @inline(__always)
    func acquire(max: Int) -> (allowed: Bool, inUse: Int) {
        var inUse = self.value.load(ordering: .relaxed)
        while true {
            guard inUse < Int64(max) else { return (false, Int(inUse)) }
            let (exchanged, current) = self.value.compareExchange(expected: inUse, desired: inUse + 1, ordering: .relaxed)
            if exchanged { return (true, Int(inUse + 1)) }
            inUse = current
        }
    }

    @inline(__always)
    func release() {
        let before = self.value.loadThenWrappingDecrement(ordering: .relaxed)
        if before <= 0 {
            self.value.wrappingIncrement(ordering: .relaxed)
            assertionFailure("a concurrency slot was released twice")
        }
    }

    var slotsInUse: Int { Int(self.value.load(ordering: .relaxed)) }

    /// Whether the cell still holds anything at `now` (a sweep drops the others, unless pinned).
    func holds(now: Int64) -> Bool {
        let value = self.value.load(ordering: .relaxed)
        return self.isSlot ? value > 0 : value > now
    }
}
