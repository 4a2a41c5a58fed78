import Atomics
import NIOConcurrencyHelpers
import PortcullisConfig

/// Holds the current ``GatewaySnapshot``. A reload swaps it; readers on the request path check a
/// generation number with one relaxed atomic load and take the lock only when it changed, so
/// the steady state costs no lock per request.
public final class SnapshotStore: Sendable {
    private let box: NIOLockedValueBox<(UInt64, GatewaySnapshot)>
    private let generationCounter = ManagedAtomic<UInt64>(1)

    public init(_ snapshot: GatewaySnapshot) {
        self.box = NIOLockedValueBox((1, snapshot))
    }

    public var generation: UInt64 { self.generationCounter.load(ordering: .relaxed) }

    public var current: GatewaySnapshot { self.box.withLockedValue { $0.1 } }

    /// The current snapshot and its generation, read together.
    public func load() -> (generation: UInt64, snapshot: GatewaySnapshot) {
        self.box.withLockedValue { ($0.0, $0.1) }
    }

    public func replace(with snapshot: GatewaySnapshot) {
        self.box.withLockedValue { value in
            let next = value.0 + 1
            value = (next, snapshot)
            self.generationCounter.store(next, ordering: .releasing)
        }
    }
}
