import Atomics

/// Whether the gateway should receive traffic: `/readyz` fails while it starts (a JWKS not yet
/// fetched) and from the first moment of a graceful stop.
public final class Readiness: Sendable {
    private let draining = ManagedAtomic(false)

    public init() {}

    public var isDraining: Bool { self.draining.load(ordering: .acquiring) }

    func startDraining() {
        self.draining.store(true, ordering: .releasing)
    }
}
