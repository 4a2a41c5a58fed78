import NIOConcurrencyHelpers

/// Stable small integers for backend names, so per-loop runtime state (round-robin cursors
/// today; breakers and health later) lives in arrays indexed without a dictionary lookup per
/// request, and survives reloads: a backend keeps its slot for the life of the process, a new
/// name gets the next one. Touched only when a snapshot is built.
public final class BackendSlots: Sendable {
    private let slots = NIOLockedValueBox<[String: Int]>([:])

    public init() {}

    func slot(for name: String) -> Int {
        self.slots.withLockedValue { slots in
            if let slot = slots[name] { return slot }
            let slot = slots.count
            slots[name] = slot
            return slot
        }
    }
}
